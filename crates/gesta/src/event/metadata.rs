//! The metadata object stored beside every event.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Metadata of an event. Gesta fills the ids; middleware and clients may add more
/// fields, kept in [`Metadata::extra`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The id of the command (or direct append) that wrote the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<Uuid>,
    /// The command's name; absent for direct appends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Groups everything caused by one original request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// What directly caused this event (the command id, or an event id for reactors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// The name of the authenticated principal whose request wrote the event (an
    /// older event's extra `"principal"` that is not a string reads as none).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_none"
    )]
    pub principal: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A string, or `None` for any other JSON value.
fn string_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}
