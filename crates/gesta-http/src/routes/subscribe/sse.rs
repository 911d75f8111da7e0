//! The body of a `GET /subscribe` response: Server-Sent Events written straight from
//! the subscription's batches.
//!
//! Events go out in paced batches, one frame each (see `paced.rs`); each event's
//! CloudEvents JSON is encoded once per process and shared by every subscriber
//! ([`SharedEvent`]); an idle stream carries a keep-alive comment.

use std::convert::Infallible;
use std::io::Write as _;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use gesta::event::SharedEvent;
use gesta::subscription::Subscription;
use tokio::time::Instant;

use super::paced::Paced;
use super::{Live, shutting_down};
use crate::limits::Slot;
use crate::serve::Shutdown;

/// A `text/event-stream` response that follows `subscription` until the server shuts
/// down (through `shutdown`) or a read fails; the client then reconnects with
/// `Last-Event-ID` and resumes where it stopped.
pub(super) fn response(
    subscription: Subscription,
    shutdown: Option<Shutdown>,
    live: Live,
    slot: Slot,
) -> Response {
    let state = Stream {
        _slot: slot,
        events: Paced::new(subscription, live.flush_interval),
        shutdown,
        keep_alive: live.keep_alive,
    };
    let frames = futures_util::stream::unfold(state, |mut state| async move {
        let frame = state.next_frame().await?;
        Some((Ok::<_, Infallible>(frame), state))
    });
    let mut response = Response::new(Body::from_stream(frames));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells reverse proxies (nginx) not to buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

struct Stream {
    /// This stream's place among the caller's open ones.
    _slot: Slot,
    events: Paced,
    shutdown: Option<Shutdown>,
    keep_alive: Duration,
}

impl Stream {
    /// The next frame: the events at hand, or a keep-alive comment after
    /// `keep_alive` without any; `None` to end the response.
    async fn next_frame(&mut self) -> Option<Bytes> {
        let idle_until = Instant::now() + self.keep_alive;
        let batch = tokio::select! {
            batch = self.events.next() => batch,
            () = tokio::time::sleep_until(idle_until) => {
                return Some(Bytes::from_static(b": keep-alive\n\n"));
            }
            () = shutting_down(&mut self.shutdown) => return None,
        };
        match batch {
            Ok(events) => Some(frame(&events)),
            Err(err) => {
                tracing::warn!(error = %err, "subscription ended");
                None
            }
        }
    }
}

/// `events` as SSE messages: `id:` the position, `event:` the type, `data:` the
/// CloudEvents JSON.
fn frame(events: &[SharedEvent]) -> Bytes {
    let size: usize = events
        .iter()
        .map(|e| e.cloudevent_json().len() + e.event_type.len() + 40)
        .sum();
    let mut out = Vec::with_capacity(size);
    for event in events {
        message(&mut out, event);
    }
    Bytes::from(out)
}

/// Appends one SSE message for `event` to `out`.
fn message(out: &mut Vec<u8>, event: &SharedEvent) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "id: {}", event.position.0);
    // A line break cannot be sent in an SSE field: such a type is only in the data.
    if !has_line_break(&event.event_type) {
        out.extend_from_slice(b"\nevent: ");
        out.extend_from_slice(event.event_type.as_bytes());
    }
    out.extend_from_slice(b"\ndata: ");
    // On one line (see `SharedEvent::cloudevent_json`).
    out.extend_from_slice(event.cloudevent_json().as_bytes());
    out.extend_from_slice(b"\n\n");
}

fn has_line_break(text: &str) -> bool {
    text.bytes().any(|b| b == b'\r' || b == b'\n')
}

#[cfg(test)]
mod tests {
    use gesta::event::{
        EventId, Json, Position, RecordedEvent, StreamId, StreamVersion, Timestamp,
    };

    use super::*;

    fn event(position: u64, event_type: &str, data: &str) -> SharedEvent {
        SharedEvent::from(RecordedEvent {
            position: Position(position),
            stream_id: StreamId::new("account-1").unwrap(),
            stream_version: StreamVersion(position),
            id: EventId::new_v7(),
            event_type: event_type.into(),
            data: Json::from_text(data.into()).unwrap(),
            metadata: Json::from_text("{}".into()).unwrap(),
            recorded_at: Timestamp::now(),
        })
    }

    fn messages(frame: &Bytes) -> Vec<Vec<String>> {
        let text = std::str::from_utf8(frame).unwrap();
        assert!(text.ends_with("\n\n"));
        text.trim_end()
            .split("\n\n")
            .map(|m| m.lines().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn a_frame_holds_one_message_per_event_with_id_type_and_json() {
        let events = [event(7, "Opened", r#"{"a":1}"#), event(8, "Closed", "{}")];
        let messages = messages(&frame(&events));
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0][0], "id: 7");
        assert_eq!(messages[0][1], "event: Opened");
        let data: serde_json::Value =
            serde_json::from_str(messages[0][2].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(data["position"], 7);
        assert_eq!(data["data"], serde_json::json!({"a": 1}));
        assert_eq!(messages[1][..2], ["id: 8", "event: Closed"]);
    }

    #[test]
    fn line_breaks_in_the_payload_stay_on_one_data_line() {
        let events = [event(1, "Opened", "{\r\n  \"text\": \"a\\nb\"\n}")];
        let messages = messages(&frame(&events));
        assert_eq!(messages[0].len(), 3, "{:?}", messages[0]);
        let data: serde_json::Value =
            serde_json::from_str(messages[0][2].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(data["data"]["text"], "a\nb");
    }

    #[test]
    fn a_type_with_a_line_break_is_left_out_of_the_event_field() {
        let events = [event(3, "Bad\nType", "{}")];
        let messages = messages(&frame(&events));
        assert_eq!(messages[0][0], "id: 3");
        assert!(messages[0][1].starts_with("data: "), "{:?}", messages[0]);
    }
}
