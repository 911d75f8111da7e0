//! The CloudEvents 1.0 JSON form of an event (structured content mode).

use serde::Serialize;

use super::{Json, RecordedEvent};

/// A recorded event as a CloudEvents 1.0 JSON object, with Gesta's extension
/// attributes `position`, `streamversion`, `commandid`, `correlationid`, `causationid`.
#[derive(Debug, Serialize)]
pub struct CloudEvent<'a> {
    /// Always `"1.0"`.
    pub specversion: &'static str,
    /// The event id.
    pub id: String,
    /// `/streams/{stream}`.
    pub source: String,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// The stream id.
    pub subject: &'a str,
    /// Commit time, RFC 3339.
    pub time: String,
    /// Always `"application/json"`.
    pub datacontenttype: &'static str,
    /// The payload.
    pub data: &'a Json,
    /// Global position.
    pub position: u64,
    /// Version within the stream.
    pub streamversion: u64,
    /// The command that wrote the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commandid: Option<String>,
    /// Correlation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlationid: Option<String>,
    /// Causation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causationid: Option<String>,
    /// The full metadata object.
    pub metadata: &'a Json,
}

impl<'a> CloudEvent<'a> {
    /// Builds the CloudEvents form of `event`.
    pub fn from_recorded(event: &'a RecordedEvent) -> Self {
        let meta = event.metadata();
        CloudEvent {
            specversion: "1.0",
            id: event.id.to_string(),
            source: format!("/streams/{}", event.stream_id),
            event_type: &event.event_type,
            subject: event.stream_id.as_str(),
            time: event.recorded_at.to_rfc3339(),
            datacontenttype: "application/json",
            data: &event.data,
            position: event.position.0,
            streamversion: event.stream_version.0,
            commandid: meta.command_id.map(|id| id.to_string()),
            correlationid: meta.correlation_id,
            causationid: meta.causation_id,
            metadata: &event.metadata,
        }
    }
}
