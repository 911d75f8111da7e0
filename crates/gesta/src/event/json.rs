//! JSON text as the log stores it.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A JSON document as text: checked once when an event is written, then passed through
/// untouched (reading the log does not parse payloads; replays stay fast).
///
/// ```
/// use gesta::event::Json;
/// let json = Json::from_value(&serde_json::json!({"amount": 5})).unwrap();
/// assert_eq!(json.get(), r#"{"amount":5}"#);
/// let back: serde_json::Value = json.parse().unwrap();
/// assert_eq!(back["amount"], 5);
/// assert!(Json::from_text("{not json".into()).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Json(Box<str>);

impl Json {
    /// Serializes `value`.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Json(serde_json::to_string(value)?.into_boxed_str()))
    }

    /// Checks that `text` is one JSON document.
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<serde::de::IgnoredAny>(&text)?;
        Ok(Json(text.into_boxed_str()))
    }

    /// Text read back from the log, where only checked JSON is ever written.
    pub(crate) fn from_log(text: String) -> Self {
        Json(text.into_boxed_str())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }

    /// Deserializes the document into `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serializes as the JSON document itself (not as a string).
impl Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawValue::from_string(self.0.to_string())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Json(String::from(raw.get()).into_boxed_str()))
    }
}
