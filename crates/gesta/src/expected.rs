//! Expected-version checks on appends.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::StreamVersion;

/// What the writer checks about a stream before appending to it.
///
/// On the wire: an integer N, `"any"`, `"no_stream"` or `"stream_exists"`.
///
/// ```
/// use gesta::ExpectedVersion;
/// let v: ExpectedVersion = serde_json::from_str("3").unwrap();
/// assert_eq!(v, ExpectedVersion::Exact(3));
/// let v: ExpectedVersion = serde_json::from_str("\"no_stream\"").unwrap();
/// assert_eq!(v, ExpectedVersion::NoStream);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpectedVersion {
    /// No check.
    #[default]
    Any,
    /// The stream must not exist yet (same as `Exact(0)`).
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream must have exactly this many events (0 = must not exist).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream currently at `actual` (0 = absent) satisfies this expectation.
    pub fn matches(self, actual: StreamVersion) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual.0 == 0,
            ExpectedVersion::StreamExists => actual.0 > 0,
            ExpectedVersion::Exact(n) => actual.0 == n,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no_stream"),
            ExpectedVersion::StreamExists => f.write_str("stream_exists"),
            ExpectedVersion::Exact(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for ExpectedVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExpectedVersion::Exact(n) => s.serialize_u64(*n),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for ExpectedVersion {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Number(u64),
            Word(String),
        }
        match Wire::deserialize(de).map_err(|_| {
            serde::de::Error::custom(
                "expected a non-negative integer, \"any\", \"no_stream\" or \"stream_exists\"",
            )
        })? {
            Wire::Number(n) => Ok(ExpectedVersion::Exact(n)),
            Wire::Word(w) => match w.as_str() {
                "any" => Ok(ExpectedVersion::Any),
                "no_stream" => Ok(ExpectedVersion::NoStream),
                "stream_exists" => Ok(ExpectedVersion::StreamExists),
                other => Err(serde::de::Error::custom(format!(
                    "unknown expected version {other:?}: use an integer, \"any\", \"no_stream\" or \"stream_exists\""
                ))),
            },
        }
    }
}
