//! Request and response bodies of the HTTP API (DESIGN.md section 3).

use gesta::ExpectedVersion;
use gesta::event::{CloudEvent, RecordedEvent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A CloudEvents 1.0 event as Gesta sends it (documentation schema).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CloudEventDoc {
    /// `"1.0"`.
    specversion: String,
    /// The event id (UUID).
    id: String,
    /// `/streams/{stream}`.
    source: String,
    /// The event type.
    #[schema(rename = "type")]
    event_type: String,
    /// The stream id.
    subject: String,
    /// Commit time, RFC 3339.
    time: String,
    /// `"application/json"`.
    datacontenttype: String,
    /// The payload.
    data: serde_json::Value,
    /// Global position.
    position: u64,
    /// Version within the stream.
    streamversion: u64,
    /// The command that wrote the event.
    commandid: Option<String>,
    /// Correlation id.
    correlationid: Option<String>,
    /// Causation id.
    causationid: Option<String>,
    /// The authenticated principal whose request wrote the event (absent when
    /// the request was not authenticated).
    principal: Option<String>,
    /// The full metadata object.
    metadata: serde_json::Value,
}

/// The CloudEvents form of `events`.
pub(crate) fn cloudevents(events: &[RecordedEvent]) -> Vec<CloudEvent<'_>> {
    events.iter().map(RecordedEvent::to_cloudevent).collect()
}

/// `200` from `POST /commands/{name}`.
#[derive(Serialize, ToSchema)]
pub struct CommandResponse<'a> {
    /// The command's id.
    pub command_id: String,
    /// Position of the last event written (null if none).
    pub position: Option<u64>,
    /// The events written.
    #[schema(value_type = Vec<CloudEventDoc>)]
    pub events: Vec<CloudEvent<'a>>,
}

/// One event in `POST /streams/{stream}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendEvent {
    /// Optional client-chosen id: a UUID v4 or v7.
    pub id: Option<uuid::Uuid>,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload (any JSON).
    pub data: serde_json::Value,
    /// Extra metadata (a JSON object).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Body of `POST /streams/{stream}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendBody {
    /// An integer N, `"any"`, `"no_stream"` or `"stream_exists"` (default `"any"`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub expected_version: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<AppendEvent>,
}

/// `200` from `POST /streams/{stream}`.
#[derive(Serialize, ToSchema)]
pub struct AppendResponse<'a> {
    /// Position of the last event written.
    pub position: Option<u64>,
    /// The stream's version after the append.
    pub stream_version: Option<u64>,
    /// The events written.
    #[schema(value_type = Vec<CloudEventDoc>)]
    pub events: Vec<CloudEvent<'a>>,
}

/// `200` from `GET /streams/{stream}`.
#[derive(Serialize, ToSchema)]
pub struct StreamPage<'a> {
    /// The stream.
    pub stream_id: &'a str,
    /// The events, in stream order.
    #[schema(value_type = Vec<CloudEventDoc>)]
    pub events: Vec<CloudEvent<'a>>,
}

/// `200` from `GET /events`.
#[derive(Serialize, ToSchema)]
pub struct EventsPage<'a> {
    /// The events, in position order.
    #[schema(value_type = Vec<CloudEventDoc>)]
    pub events: Vec<CloudEvent<'a>>,
    /// Pass as `after` to read the next page.
    pub next_after: u64,
}

/// `200` from `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct HealthBody {
    /// `"ok"`.
    pub status: &'static str,
    /// `sqlite`, `postgres` or `mysql`.
    pub backend: &'static str,
    /// Whether acknowledged commits survive a crash.
    pub durable: bool,
    /// The durability setting in words.
    pub durability: String,
    /// The last committed position in the log (from the database, so it includes other
    /// processes' commits; this process's own if the database does not answer within 1 s).
    pub last_position: u64,
    /// Jobs waiting for the writer.
    pub queue_depth: usize,
}
