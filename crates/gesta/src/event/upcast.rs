//! Evolving event shapes: an event type has a schema version (1 until an upcaster is
//! registered for it), new events record the current one in their metadata
//! (`"schema_version"`, left out at 1), and events written in an older version are
//! turned into the current shape when they are read (the one read choke point for the
//! log: the HTTP API, subscriptions, reactors, projections, replays and rebuilds all
//! see the current shape). The stored bytes never change; `gesta copy` copies them as
//! they are.
//!
//! ```
//! use gesta::App;
//! use serde_json::{Value, json};
//! let app = App::new("library").upcaster("BookAdded", 1, |mut data: Value| {
//!     data["copies"] = json!(1); // version 1 had no copies: one each
//!     Ok(data)
//! });
//! assert_eq!(app.upcasters().current_version("BookAdded"), 2);
//! assert_eq!(app.upcasters().current_version("BookLent"), 1);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;

use super::{Json, RecordedEvent};

/// Turns one version's data into the next version's.
pub type UpcastFn =
    Arc<dyn Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync>;

/// The metadata key holding the schema version an event was written in.
pub const SCHEMA_VERSION: &str = "schema_version";

/// Every event type's upcasters, by the version they upgrade from.
#[derive(Clone, Default)]
pub struct Upcasters {
    types: HashMap<String, BTreeMap<u32, UpcastFn>>,
}

impl std::fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let versions: BTreeMap<&str, u32> = self
            .types
            .keys()
            .map(|t| (t.as_str(), self.current_version(t)))
            .collect();
        f.debug_struct("Upcasters")
            .field("current_versions", &versions)
            .finish()
    }
}

/// An event whose data an upcaster could not turn into the current shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("upcasting {event_type} from version {from} at position {position}: {message}")]
pub struct UpcastError {
    /// The event's position.
    pub position: u64,
    /// Its type.
    pub event_type: String,
    /// The version the failing step upgrades from.
    pub from: u32,
    /// What went wrong.
    pub message: String,
}

impl Upcasters {
    /// No upcasters: every type at version 1.
    pub fn new() -> Self {
        Upcasters::default()
    }

    /// Registers the step from `from_version` of `event_type` to the next version.
    /// The type's current version is one past its highest step.
    pub fn add(&mut self, event_type: impl Into<String>, from_version: u32, step: UpcastFn) {
        self.types
            .entry(event_type.into())
            .or_default()
            .insert(from_version.max(1), step);
    }

    /// Whether no type has an upcaster (reads then skip all of this).
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// The version new events of `event_type` are written in.
    pub fn current_version(&self, event_type: &str) -> u32 {
        self.types
            .get(event_type)
            .and_then(|steps| steps.keys().next_back())
            .map_or(1, |last| last + 1)
    }

    /// Brings `event` to the current shape of its type, if it was written in an older
    /// version: each step from its version on, in order. Its metadata keeps the
    /// version it was written in.
    pub fn upcast(&self, event: &mut RecordedEvent) -> Result<(), UpcastError> {
        let Some(steps) = self.types.get(&event.event_type) else {
            return Ok(());
        };
        let written = written_version(&event.metadata);
        let mut pending = steps.range(written..).peekable();
        if pending.peek().is_none() {
            return Ok(());
        }
        let fail = |from: u32, message: String| UpcastError {
            position: event.position.0,
            event_type: event.event_type.clone(),
            from,
            message,
        };
        let mut data: serde_json::Value = event
            .data
            .parse()
            .map_err(|e| fail(written, e.to_string()))?;
        let mut at = written;
        for (&from, step) in pending {
            if from != at {
                return Err(fail(at, format!("no upcaster from version {at}")));
            }
            data = step(data).map_err(|message| fail(from, message))?;
            at = from + 1;
        }
        event.data = Json::from_value(&data).map_err(|e| fail(at, e.to_string()))?;
        Ok(())
    }
}

/// The schema version in `metadata` (1 when absent or not a positive integer).
pub fn written_version(metadata: &Json) -> u32 {
    #[derive(Deserialize)]
    struct Version {
        #[serde(default)]
        schema_version: Option<serde_json::Value>,
    }
    serde_json::from_str::<Version>(metadata.get())
        .ok()
        .and_then(|v| v.schema_version?.as_u64())
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v >= 1)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventId, Position, StreamId, StreamVersion, Timestamp};
    use serde_json::json;

    fn event(data: serde_json::Value, metadata: &str) -> RecordedEvent {
        RecordedEvent {
            position: Position(7),
            stream_id: StreamId::new("book-1").unwrap(),
            stream_version: StreamVersion(1),
            id: EventId::new_v7(),
            event_type: "BookAdded".into(),
            data: Json::from_value(&data).unwrap(),
            metadata: Json::from_text(metadata.into()).unwrap(),
            recorded_at: Timestamp(0),
        }
    }

    fn upcasters() -> Upcasters {
        let mut all = Upcasters::new();
        all.add(
            "BookAdded",
            1,
            Arc::new(|mut d: serde_json::Value| {
                d["copies"] = json!(1);
                Ok(d)
            }),
        );
        all.add(
            "BookAdded",
            2,
            Arc::new(|mut d: serde_json::Value| {
                let title = d["title"].take();
                d["name"] = title;
                d.as_object_mut().unwrap().remove("title");
                Ok(d)
            }),
        );
        all
    }

    #[test]
    fn old_events_go_through_every_later_step_in_order() {
        let all = upcasters();
        assert_eq!(all.current_version("BookAdded"), 3);
        let mut v1 = event(json!({"title": "T"}), "{}");
        all.upcast(&mut v1).unwrap();
        assert_eq!(
            v1.data.parse::<serde_json::Value>().unwrap(),
            json!({"name": "T", "copies": 1})
        );
        let mut v2 = event(
            json!({"title": "T", "copies": 4}),
            r#"{"schema_version":2}"#,
        );
        all.upcast(&mut v2).unwrap();
        assert_eq!(
            v2.data.parse::<serde_json::Value>().unwrap(),
            json!({"name": "T", "copies": 4})
        );
        let current = json!({"name": "T", "copies": 4});
        let mut v3 = event(current.clone(), r#"{"schema_version":3}"#);
        let before = v3.data.clone();
        all.upcast(&mut v3).unwrap();
        assert_eq!(
            v3.data, before,
            "the current shape is passed through untouched"
        );
        assert_eq!(written_version(&v3.metadata), 3);
    }

    #[test]
    fn a_failing_step_names_the_event() {
        let mut all = Upcasters::new();
        all.add("BookAdded", 1, Arc::new(|_| Err("no title".into())));
        let mut bad = event(json!({}), "{}");
        let err = all.upcast(&mut bad).unwrap_err();
        assert_eq!((err.position, err.from), (7, 1));
        assert!(err.to_string().contains("no title"));
        assert_eq!(
            written_version(&Json::from_text(r#"{"schema_version":"x"}"#.into()).unwrap()),
            1
        );
    }
}
