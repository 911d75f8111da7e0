//! Events: what the log stores, what handlers emit, and their identifiers.
//!
//! A [`NewEvent`] is what a command handler (or a direct append) asks to write;
//! once the writer has given it a [`Position`] and a [`StreamVersion`] it becomes
//! a [`RecordedEvent`].

mod cloudevent;
mod ids;
mod json;
mod metadata;
pub mod personal;
mod shared;
pub mod upcast;

pub use cloudevent::CloudEvent;
pub use ids::{
    EventId, IntoStreamId, InvalidStreamId, Position, StreamId, StreamVersion, Timestamp,
};
pub use json::Json;
pub use metadata::Metadata;
pub use personal::PersonalField;
pub use shared::SharedEvent;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::expected::ExpectedVersion;

/// An event a handler wants appended: target stream, type and JSON payload.
///
/// ```
/// use gesta::event::NewEvent;
/// use gesta::ExpectedVersion;
///
/// let event = NewEvent::new("account-42", "Deposited", &serde_json::json!({"amount": 5}))
///     .unwrap()
///     .expect_version(ExpectedVersion::StreamExists);
/// assert_eq!(event.stream_id.as_str(), "account-42");
/// ```
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The stream the event is appended to.
    pub stream_id: StreamId,
    /// The event's type, e.g. `Deposited`.
    pub event_type: String,
    /// The JSON payload.
    pub data: Json,
    /// Extra metadata merged into the command's metadata (must be a JSON object).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// A client-chosen id (v4 or v7); a v7 id is generated when absent.
    pub id: Option<EventId>,
    /// The version the stream must be at when this event is appended.
    pub expected: ExpectedVersion,
    /// Fields of `data` holding personal data, encrypted before they are stored (see
    /// [`personal`]); besides those the app declares for the event's type.
    pub personal: Vec<PersonalField>,
}

/// Why a [`NewEvent`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NewEventError {
    /// The stream id is not acceptable (see [`StreamId::new`]).
    #[error(transparent)]
    StreamId(#[from] InvalidStreamId),
    /// The payload could not be serialized to JSON.
    #[error("event payload is not serializable to JSON: {0}")]
    Payload(#[from] serde_json::Error),
    /// The event type is empty or too long.
    #[error("event type must be 1 to 200 characters")]
    EventType,
}

impl NewEvent {
    /// Builds an event for `stream` of type `event_type` carrying `data` as JSON.
    pub fn new<S, D>(stream: S, event_type: &str, data: &D) -> Result<Self, NewEventError>
    where
        S: IntoStreamId,
        D: Serialize + ?Sized,
    {
        if event_type.is_empty() || event_type.len() > 200 {
            return Err(NewEventError::EventType);
        }
        Ok(NewEvent {
            stream_id: stream.into_stream_id()?,
            event_type: event_type.to_owned(),
            data: Json::from_value(data)?,
            metadata: None,
            id: None,
            expected: ExpectedVersion::Any,
            personal: Vec::new(),
        })
    }

    /// Requires the stream to be at `expected` when this event is appended.
    pub fn expect_version(mut self, expected: ExpectedVersion) -> Self {
        self.expected = expected;
        self
    }

    /// Marks the top-level field `field` of the data personal, belonging to the data
    /// subject named like the event's stream: it is stored encrypted with that
    /// subject's key and reads back as `null` once the subject is erased
    /// ([`crate::Store::erase`]).
    ///
    /// ```
    /// use gesta::event::NewEvent;
    /// let event = NewEvent::new("account-42", "AccountOpened", &serde_json::json!({"owner": "Ann"}))
    ///     .unwrap()
    ///     .personal("owner");
    /// assert_eq!(event.personal[0].field, "owner");
    /// assert_eq!(event.personal[0].subject, None); // the stream
    /// ```
    pub fn personal(self, field: impl Into<String>) -> Self {
        self.push_personal(field.into(), None)
    }

    /// Marks `field` personal, belonging to `subject` (a customer id, say) rather than
    /// to the event's stream. A subject is named like a stream: 1 to 200 bytes.
    pub fn personal_of(self, field: impl Into<String>, subject: impl Into<String>) -> Self {
        self.push_personal(field.into(), Some(subject.into()))
    }

    fn push_personal(mut self, field: String, subject: Option<String>) -> Self {
        self.personal.retain(|p| p.field != field);
        self.personal.push(PersonalField { field, subject });
        self
    }

    /// Uses `id` as the event id instead of a generated one.
    pub fn with_id(mut self, id: EventId) -> Self {
        self.id = Some(id);
        self
    }
}

/// An event as stored in the log.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    /// Global, gap-free position in commit order (first event = 1).
    pub position: Position,
    /// The stream the event belongs to.
    pub stream_id: StreamId,
    /// Version within the stream (first event of a stream = 1).
    pub stream_version: StreamVersion,
    /// The event's unique id.
    pub id: EventId,
    /// The event's type.
    pub event_type: String,
    /// The JSON payload, exactly as stored.
    pub data: Json,
    /// The JSON metadata object (command id, correlation and causation ids, ...).
    pub metadata: Json,
    /// When the event was committed.
    pub recorded_at: Timestamp,
}

impl RecordedEvent {
    /// Deserializes the payload into `T`.
    ///
    /// ```
    /// # use gesta::event::RecordedEvent;
    /// # fn f(event: &RecordedEvent) -> Result<(), serde_json::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Deposited { amount: u64 }
    /// let deposited: Deposited = event.data_as()?;
    /// # Ok(()) }
    /// ```
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        self.data.parse()
    }

    /// Parses the metadata (unknown fields are kept in [`Metadata::extra`]).
    pub fn metadata(&self) -> Metadata {
        self.metadata.parse().unwrap_or_default()
    }

    /// The CloudEvents 1.0 form of this event, as sent over HTTP.
    pub fn to_cloudevent(&self) -> CloudEvent<'_> {
        CloudEvent::from_recorded(self)
    }
}
