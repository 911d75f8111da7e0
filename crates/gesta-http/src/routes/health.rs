//! `GET /healthz`: liveness and durability.

use std::time::Duration;

use axum::Json;
use axum::extract::State;

use super::ApiState;
use crate::wire::HealthBody;

/// How long `/healthz` waits for the database to say where the log ends.
const HEAD_WAIT: Duration = Duration::from_secs(1);

/// Liveness, the backend, whether commits are durable, the last position.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = HealthBody)), tag = "operations")]
pub(crate) async fn health(State(state): State<ApiState>) -> Json<HealthBody> {
    let health = state.store.health();
    // The log's head from the database (it includes other processes' commits); this
    // process's own if the database does not answer at once.
    let head = tokio::time::timeout(HEAD_WAIT, state.store.head()).await;
    let last_position = match head {
        Ok(Ok(head)) => head.max(health.last_position),
        _ => health.last_position,
    };
    Json(HealthBody {
        status: "ok",
        backend: health.backend,
        durable: health.durability.durable,
        durability: health.durability.detail,
        last_position: last_position.0,
        queue_depth: health.queue_depth,
    })
}
