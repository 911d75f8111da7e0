//! `GET /healthz`: liveness and durability.

use axum::Json;
use axum::extract::State;

use super::ApiState;
use crate::wire::HealthBody;

/// Liveness, the backend, whether commits are durable, the last position.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = HealthBody)), tag = "operations")]
pub(crate) async fn health(State(state): State<ApiState>) -> Json<HealthBody> {
    let health = state.store.health();
    Json(HealthBody {
        status: "ok",
        backend: health.backend,
        durable: health.durability.durable,
        durability: health.durability.detail,
        last_position: health.last_position.0,
        queue_depth: health.queue_depth,
    })
}
