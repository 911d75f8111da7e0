//! Reading the log the way followers do: a page of matching events at a time, and how
//! far the log was looked at, matches or not.

use crate::event::{Position, RecordedEvent};
use crate::{Error, LogQuery, Store};

/// Events read from the log per round trip.
const PAGE: usize = 500;

/// A page of matching events, and how far the log was looked at.
pub(crate) struct Page {
    pub(crate) events: Vec<RecordedEvent>,
    /// Every event up to here that matches is in `events` (or was before the cursor).
    pub(crate) scanned_to: Position,
    /// Whether the page was full (more may follow at once).
    pub(crate) full: bool,
}

/// The matching events after `after`, with the head of the log read first in the same
/// read transaction: positions commit in order, so when the page is not full every
/// matching event up to that head is in it.
pub(crate) async fn page(store: &Store, filter: &LogQuery, after: Position) -> Result<Page, Error> {
    let mut query = filter.clone();
    query.after = after;
    query.limit = PAGE;
    let upcasters = std::sync::Arc::clone(store.app().upcasters());
    store
        .read(move |tx| {
            let head = crate::read::last_position(tx)?;
            let mut events = crate::read::read_log(tx, &query)?;
            crate::read::open_all(tx, &upcasters, &mut events)?;
            let full = events.len() == PAGE;
            let last = events.last().map_or(after, |e| e.position);
            let scanned_to = if full { last } else { last.max(head) };
            Ok(Page {
                events,
                scanned_to,
                full,
            })
        })
        .await
}
