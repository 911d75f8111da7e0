//! `GET /events`: the global log.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use gesta::event::Position;

use super::ApiState;
use crate::auth::Access;
use crate::input::Query;
use crate::problem::Problem;
use crate::wire::{EventsPage, cloudevents};

/// Read the global log in position order, optionally filtered by type, stream and
/// category. With authentication, only events of streams the caller may read.
#[utoipa::path(
    get,
    path = "/events",
    params(
        ("after" = Option<u64>, Query, description = "Only events after this position (default 0)"),
        ("limit" = Option<u64>, Query, description = "At most this many, 1 to 1000 (default 100)"),
        ("type" = Option<Vec<String>>, Query, description = "Only these event types (repeatable)"),
        ("stream" = Option<Vec<String>>, Query, description = "Only these streams (repeatable)"),
        ("category" = Option<Vec<String>>, Query, description = "Only streams of these categories, the part of the stream id before the first `-` (repeatable; either a listed stream or category matches)"),
    ),
    responses(
        (status = 200, description = "A page of the log", body = EventsPage),
        (status = 400, description = "Invalid parameter", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "events"
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    access: Access,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = Query::parse(
        query.as_deref(),
        &["after", "limit", "type", "stream", "category"],
    )?;
    let after = query.number("after", 0, 0, i64::MAX as u64)?;
    let limit = query.number("limit", 100, 1, 1000)?;
    let mut log = query.log_filter()?;
    log.after = Position(after);
    log.limit = limit as usize;
    log.readable = access.readable();
    let events = state.store.read_all(log).await?;
    let next_after = events.last().map_or(after, |e| e.position.0);
    Ok(Json(EventsPage {
        events: cloudevents(&events),
        next_after,
    })
    .into_response())
}
