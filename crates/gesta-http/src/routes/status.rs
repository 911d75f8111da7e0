//! `GET /admin/status`: the head of the log and this server's counters, what the
//! console's overview polls to draw events and commands per second.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use crate::problem::Problem;

/// How long the status waits for the database to say where the log ends.
const HEAD_WAIT: Duration = Duration::from_secs(1);

/// `200` from `GET /admin/status`.
#[derive(Serialize, ToSchema)]
pub(crate) struct StatusBody {
    /// The last committed position in the log (every process's commits).
    head: u64,
    /// `sqlite`, `postgres` or `mysql`.
    backend: &'static str,
    /// Commands and appends this server committed since it started.
    commands_committed: u64,
    /// Commands and appends this server rolled back since it started.
    commands_failed: u64,
    /// Events this server appended since it started.
    events_appended: u64,
    /// Open live streams (`/subscribe`, `/ws`, GraphQL subscriptions).
    subscribers: usize,
    /// Jobs waiting for the writer.
    queue_depth: usize,
    /// When this server started (RFC 3339).
    started: String,
}

/// The head of the log, this server's command and event counters since it started,
/// and its open subscriptions. Rates are the difference of two reads over the time
/// between them.
#[utoipa::path(
    get,
    path = "/admin/status",
    responses(
        (status = 200, body = StatusBody),
        (status = 503, description = "The database did not answer", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "operations"
)]
pub(crate) async fn status(State(state): State<ApiState>) -> Result<Json<StatusBody>, Problem> {
    let health = state.store.health();
    let head = match tokio::time::timeout(HEAD_WAIT, state.store.head()).await {
        Ok(head) => head?.max(health.last_position),
        Err(_) => health.last_position,
    };
    let metrics = state.store.metrics();
    Ok(Json(StatusBody {
        head: head.0,
        backend: health.backend,
        commands_committed: metrics.commands_committed.get(),
        commands_failed: metrics.commands_failed.get(),
        events_appended: metrics.events_appended.get(),
        subscribers: state.subscribers.open(),
        queue_depth: health.queue_depth,
        started: state.started.clone(),
    }))
}
