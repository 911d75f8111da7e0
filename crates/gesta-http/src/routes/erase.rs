//! `POST /admin/erase`: the right to be forgotten. Deletes a data subject's key and
//! records `gesta.subject_erased` (see `gesta::event::personal`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiState;
use super::write::{context, detached};
use crate::input::json_body;
use crate::problem::Problem;
use crate::wire::{CloudEventDoc, cloudevents};

/// The erasure route.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/admin/erase", post(erase))
}

/// The body of `POST /admin/erase`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EraseRequest {
    /// The data subject (by default a personal field's subject is its event's stream).
    subject: String,
}

/// `200` from `POST /admin/erase`.
#[derive(Serialize, ToSchema)]
pub(crate) struct EraseResponse<'a> {
    /// The erasure's command id.
    command_id: String,
    /// The position of the `gesta.subject_erased` event.
    position: Option<u64>,
    /// The `gesta.subject_erased` event.
    #[schema(value_type = Vec<CloudEventDoc>)]
    events: Vec<gesta::event::CloudEvent<'a>>,
    /// Whether the subject had personal data (a key) before.
    key_found: bool,
    /// SQLite: whether the WAL was checkpointed and truncated; null elsewhere.
    wal_truncated: Option<bool>,
}

/// Erase a data subject: its key is deleted and `gesta.subject_erased` recorded on the
/// stream named like it, in one transaction. From then on its personal fields read as
/// null everywhere; the reducers anonymize what the read models kept, snapshots that
/// could hold it are dropped.
#[utoipa::path(
    post,
    path = "/admin/erase",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key; a retry returns the first outcome")),
    request_body(content = EraseRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Erased", body = EraseResponse),
        (status = 400, description = "No subject, or not 1 to 200 bytes without control characters", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "history"
)]
pub(crate) async fn erase(
    State(state): State<ApiState>,
    access: crate::auth::Access,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = json_body(&headers, body)?;
    let request: EraseRequest =
        serde_json::from_slice(&body).map_err(|e| Problem::invalid(None, format!("body: {e}")))?;
    let ctx = context(&headers, &access)?;
    let store = state.store.clone();
    let subject = request.subject;
    let erased = detached(async move { store.erase(&subject, ctx).await }).await?;
    let body = EraseResponse {
        command_id: erased.outcome.command_id.to_string(),
        position: erased.outcome.position.map(|p| p.0),
        events: cloudevents(&erased.outcome.events),
        key_found: erased.key_found,
        wal_truncated: erased.wal_truncated,
    };
    Ok(super::write::respond(body, erased.outcome.replayed))
}
