//! `GET /subscribe` (Server-Sent Events) and `GET /ws` (WebSocket): every matching
//! event after a position, then live ones as they commit, in position order, none
//! skipped, none twice.
//!
//! Both are thin shells over [`gesta::subscription::Subscription`], a cursor over the
//! log that reads it a page at a time and then takes the batches the writer publishes,
//! so a slow client holds at most one page in memory and costs the writer nothing.
//! Each event's CloudEvents JSON is encoded once per process and shared by every
//! subscriber. While events keep coming, each client gets at most one write per flush
//! interval (`paced.rs`): SSE one frame of messages (`sse.rs`), the WebSocket one
//! message per event, flushed together (`ws.rs`). Both end when the server shuts down
//! (through [`Shutdown`]); an SSE client then reconnects with `Last-Event-ID` and
//! resumes where it stopped.

mod paced;
mod sse;
mod ws;

use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use gesta::LogQuery;
use gesta::event::Position;
use gesta::subscription::Start;

use super::ApiState;
use crate::auth::Access;
use crate::input::{Query, header_text};
use crate::limits::{Subscribers, caller_key};
use crate::problem::Problem;
use crate::serve::Shutdown;

/// Settings of the live routes.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    /// How often an idle SSE stream sends a comment (and a WebSocket a ping).
    pub(crate) keep_alive: Duration,
    /// The shortest time between two writes to one client (see `Api::flush_interval`).
    pub(crate) flush_interval: Duration,
    /// Open streams per caller.
    pub(crate) subscribers: Subscribers,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            keep_alive: Duration::from_secs(15),
            flush_interval: Duration::from_millis(5),
            subscribers: Subscribers::default(),
        }
    }
}

/// The live routes, `/subscribe` and `/ws`.
pub(crate) fn routes(live: Live) -> Router<ApiState> {
    Router::new()
        .route("/subscribe", get(subscribe))
        .route("/ws", get(websocket))
        .layer(Extension(live))
}

/// The query parameters both routes accept.
const PARAMS: &[&str] = &["after", "type", "stream", "category", "access_token"];

/// Follow the log as Server-Sent Events.
///
/// Each event is sent with `id:` its position, `event:` its type and `data:` its
/// CloudEvents JSON. Without `after` the stream starts at the first event; `after=now`
/// starts after the last event committed when the request arrives. A `Last-Event-ID`
/// header (what an `EventSource` sends when it reconnects) wins over `after`. Idle
/// streams carry a `: keep-alive` comment every 15 s (see `Api::keep_alive`).
#[utoipa::path(
    get,
    path = "/subscribe",
    params(
        ("after" = Option<String>, Query, description = "Only events after this position (default 0), or `now`"),
        ("type" = Option<Vec<String>>, Query, description = "Only these event types (repeatable)"),
        ("stream" = Option<Vec<String>>, Query, description = "Only these streams (repeatable)"),
        ("category" = Option<Vec<String>>, Query, description = "Only streams of these categories, the part of the stream id before the first `-` (repeatable; either a listed stream or category matches)"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this position; wins over `after`"),
        ("access_token" = Option<String>, Query, description = "The bearer token, for clients that cannot set `Authorization` (EventSource, browser WebSocket)"),
    ),
    responses(
        (status = 200, description = "An endless stream of events: `id:` position, `event:` type, `data:` CloudEvents JSON", content_type = "text/event-stream", body = String),
        (status = 400, description = "Invalid parameter", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "events"
)]
pub(crate) async fn subscribe(
    State(state): State<ApiState>,
    Extension(live): Extension<Live>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let access = Access::from_extensions(&extensions);
    let (start, filter) = request(query.as_deref(), &headers, &access)?;
    let slot = live.subscribers.acquire(caller_key(&extensions))?;
    let subscription = state.store.subscribe(start, filter).await?;
    let shutdown = extensions.get::<Shutdown>().cloned();
    Ok(sse::response(subscription, shutdown, live, slot))
}

/// Follow the log over a WebSocket.
///
/// The same parameters and resume rules as `GET /subscribe`; each event is one text
/// message, its CloudEvents JSON (whose `position` is what to pass as `after` to
/// resume). The server pings an idle socket every 15 s (see `Api::keep_alive`) and
/// closes it with 1001 (going away) when it shuts down.
#[utoipa::path(
    get,
    path = "/ws",
    params(
        ("after" = Option<String>, Query, description = "Only events after this position (default 0), or `now`"),
        ("type" = Option<Vec<String>>, Query, description = "Only these event types (repeatable)"),
        ("stream" = Option<Vec<String>>, Query, description = "Only these streams (repeatable)"),
        ("category" = Option<Vec<String>>, Query, description = "Only streams of these categories (repeatable)"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this position; wins over `after`"),
        ("access_token" = Option<String>, Query, description = "The bearer token, for clients that cannot set `Authorization` (EventSource, browser WebSocket)"),
    ),
    responses(
        (status = 101, description = "WebSocket: one CloudEvents JSON text message per event"),
        (status = 400, description = "Invalid parameter or not a WebSocket handshake", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "events"
)]
pub(crate) async fn websocket(
    State(state): State<ApiState>,
    Extension(live): Extension<Live>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Problem> {
    let access = Access::from_extensions(&extensions);
    let (start, filter) = request(query.as_deref(), &headers, &access)?;
    let upgrade = upgrade.map_err(|rejection| {
        Problem::new(
            rejection.status(),
            "websocket-handshake",
            "Not a WebSocket handshake",
            rejection.body_text(),
        )
    })?;
    let slot = live.subscribers.acquire(caller_key(&extensions))?;
    let subscription = state.store.subscribe(start, filter).await?;
    let shutdown = extensions.get::<Shutdown>().cloned();
    Ok(upgrade.on_upgrade(move |socket| async move {
        ws::session(socket, subscription, shutdown, live).await;
        drop(slot);
    }))
}

/// Where to start and what to match, from the query string and `Last-Event-ID`.
fn request(
    raw: Option<&str>,
    headers: &HeaderMap,
    access: &Access,
) -> Result<(Start, LogQuery), Problem> {
    let query = Query::parse(raw, PARAMS)?;
    let start = start(&query, headers)?;
    Ok((start, query.log_filter()?.readable(access.readable())))
}

/// `after` (default 0, or `now`), overridden by a `Last-Event-ID` header; both are
/// checked.
fn start(query: &Query, headers: &HeaderMap) -> Result<Start, Problem> {
    let after = match query.all("after").as_slice() {
        [] => Start::After(Position(0)),
        [now] if now == "now" => Start::Now,
        [after] => Start::After(position("after", after, "a position or \"now\"")?),
        _ => {
            return Err(Problem::invalid(
                Some("after".into()),
                "given more than once",
            ));
        }
    };
    match header_text(headers, "last-event-id")? {
        Some(id) if !id.trim().is_empty() => Ok(Start::After(position(
            "Last-Event-ID",
            id.trim(),
            "an event's position",
        )?)),
        _ => Ok(after),
    }
}

/// `text` as a position (an integer from 0 to 2^63 - 1), or a 400 about `field`.
fn position(field: &str, text: &str, expected: &str) -> Result<Position, Problem> {
    text.parse::<u64>()
        .ok()
        .filter(|p| i64::try_from(*p).is_ok())
        .map(Position)
        .ok_or_else(|| {
            Problem::invalid(
                Some(field.to_owned()),
                format!("must be {expected} (an integer from 0), got {text:?}"),
            )
        })
}

/// Completes when the server shuts down; never without a shutdown signal.
pub(crate) async fn shutting_down(shutdown: &mut Option<Shutdown>) {
    match shutdown {
        Some(shutdown) => shutdown.started().await,
        None => std::future::pending().await,
    }
}
