//! `GET /admin/reactors`: every reactor's checkpoint, lag behind the head and parked
//! events; `POST .../parked/{position}/retry` and `DELETE .../parked/{position}` to
//! retry or skip one parked event.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use gesta::event::Position;
use gesta::reactor::{ParkedEvent, ReactorStatus};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use crate::input::Query;
use crate::problem::Problem;

/// The admin routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/reactors", get(reactors))
        .route(
            "/admin/reactors/{name}/parked/{position}/retry",
            post(retry),
        )
        .route("/admin/reactors/{name}/parked/{position}", delete(skip))
}

/// `200` from `GET /admin/reactors`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ReactorsBody {
    /// The last position of the log.
    head: u64,
    /// Every reactor registered in this server or with a checkpoint in the database.
    reactors: Vec<ReactorBody>,
}

/// One reactor.
#[derive(Serialize, ToSchema)]
pub(crate) struct ReactorBody {
    /// The reactor's name.
    name: String,
    /// The durable checkpoint: every event up to it was handled.
    checkpoint: u64,
    /// How far it got (its progress in this server when it runs here).
    position: u64,
    /// Events between `position` and the head.
    lag: u64,
    /// When the checkpoint was last written (RFC 3339).
    updated_at: Option<String>,
    /// Whether this server registered it.
    registered: bool,
    /// Whether it runs in this server now (another server may run it instead).
    running: bool,
    /// How many of its events are parked.
    parked: u64,
    /// Its parked events, oldest first (at most `parked_limit`).
    parked_events: Vec<ParkedBody>,
}

/// An event a reactor parked after its last failed attempt.
#[derive(Serialize, ToSchema)]
pub(crate) struct ParkedBody {
    /// The event's position.
    position: u64,
    /// The event's id.
    event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    event_type: String,
    /// The event's stream.
    stream: String,
    /// The last error.
    error: String,
    /// Attempts made.
    attempts: u64,
    /// When it was parked (RFC 3339).
    parked_at: String,
    /// Whether a retry was requested and has not run yet.
    retry_requested: bool,
}

/// `200`/`202` from retrying or skipping a parked event.
#[derive(Serialize, ToSchema)]
pub(crate) struct ParkedActionBody {
    /// Parked events affected (1).
    count: u64,
}

/// Reactors: checkpoint, lag behind the head of the log, parked events.
#[utoipa::path(
    get,
    path = "/admin/reactors",
    params(("parked_limit" = Option<u64>, Query, description = "Parked events listed in all, 0 to 10000 (default 100)")),
    responses(
        (status = 200, body = ReactorsBody),
        (status = 400, description = "Invalid parameter", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "operations"
)]
pub(crate) async fn reactors(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Json<ReactorsBody>, Problem> {
    let query = Query::parse(query.as_deref(), &["parked_limit"])?;
    let limit = query.number("parked_limit", 100, 0, gesta::MAX_PAGE as u64)?;
    let statuses = state.store.reactors().await?;
    let mut parked: BTreeMap<String, Vec<ParkedBody>> = BTreeMap::new();
    if limit > 0 {
        for event in state.store.parked_events(None, limit as usize).await? {
            parked
                .entry(event.reactor.clone())
                .or_default()
                .push(parked_body(event));
        }
    }
    let head = match statuses.first() {
        Some(status) => status.head,
        None => state.store.head().await?,
    };
    let reactors = statuses
        .into_iter()
        .map(|status| {
            let events = parked.remove(&status.name).unwrap_or_default();
            reactor_body(status, events)
        })
        .collect();
    Ok(Json(ReactorsBody {
        head: head.0,
        reactors,
    }))
}

/// Ask the server running the reactor to deliver a parked event once more.
#[utoipa::path(
    post,
    path = "/admin/reactors/{name}/parked/{position}/retry",
    params(
        ("name" = String, Path, description = "The reactor"),
        ("position" = u64, Path, description = "The parked event's position"),
    ),
    responses(
        (status = 202, description = "Retry requested", body = ParkedActionBody),
        (status = 400, description = "The position is not an integer", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such parked event", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "operations"
)]
pub(crate) async fn retry(
    State(state): State<ApiState>,
    Path((name, position)): Path<(String, String)>,
) -> Result<(StatusCode, Json<ParkedActionBody>), Problem> {
    let position = parse_position(&position)?;
    let count = state.store.retry_parked(&name, Some(position)).await?;
    found(&name, position, count)?;
    Ok((StatusCode::ACCEPTED, Json(ParkedActionBody { count })))
}

/// Skip a parked event: remove it without delivering it.
#[utoipa::path(
    delete,
    path = "/admin/reactors/{name}/parked/{position}",
    params(
        ("name" = String, Path, description = "The reactor"),
        ("position" = u64, Path, description = "The parked event's position"),
    ),
    responses(
        (status = 200, description = "Skipped", body = ParkedActionBody),
        (status = 400, description = "The position is not an integer", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such parked event", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "operations"
)]
pub(crate) async fn skip(
    State(state): State<ApiState>,
    Path((name, position)): Path<(String, String)>,
) -> Result<Json<ParkedActionBody>, Problem> {
    let position = parse_position(&position)?;
    let count = state.store.skip_parked(&name, Some(position)).await?;
    found(&name, position, count)?;
    Ok(Json(ParkedActionBody { count }))
}

fn parse_position(text: &str) -> Result<Position, Problem> {
    text.parse().map(Position).map_err(|_| {
        Problem::invalid(
            Some("position".into()),
            format!("must be a position (an unsigned integer), got {text:?}"),
        )
    })
}

fn found(name: &str, position: Position, count: u64) -> Result<(), Problem> {
    if count == 0 {
        return Err(Problem::not_found(format!(
            "reactor {name:?} has no parked event at position {position}"
        )));
    }
    Ok(())
}

fn reactor_body(status: ReactorStatus, parked_events: Vec<ParkedBody>) -> ReactorBody {
    ReactorBody {
        name: status.name,
        checkpoint: status.checkpoint.0,
        position: status.position.0,
        lag: status.lag,
        updated_at: status.updated_at.map(|t| t.to_rfc3339()),
        registered: status.registered,
        running: status.running,
        parked: status.parked,
        parked_events,
    }
}

fn parked_body(event: ParkedEvent) -> ParkedBody {
    ParkedBody {
        position: event.position.0,
        event_id: event.event_id.to_string(),
        event_type: event.event_type,
        stream: event.stream_id,
        error: event.error,
        attempts: event.attempts,
        parked_at: event.parked_at.to_rfc3339(),
        retry_requested: event.retry_requested,
    }
}
