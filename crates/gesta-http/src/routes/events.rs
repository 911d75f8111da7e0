//! `GET /events`: the global log.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use gesta::LogQuery;
use gesta::event::{Position, StreamId};

use super::ApiState;
use crate::input::Query;
use crate::problem::Problem;
use crate::wire::{EventsPage, cloudevents};

/// Read the global log in position order, optionally filtered by type and stream.
#[utoipa::path(
    get,
    path = "/events",
    params(
        ("after" = Option<u64>, Query, description = "Only events after this position (default 0)"),
        ("limit" = Option<u64>, Query, description = "At most this many, 1 to 1000 (default 100)"),
        ("type" = Option<Vec<String>>, Query, description = "Only these event types (repeatable)"),
        ("stream" = Option<Vec<String>>, Query, description = "Only these streams (repeatable)"),
    ),
    responses(
        (status = 200, description = "A page of the log", body = EventsPage),
        (status = 400, description = "Invalid parameter", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "events"
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = Query::parse(query.as_deref(), &["after", "limit", "type", "stream"])?;
    let after = query.number("after", 0, 0, i64::MAX as u64)?;
    let limit = query.number("limit", 100, 1, 1000)?;
    let mut log = LogQuery::after(Position(after)).limit(limit as usize);
    for event_type in query.all("type") {
        log = log.event_type(event_type);
    }
    for stream in query.all("stream") {
        let stream = StreamId::new(stream)
            .map_err(|e| Problem::invalid(Some("stream".into()), e.to_string()))?;
        log = log.stream(stream);
    }
    let events = state.store.read_all(log).await?;
    let next_after = events.last().map_or(after, |e| e.position.0);
    Ok(Json(EventsPage {
        events: cloudevents(&events),
        next_after,
    })
    .into_response())
}
