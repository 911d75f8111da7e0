//! `POST /commands/{name}`: run a command.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::ApiState;
use super::write::{context, detached, respond};
use crate::auth::{Access, forbidden};
use crate::input::json_body;
use crate::problem::Problem;
use crate::wire::{CommandResponse, cloudevents};

/// Run a command. The body is the command's data.
#[utoipa::path(
    post,
    path = "/commands/{name}",
    params(
        ("name" = String, Path, description = "The command's name"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key; a retry returns the first outcome"),
        ("X-Correlation-Id" = Option<String>, Header, description = "Correlation id for the events' metadata"),
    ),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 200, description = "Committed", body = CommandResponse),
        (status = 400, description = "Malformed or invalid input", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid credentials (with authentication on)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "The caller's roles do not name the command, or the handler refused the caller (Rejection::forbidden)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "Unknown command, or something it refers to", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Conflict", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Rejected by the handler", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded; see Retry-After", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "commands"
)]
pub(crate) async fn run(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    access: Access,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    if !access.may_run(&name) {
        return Err(forbidden(format!("you may not run {name:?}")));
    }
    if !state.store.app().has_command(&name) {
        return Err(gesta::Error::UnknownCommand(name).into());
    }
    let body = json_body(&headers, body)?;
    let ctx = context(&headers, &access)?;
    let store = state.store.clone();
    let outcome = detached(async move { store.dispatch_json(&name, &body, ctx).await }).await?;
    let body = CommandResponse {
        command_id: outcome.command_id.to_string(),
        position: outcome.position.map(|p| p.0),
        events: cloudevents(&outcome.events),
    };
    Ok(respond(body, outcome.replayed))
}
