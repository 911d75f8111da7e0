//! An event shared by every subscriber of a process, with its CloudEvents JSON
//! encoded at most once.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

#[cfg(doc)]
use super::CloudEvent;
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
    /// The event's CloudEvents 1.0 JSON ([`CloudEvent::to_json`]: compact and on one
    /// line, what SSE `data:` fields and newline-delimited JSON need), encoded on
    /// first use and then shared.
    pub fn cloudevent_json(&self) -> &str {
        self.0
            .cloudevent
            .get_or_init(|| self.0.event.to_cloudevent().to_json().into_boxed_str())
    }

    /// The event itself (a copy only if other handles to it exist).
    pub fn into_event(self) -> RecordedEvent {
        match Arc::try_unwrap(self.0) {
            Ok(shared) => shared.event,
            Err(shared) => shared.event.clone(),
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
