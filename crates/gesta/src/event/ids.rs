//! Newtypes for positions, versions and identifiers.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A global position in the log: 1 for the first event, gap-free, in commit order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Position(pub u64);

/// A version within one stream: 1 for the stream's first event.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct StreamVersion(pub u64);

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for StreamVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An event's unique id (a UUID; v7 when Gesta generates it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    /// A new time-ordered (v7) id.
    pub fn new_v7() -> Self {
        EventId(Uuid::now_v7())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of a stream, e.g. `account-42`. Its category is the part before the first `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct StreamId(String);

/// Why a string is not a valid [`StreamId`].
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid stream id: {reason}")]
pub struct InvalidStreamId {
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The longest stream id accepted, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 200;

impl StreamId {
    /// Validates `id`: 1 to 200 bytes, no control characters.
    ///
    /// ```
    /// use gesta::event::StreamId;
    /// assert_eq!(StreamId::new("account-42").unwrap().category(), "account");
    /// assert!(StreamId::new("").is_err());
    /// ```
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidStreamId> {
        let id = id.into();
        if id.is_empty() {
            return Err(InvalidStreamId {
                reason: "must not be empty",
            });
        }
        if id.len() > MAX_STREAM_ID_LEN {
            return Err(InvalidStreamId {
                reason: "longer than 200 bytes",
            });
        }
        if id.chars().any(char::is_control) {
            return Err(InvalidStreamId {
                reason: "contains control characters",
            });
        }
        Ok(StreamId(id))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The category: the part before the first `-` (the whole id if there is none).
    pub fn category(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Anything that can name a stream: `&str`, `String` or a [`StreamId`].
pub trait IntoStreamId {
    /// Validates and converts.
    fn into_stream_id(self) -> Result<StreamId, InvalidStreamId>;
}

impl IntoStreamId for StreamId {
    fn into_stream_id(self) -> Result<StreamId, InvalidStreamId> {
        Ok(self)
    }
}

impl IntoStreamId for &StreamId {
    fn into_stream_id(self) -> Result<StreamId, InvalidStreamId> {
        Ok(self.clone())
    }
}

impl IntoStreamId for &str {
    fn into_stream_id(self) -> Result<StreamId, InvalidStreamId> {
        StreamId::new(self)
    }
}

impl IntoStreamId for String {
    fn into_stream_id(self) -> Result<StreamId, InvalidStreamId> {
        StreamId::new(self)
    }
}

impl IntoStreamId for &String {
    fn into_stream_id(self) -> Result<StreamId, InvalidStreamId> {
        StreamId::new(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StreamId {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(de)?;
        StreamId::new(raw).map_err(serde::de::Error::custom)
    }
}

/// A point in time, stored as microseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let now = time::OffsetDateTime::now_utc();
        Timestamp((now.unix_timestamp_nanos() / 1_000) as i64)
    }

    /// RFC 3339 text, e.g. `2026-11-23T10:00:00.123456Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    }
}
