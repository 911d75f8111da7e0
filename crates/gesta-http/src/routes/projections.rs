//! `GET /admin/projections`: every async projection's checkpoint and lag behind the
//! head; `POST /admin/projections/{name}/rebuild` to empty and replay one. Also the
//! lag gauges of `/metrics` (`gesta_projection_lag`, `gesta_reactor_lag`), refreshed
//! at each scrape.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gesta::Store;
use gesta::projection::ProjectionStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use crate::problem::Problem;

/// The projection routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/projections", get(projections))
        .route("/admin/projections/{name}/rebuild", post(rebuild))
}

/// `200` from `GET /admin/projections`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProjectionsBody {
    /// The last position of the log.
    head: u64,
    /// Every projection registered in this server or with a checkpoint in the database.
    projections: Vec<ProjectionBody>,
}

/// One async projection.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProjectionBody {
    /// The projection's name.
    name: String,
    /// The durable checkpoint: every event up to it is in the projection's tables.
    checkpoint: u64,
    /// Events between the checkpoint and the head.
    lag: u64,
    /// When the checkpoint was last written (RFC 3339).
    updated_at: Option<String>,
    /// Whether this server registered it.
    registered: bool,
    /// Whether it runs in this server now (another server may run it instead).
    running: bool,
    /// Its last failure in this server, until a batch succeeds again.
    error: Option<String>,
    /// Whether a rebuild was requested (e.g. by `gesta projections rebuild`) and the
    /// process running the projection has not performed it yet.
    rebuild_requested: bool,
}

/// `202` from `POST /admin/projections/{name}/rebuild`.
#[derive(Serialize, ToSchema)]
pub(crate) struct RebuildBody {
    /// The projection being rebuilt.
    name: String,
}

/// Async projections: checkpoint and lag behind the head of the log.
#[utoipa::path(
    get,
    path = "/admin/projections",
    responses((status = 200, body = ProjectionsBody)),
    tag = "operations"
)]
pub(crate) async fn projections(
    State(state): State<ApiState>,
) -> Result<Json<ProjectionsBody>, Problem> {
    let statuses = state.store.projections().await?;
    let head = match statuses.first() {
        Some(status) => status.head,
        None => state.store.head().await?,
    };
    Ok(Json(ProjectionsBody {
        head: head.0,
        projections: statuses.into_iter().map(body).collect(),
    }))
}

/// Empty a projection's tables and replay the log into them (it returns at once;
/// follow the progress with `GET /admin/projections`).
#[utoipa::path(
    post,
    path = "/admin/projections/{name}/rebuild",
    params(("name" = String, Path, description = "The projection")),
    responses(
        (status = 202, description = "Rebuild started", body = RebuildBody),
        (status = 404, description = "No such projection in this server", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "operations"
)]
pub(crate) async fn rebuild(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<RebuildBody>), Problem> {
    let statuses = state.store.projections().await?;
    if !statuses.iter().any(|s| s.name == name && s.registered) {
        return Err(Problem::not_found(format!(
            "no projection named {name:?} is registered in this server"
        )));
    }
    state.store.rebuild_projection(&name).await?;
    Ok((StatusCode::ACCEPTED, Json(RebuildBody { name })))
}

fn body(status: ProjectionStatus) -> ProjectionBody {
    ProjectionBody {
        name: status.name,
        checkpoint: status.checkpoint.0,
        lag: status.lag,
        updated_at: status.updated_at.map(|t| t.to_rfc3339()),
        registered: status.registered,
        running: status.running,
        error: status.error,
        rebuild_requested: status.rebuild_requested,
    }
}

/// The `name` label of a lag gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Name {
    name: String,
}

/// Lag gauges of projections and reactors, one series per name.
#[derive(Clone, Default)]
pub(crate) struct Lag {
    projections: Family<Name, Gauge>,
    reactors: Family<Name, Gauge>,
}

impl Lag {
    /// Registers the gauges as `projection_lag` and `reactor_lag`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "projection_lag",
            "Events between an async projection's checkpoint and the head of the log",
            self.projections.clone(),
        );
        registry.register(
            "reactor_lag",
            "Events between a reactor's position and the head of the log",
            self.reactors.clone(),
        );
    }

    /// Reads every projection's and reactor's lag now; a failed read leaves the
    /// gauges as they were.
    pub(crate) async fn refresh(&self, store: &Store) {
        match store.projections().await {
            Ok(statuses) => set(
                &self.projections,
                statuses.into_iter().map(|s| (s.name, s.lag)),
            ),
            Err(err) => tracing::warn!(error = %err, "cannot read projections' lag"),
        }
        match store.reactors().await {
            Ok(statuses) => set(
                &self.reactors,
                statuses.into_iter().map(|s| (s.name, s.lag)),
            ),
            Err(err) => tracing::warn!(error = %err, "cannot read reactors' lag"),
        }
    }
}

fn set(family: &Family<Name, Gauge>, lags: impl Iterator<Item = (String, u64)>) {
    family.clear();
    for (name, lag) in lags {
        family
            .get_or_create(&Name { name })
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }
}
