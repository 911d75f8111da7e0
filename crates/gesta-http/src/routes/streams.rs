//! `POST /streams/{stream}` (append) and `GET /streams/{stream}` (read).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use gesta::AppendRequest;
use gesta::event::{EventId, NewEvent, StreamId, StreamVersion};

use super::ApiState;
use super::write::{context, detached, respond};
use crate::auth::Access;
use crate::input::{Query, json_body};
use crate::problem::Problem;
use crate::wire::{AppendBody, AppendEvent, AppendResponse, StreamPage, cloudevents};

/// Append events to a stream directly (imports, integration); reducers run as for commands.
#[utoipa::path(
    post,
    path = "/streams/{stream}",
    params(
        ("stream" = String, Path, description = "The stream id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key"),
    ),
    request_body(content = AppendBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Appended", body = AppendResponse),
        (status = 400, description = "Malformed or invalid input", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Wrong expected version or duplicate event id", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "streams"
)]
pub(crate) async fn append(
    State(state): State<ApiState>,
    Path(stream): Path<String>,
    access: Access,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let stream_id = stream_id(stream)?;
    let body = json_body(&headers, body)?;
    let body: AppendBody = gesta::json::decode(&body)?;
    let events = body
        .events
        .into_iter()
        .enumerate()
        .map(|(i, event)| new_event(&stream_id, i, event))
        .collect::<Result<Vec<_>, Problem>>()?;
    let request = AppendRequest {
        stream_id,
        expected: body.expected_version,
        events,
    };
    let ctx = context(&headers, &access)?;
    let store = state.store.clone();
    let outcome = detached(async move { store.append(request, ctx).await }).await?;
    let body = AppendResponse {
        position: outcome.position.map(|p| p.0),
        stream_version: outcome.events.last().map(|e| e.stream_version.0),
        events: cloudevents(&outcome.events),
    };
    Ok(respond(body, outcome.replayed))
}

fn stream_id(raw: String) -> Result<StreamId, Problem> {
    StreamId::new(raw).map_err(|e| Problem::invalid(Some("stream".into()), e.to_string()))
}

fn new_event(stream: &StreamId, i: usize, event: AppendEvent) -> Result<NewEvent, Problem> {
    let field = |name: &str| Some(format!("events[{i}].{name}"));
    let mut new = NewEvent::new(stream, &event.event_type, &event.data)
        .map_err(|e| Problem::invalid(field("type"), e.to_string()))?;
    if let Some(id) = event.id {
        if !matches!(id.get_version_num(), 4 | 7) {
            return Err(Problem::invalid(
                field("id"),
                "event ids must be UUID v4 or v7",
            ));
        }
        new = new.with_id(EventId(id));
    }
    new.metadata = event.metadata;
    Ok(new)
}

/// Read a stream's events in order.
#[utoipa::path(
    get,
    path = "/streams/{stream}",
    params(
        ("stream" = String, Path, description = "The stream id"),
        ("from_version" = Option<u64>, Query, description = "First version to return (default 1)"),
        ("limit" = Option<u64>, Query, description = "At most this many events, 1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, description = "The events", body = StreamPage),
        (status = 400, description = "Invalid parameter", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not read this stream", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such stream", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "streams"
)]
pub(crate) async fn read(
    State(state): State<ApiState>,
    Path(stream): Path<String>,
    access: Access,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let stream_id = stream_id(stream)?;
    access.require_read(stream_id.as_str())?;
    let query = Query::parse(query.as_deref(), &["from_version", "limit"])?;
    let from = query.number("from_version", 1, 0, i64::MAX as u64)?;
    let limit = query.number("limit", 100, 1, 1000)?;
    let events = state
        .store
        .read_stream(&stream_id, StreamVersion(from), limit as usize)
        .await?;
    let page = StreamPage {
        stream_id: stream_id.as_str(),
        events: cloudevents(&events),
    };
    Ok(Json(page).into_response())
}
