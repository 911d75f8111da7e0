//! What the two write routes share: caller context from headers, running the write on
//! a task of its own, and the `Idempotent-Replayed` header.

use std::future::Future;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use gesta::Context;
use serde::Serialize;

use crate::auth::Access;
use crate::input::header_text;
use crate::problem::Problem;

/// The caller context from `Idempotency-Key`, `X-Correlation-Id` and the caller.
pub(crate) fn context(headers: &HeaderMap, access: &Access) -> Result<Context, Problem> {
    Ok(Context {
        idempotency_key: header_text(headers, "idempotency-key")?,
        correlation_id: header_text(headers, "x-correlation-id")?,
        principal: access.principal().cloned(),
        ..Context::default()
    })
}

/// Runs `write` on its own task, so a client that disconnects never cancels it.
pub(crate) async fn detached<F, T>(write: F) -> Result<T, Problem>
where
    F: Future<Output = Result<T, gesta::Error>> + Send + 'static,
    T: Send + 'static,
{
    let joined = tokio::spawn(write).await.map_err(|e| {
        Problem::from(gesta::Error::Internal(format!(
            "the write task failed: {e}"
        )))
    })?;
    Ok(joined?)
}

/// `200` with `body`, marked `Idempotent-Replayed: true` when the outcome is a replay.
pub(crate) fn respond(body: impl Serialize, replayed: bool) -> Response {
    let mut response = Json(body).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
