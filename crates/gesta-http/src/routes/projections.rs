//! `GET /admin/projections`: every async projection's checkpoint and lag behind the
//! head; `POST /admin/projections/{name}/rebuild` to empty and replay one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gesta::projection::ProjectionStatus;
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
