//! Subscriptions: every matching event after a position, in order, then live ones as
//! they commit — none skipped, none twice.
//!
//! A subscription is a cursor over the log, not a queue: it reads the log page by page
//! after its cursor, and when it has caught up it waits until the writer commits (or,
//! for commits by other processes, until the poll interval passes) and reads again.
//! Because positions are assigned in commit order under the write lock, reading
//! "everything after the cursor" can never skip an event that commits later with a
//! lower position. A slow consumer costs the writer nothing and holds at most one page
//! in memory: it simply reads further behind.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::watch;

use crate::event::{Position, RecordedEvent};
use crate::{Error, LogQuery, Store};

/// Events read from the log per round trip.
const PAGE: usize = 500;

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After this position (0 = from the very first event).
    After(Position),
    /// After the last event committed when the subscription is made.
    Now,
}

/// A live, ordered view of the log.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), gesta::Error> {
/// use gesta::subscription::Start;
/// let store = gesta::Store::open("sqlite::memory:", gesta::App::new("demo")).await?;
/// let mut subscription = store.subscribe(Start::Now, gesta::LogQuery::default()).await?;
/// # Ok(()) }
/// ```
pub struct Subscription {
    store: Store,
    filter: LogQuery,
    cursor: Position,
    buffer: VecDeque<RecordedEvent>,
    commits: watch::Receiver<Position>,
    poll: Duration,
}

impl Subscription {
    pub(crate) async fn new(
        store: Store,
        start: Start,
        filter: LogQuery,
        poll: Duration,
    ) -> Result<Self, Error> {
        let commits = store.watch_position();
        let cursor = match start {
            Start::After(position) => position,
            Start::Now => store.head().await?,
        };
        Ok(Subscription {
            store,
            filter,
            cursor,
            buffer: VecDeque::new(),
            commits,
            poll,
        })
    }

    /// The position of the last event returned (or the starting point).
    pub fn cursor(&self) -> Position {
        self.cursor
    }

    /// The next matching event, waiting for one to commit if need be.
    pub async fn next(&mut self) -> Result<RecordedEvent, Error> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.cursor = event.position;
                return Ok(event);
            }
            if !self.fill().await? {
                self.wait().await;
            }
        }
    }

    /// Reads the next page after the cursor; whether it found anything.
    async fn fill(&mut self) -> Result<bool, Error> {
        let mut query = self.filter.clone();
        query.after = self.cursor;
        query.limit = PAGE;
        self.commits.borrow_and_update();
        let page = self.store.read_all(query).await?;
        self.buffer.extend(page);
        Ok(!self.buffer.is_empty())
    }

    /// Waits for this process's writer to commit, or for the poll interval (commits
    /// by other processes), whichever comes first.
    async fn wait(&mut self) {
        let _ = tokio::time::timeout(self.poll, self.commits.changed()).await;
    }
}
