//! Subscriptions: every matching event after a position, in order, then live ones as
//! they commit — none skipped, none twice.
//!
//! A subscription is a cursor over the log. It knows how far it has looked
//! (`scanned`, matches or not). While it is behind it reads the log page by page; once
//! caught up it takes the batches this process's writer publishes after each commit
//! (no database read at all), as long as each batch starts right after `scanned`.
//! A batch that does not (another process committed in between, or the subscriber fell
//! more than the channel's capacity behind) sends it back to reading the log; with
//! nothing published it also looks at the log every poll interval, for commits of
//! other processes. Positions are assigned in commit order under the write lock, so
//! reading "everything after `scanned`" never skips an event that commits later with
//! a lower position; a slow consumer costs the writer nothing and holds one page.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::watch;

use crate::event::{Position, SharedEvent};
use crate::writer::LiveBatch;
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
    /// The last event returned.
    cursor: Position,
    /// How far the log has been looked at (matching or not).
    scanned: Position,
    buffer: VecDeque<SharedEvent>,
    /// Whether the log has been read up to its head (then only published batches, or
    /// the poll interval, are worth waiting for).
    caught_up: bool,
    live: broadcast::Receiver<LiveBatch>,
    /// Bumped when any process commits (PostgreSQL LISTEN); else only polling finds those.
    elsewhere: Option<watch::Receiver<u64>>,
    poll: Duration,
}

impl Subscription {
    pub(crate) async fn new(
        store: Store,
        start: Start,
        filter: LogQuery,
        poll: Duration,
        live: broadcast::Receiver<LiveBatch>,
        elsewhere: Option<watch::Receiver<u64>>,
    ) -> Result<Self, Error> {
        let cursor = match start {
            Start::After(position) => position,
            Start::Now => store.head().await?,
        };
        Ok(Subscription {
            store,
            filter,
            cursor,
            scanned: cursor,
            buffer: VecDeque::new(),
            caught_up: false,
            live,
            elsewhere,
            poll,
        })
    }

    /// The position of the last event returned (or the starting point).
    pub fn cursor(&self) -> Position {
        self.cursor
    }

    /// The next matching event, waiting for one to commit if need be.
    ///
    /// The event is shared with every other subscriber of this process that gets it
    /// live (see [`SharedEvent`]); [`SharedEvent::into_event`] gives it by value.
    pub async fn next(&mut self) -> Result<SharedEvent, Error> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.cursor = event.position;
                return Ok(event);
            }
            match self.live.try_recv() {
                Ok(batch) => self.take_or_read(&batch).await?,
                Err(TryRecvError::Lagged(_)) => {
                    self.read_log().await?;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) if self.caught_up => {
                    self.wait().await?;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => {
                    self.read_log().await?;
                }
            }
        }
    }

    /// The next matching event (waiting for one if need be), followed by every further
    /// one already at hand ([`Subscription::ready`]), up to `max` in all. Lets a
    /// consumer handle events in batches (one network write for many) while it keeps
    /// up, and one at a time when they trickle in.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<SharedEvent>, Error> {
        let first = self.next().await?;
        let mut batch = Vec::with_capacity(max.clamp(1, 64));
        batch.push(first);
        self.ready_into(max, &mut batch);
        Ok(batch)
    }

    /// The matching events already at hand, without waiting or reading the database:
    /// those left from the last page read and those the writer has published since, up
    /// to `max`. Empty when there are none (or when the next ones must be read from the
    /// log: [`Subscription::next`] does that).
    pub fn ready(&mut self, max: usize) -> Vec<SharedEvent> {
        let mut batch = Vec::new();
        self.ready_into(max, &mut batch);
        batch
    }

    /// Moves events at hand into `batch` until it holds `max`.
    fn ready_into(&mut self, max: usize, batch: &mut Vec<SharedEvent>) {
        while batch.len() < max {
            if let Some(event) = self.buffer.pop_front() {
                batch.push(event);
                continue;
            }
            match self.live.try_recv() {
                Ok(published) => {
                    if !self.take(&published) {
                        // A gap: the next call reads the log first.
                        self.caught_up = false;
                        break;
                    }
                }
                Err(TryRecvError::Lagged(_)) => {
                    self.caught_up = false;
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if let Some(last) = batch.last() {
            self.cursor = last.position;
        }
    }

    async fn take_or_read(&mut self, batch: &LiveBatch) -> Result<(), Error> {
        if !self.take(batch) {
            self.read_log().await?;
        }
        Ok(())
    }

    /// Takes the matching events of a published batch if it continues what has been
    /// scanned; `false` if there is a gap to read from the log.
    fn take(&mut self, batch: &LiveBatch) -> bool {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return true;
        };
        if last.position <= self.scanned {
            return true;
        }
        if first.position.0 > self.scanned.0 + 1 {
            return false;
        }
        let fresh = batch.iter().filter(|e| e.position > self.scanned);
        self.buffer
            .extend(fresh.filter(|e| self.filter.matches(e)).cloned());
        self.scanned = last.position;
        true
    }

    /// Reads the next page of the log after `scanned`; whether it found anything new.
    async fn read_log(&mut self) -> Result<bool, Error> {
        let mut query = self.filter.clone();
        query.after = self.scanned;
        query.limit = PAGE;
        let before = self.scanned;
        let upcasters = std::sync::Arc::clone(self.store.app().upcasters());
        let (page, scanned) = self
            .store
            .read(move |tx| {
                let (mut page, scanned) = crate::read::read_page(tx, &query)?;
                crate::read::open_all(tx, &upcasters, &mut page)?;
                Ok((page, scanned))
            })
            .await?;
        self.caught_up = page.len() < PAGE;
        self.buffer.extend(page.into_iter().map(SharedEvent::from));
        self.scanned = scanned.max(before);
        Ok(!self.buffer.is_empty())
    }

    /// Waits for a published batch (this process's commits), word of another process's
    /// commit (PostgreSQL) or the poll interval, then looks at the log.
    async fn wait(&mut self) -> Result<(), Error> {
        let elsewhere = async {
            match self.elsewhere.as_mut() {
                Some(heard) => heard.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = self.live.recv() => match received {
                Ok(batch) => self.take_or_read(&batch).await,
                Err(RecvError::Lagged(_)) => self.read_log().await.map(drop),
                Err(RecvError::Closed) => {
                    tokio::time::sleep(self.poll).await;
                    self.read_log().await.map(drop)
                }
            },
            heard = elsewhere => {
                if !heard {
                    self.elsewhere = None;
                }
                self.read_log().await.map(drop)
            }
            () = tokio::time::sleep(self.poll) => self.read_log().await.map(drop),
        }
    }
}
