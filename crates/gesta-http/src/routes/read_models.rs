//! Inline read models: `GET /admin/read-models`, `GET /admin/read-models/{name}`,
//! `POST /admin/read-models/{name}/rebuild` (in the background; 202).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gesta::history::{ReadModelStatus, RebuildProgress};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use crate::problem::Problem;

/// The read-model routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/read-models", get(list))
        .route("/admin/read-models/{name}", get(one))
        .route("/admin/read-models/{name}/rebuild", post(rebuild))
}

/// `200` from `GET /admin/read-models`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ReadModelsBody {
    read_models: Vec<ReadModelBody>,
}

/// One inline read model.
#[derive(Serialize, ToSchema)]
pub(crate) struct ReadModelBody {
    /// Its name.
    name: String,
    /// The version the application declares.
    version: u32,
    /// The version its live tables were built by (0 = first fill pending).
    built_version: u64,
    /// The tables it owns.
    tables: Vec<String>,
    /// How far in the log its live tables are.
    position: u64,
    /// The head of the log.
    head: u64,
    /// `live`, `rebuilding` or `stale`.
    #[schema(example = "live")]
    state: String,
    /// The latest background rebuild in this server.
    rebuild: Option<RebuildBody>,
}

/// A background rebuild's progress.
#[derive(Serialize, ToSchema)]
pub(crate) struct RebuildBody {
    /// `building`, `done` or `failed`.
    #[schema(example = "building")]
    state: String,
    /// The position the new tables have reached.
    position: u64,
    /// The head of the log when last looked at.
    head: u64,
    /// When it started (RFC 3339).
    started: String,
    /// When it ended.
    finished: Option<String>,
    /// How long the swap paused the writer, in milliseconds.
    pause_ms: Option<u64>,
    /// Why it failed.
    error: Option<String>,
}

fn text<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn rebuild_body(p: RebuildProgress) -> RebuildBody {
    RebuildBody {
        state: text(&p.state),
        position: p.position,
        head: p.head,
        started: p.started,
        finished: p.finished,
        pause_ms: p.pause_ms,
        error: p.error,
    }
}

fn body(s: ReadModelStatus) -> ReadModelBody {
    ReadModelBody {
        state: text(&s.state),
        name: s.name,
        version: s.version,
        built_version: s.built_version,
        tables: s.tables,
        position: s.position,
        head: s.head,
        rebuild: s.rebuild.map(rebuild_body),
    }
}

/// Every inline read model with its version, position and state.
#[utoipa::path(
    get,
    path = "/admin/read-models",
    responses((status = 200, body = ReadModelsBody)),
    tag = "history"
)]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<ReadModelsBody>, Problem> {
    let all = state.store.read_models().await?;
    Ok(Json(ReadModelsBody {
        read_models: all.into_iter().map(body).collect(),
    }))
}

/// One inline read model, with the progress of its background rebuild.
#[utoipa::path(
    get,
    path = "/admin/read-models/{name}",
    params(("name" = String, Path, description = "The read model")),
    responses(
        (status = 200, body = ReadModelBody),
        (status = 404, description = "No such read model", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "history"
)]
pub(crate) async fn one(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<ReadModelBody>, Problem> {
    Ok(Json(body(state.store.read_model(&name).await?)))
}

/// Rebuild a read model from the log in the background while commands go on, then
/// swap it in with one short pause of the writer. Returns at once.
#[utoipa::path(
    post,
    path = "/admin/read-models/{name}/rebuild",
    params(("name" = String, Path, description = "The read model")),
    responses(
        (status = 202, description = "Rebuild started", body = ReadModelBody),
        (status = 404, description = "No such read model", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Already being rebuilt", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "history"
)]
pub(crate) async fn rebuild(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<ReadModelBody>), Problem> {
    let status = state.store.rebuild_read_model(&name).await?;
    Ok((StatusCode::ACCEPTED, Json(body(status))))
}
