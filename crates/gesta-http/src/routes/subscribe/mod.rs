//! `GET /subscribe` (Server-Sent Events) and `GET /ws` (WebSocket): every matching
//! event after a position, then live ones as they commit, in position order, none
//! skipped, none twice.
//!
//! Both are thin shells over [`gesta::subscription::Subscription`], a cursor over the
//! log: the response pulls one event at a time and the subscription reads the log a
//! page at a time, so a slow client holds at most one page in memory and costs the
//! writer nothing. Both end when the server shuts down (through [`Shutdown`]); an SSE
//! client then reconnects with `Last-Event-ID` and resumes where it stopped.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::Stream;
use gesta::LogQuery;
use gesta::event::{Position, RecordedEvent, StreamId};
use gesta::subscription::{Start, Subscription};

use super::ApiState;
use crate::input::{Query, header_text};
use crate::problem::Problem;
use crate::serve::Shutdown;

/// Settings of the live routes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Live {
    /// How often an idle SSE stream sends a comment (and a WebSocket a ping).
    pub(crate) keep_alive: Duration,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            keep_alive: Duration::from_secs(15),
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
const PARAMS: &[&str] = &["after", "type", "stream", "category"];

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
    shutdown: Option<Extension<Shutdown>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let (start, filter) = request(query.as_deref(), &headers)?;
    let subscription = state.store.subscribe(start, filter).await?;
    let stream = sse_events(subscription, shutdown.map(|Extension(s)| s));
    let keep_alive = KeepAlive::new()
        .interval(live.keep_alive)
        .text("keep-alive");
    let mut response = Sse::new(stream).keep_alive(keep_alive).into_response();
    // Tells reverse proxies (nginx) not to buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
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
    shutdown: Option<Extension<Shutdown>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Problem> {
    let (start, filter) = request(query.as_deref(), &headers)?;
    let upgrade = upgrade.map_err(|rejection| {
        Problem::new(
            rejection.status(),
            "websocket-handshake",
            "Not a WebSocket handshake",
            rejection.body_text(),
        )
    })?;
    let subscription = state.store.subscribe(start, filter).await?;
    let shutdown = shutdown.map(|Extension(s)| s);
    Ok(upgrade.on_upgrade(move |socket| session(socket, subscription, shutdown, live.keep_alive)))
}

/// Where to start and what to match, from the query string and `Last-Event-ID`.
fn request(raw: Option<&str>, headers: &HeaderMap) -> Result<(Start, LogQuery), Problem> {
    let query = Query::parse(raw, PARAMS)?;
    let start = start(&query, headers)?;
    let mut filter = LogQuery::default();
    for event_type in query.all("type") {
        if event_type.is_empty() {
            return Err(Problem::invalid(Some("type".into()), "must not be empty"));
        }
        filter = filter.event_type(event_type);
    }
    for stream in query.all("stream") {
        let stream = StreamId::new(stream)
            .map_err(|e| Problem::invalid(Some("stream".into()), e.to_string()))?;
        filter = filter.stream(stream);
    }
    for category in query.all("category") {
        if category.is_empty() || category.contains('-') {
            return Err(Problem::invalid(
                Some("category".into()),
                format!(
                    "a category is the non-empty part of a stream id before its first '-', got {category:?}"
                ),
            ));
        }
        filter = filter.category(category);
    }
    Ok((start, filter))
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

/// The subscription as SSE events, ending at shutdown or on a read error (the client
/// then reconnects and resumes from its last id).
fn sse_events(
    subscription: Subscription,
    shutdown: Option<Shutdown>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(
        (subscription, shutdown),
        |(mut subscription, mut shutdown)| async move {
            let event = tokio::select! {
                next = subscription.next() => next,
                () = shutting_down(&mut shutdown) => return None,
            };
            match event.map(|event| sse_event(&event)) {
                Ok(Some(sse)) => Some((Ok(sse), (subscription, shutdown))),
                Ok(None) => None,
                Err(err) => {
                    tracing::warn!(error = %err, "subscription ended");
                    None
                }
            }
        },
    )
}

/// One event in SSE form; `None` if it cannot be encoded (logged).
fn sse_event(event: &RecordedEvent) -> Option<Event> {
    let data = cloudevent_json(event)?;
    let sse = Event::default().id(event.position.0.to_string()).data(data);
    // A line break cannot be sent in an SSE field: such a type is only in the data.
    if event.event_type.contains(['\r', '\n']) {
        Some(sse)
    } else {
        Some(sse.event(&event.event_type))
    }
}

/// The CloudEvents JSON of `event`; `None` if it cannot be encoded (logged).
fn cloudevent_json(event: &RecordedEvent) -> Option<String> {
    serde_json::to_string(&event.to_cloudevent())
        .inspect_err(
            |err| tracing::error!(error = %err, position = event.position.0, "encoding an event"),
        )
        .ok()
}

/// Completes when the server shuts down; never without a shutdown signal.
async fn shutting_down(shutdown: &mut Option<Shutdown>) {
    match shutdown {
        Some(shutdown) => shutdown.started().await,
        None => std::future::pending().await,
    }
}

/// Sends the subscription's events over `socket` until the client leaves, a read
/// fails or the server shuts down; pings the client every `ping_every`.
async fn session(
    mut socket: WebSocket,
    mut subscription: Subscription,
    mut shutdown: Option<Shutdown>,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let close = loop {
        tokio::select! {
            next = subscription.next() => match next.map(|event| cloudevent_json(&event)) {
                Ok(Some(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break (close_code::ERROR, "an event could not be encoded"),
                Err(err) => {
                    tracing::warn!(error = %err, "subscription ended");
                    break (close_code::ERROR, "reading the log failed");
                }
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the protocol layer; other messages are ignored.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
            () = shutting_down(&mut shutdown) => break (close_code::AWAY, "server shutting down"),
        }
    };
    let frame = CloseFrame {
        code: close.0,
        reason: close.1.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
