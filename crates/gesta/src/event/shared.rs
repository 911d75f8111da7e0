//! An event shared by every subscriber of a process, with its CloudEvents JSON
//! encoded at most once.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use super::RecordedEvent;

/// A committed event as subscriptions deliver it: a cheap handle to one copy that every
/// subscriber of this process shares, with its CloudEvents JSON encoded at most once
/// (by whichever subscriber asks first). It dereferences to the [`RecordedEvent`].
///
/// ```
/// use gesta::event::{RecordedEvent, SharedEvent};
/// # fn f(event: RecordedEvent) {
/// let shared = SharedEvent::from(event);
/// let copy = shared.clone(); // no copy of the event: both point at one
/// assert_eq!(copy.position, shared.position);
/// let json: &str = shared.cloudevent_json();
/// assert!(std::ptr::eq(json, copy.cloudevent_json()));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SharedEvent(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    event: RecordedEvent,
    cloudevent: OnceLock<Box<str>>,
}

impl SharedEvent {
    /// The event's CloudEvents 1.0 JSON ([`RecordedEvent::to_cloudevent`]), compact
    /// and on one line (a line break between the tokens of a stored payload becomes a
    /// space: the same JSON), encoded on first use and then shared. One line is what
    /// SSE `data:` fields and newline-delimited JSON need.
    pub fn cloudevent_json(&self) -> &str {
        self.0.cloudevent.get_or_init(|| encode(&self.0.event))
    }

    /// The event itself (a copy only if other handles to it exist).
    pub fn into_event(self) -> RecordedEvent {
        match Arc::try_unwrap(self.0) {
            Ok(shared) => shared.event,
            Err(shared) => shared.event.clone(),
        }
    }
}

/// The CloudEvents JSON of `event`, on one line: only whitespace between JSON tokens
/// can be a raw line break (inside strings they are escaped). Every part of it is a string, a number or JSON
/// checked when it was written, so encoding cannot fail; if it ever did, the error is
/// logged and the JSON says so instead of taking the process down.
fn encode(event: &RecordedEvent) -> Box<str> {
    match serde_json::to_string(&event.to_cloudevent()) {
        Ok(json) if json.contains(['\r', '\n']) => json.replace(['\r', '\n'], " ").into(),
        Ok(json) => json.into_boxed_str(),
        Err(err) => {
            tracing::error!(error = %err, position = event.position.0, "encoding an event");
            serde_json::json!({
                "specversion": "1.0",
                "id": event.id.to_string(),
                "position": event.position.0,
                "error": format!("the event could not be encoded: {err}"),
            })
            .to_string()
            .into_boxed_str()
        }
    }
}

impl From<RecordedEvent> for SharedEvent {
    fn from(event: RecordedEvent) -> Self {
        SharedEvent(Arc::new(Shared {
            event,
            cloudevent: OnceLock::new(),
        }))
    }
}

impl Deref for SharedEvent {
    type Target = RecordedEvent;

    fn deref(&self) -> &RecordedEvent {
        &self.0.event
    }
}
