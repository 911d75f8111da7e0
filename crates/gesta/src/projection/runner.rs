//! A projection while it holds its lock: follow the log from the checkpoint, apply
//! each page of matching events in batches that move the checkpoint with them, and
//! perform requested rebuilds (checked in each batch's transaction, and when idle at
//! each poll or wake).

use std::sync::Arc;
use std::time::Instant;

use super::registry::Entry;
use super::request;
use super::state::{self, Applied, Batch};
use crate::Error;
use crate::event::Position;
use crate::follower::{FollowerEntry as _, Held, Page, changed_or_sleep, page, stopped};

/// Following the log while the lock is held.
pub(super) struct Follower<'a> {
    pub(super) held: Held<'a>,
    pub(super) entry: &'a Entry,
}

impl Follower<'_> {
    /// Follows the log until stopped (`Ok`) or an error.
    pub(super) async fn run(mut self) -> Result<(), Error> {
        let options = self.entry.projection.options.clone();
        let entry: &Entry = self.entry;
        let (projection, tables) = (entry.name(), &entry.projection.tables);
        let mut cursor = state::start(self.held.store, projection, tables).await?;
        let mut commits = self.held.store.watch_position();
        let mut next_check = Instant::now() + options.lock_retry;
        loop {
            if self.held.is_stopped() {
                return Ok(());
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + options.lock_retry;
                self.held.check_lock().await?;
            }
            commits.borrow_and_update();
            let filter = &self.entry.projection.filter;
            let page = page(self.held.store, filter, cursor).await?;
            // Idle: nothing new since the cursor, so no batch checks for a request.
            if page.scanned_to <= cursor
                && request::requested(self.held.store, projection).await?
                && state::rebuild_requested(self.held.store, projection, tables).await?
            {
                tracing::info!(projection, "projection rebuilt as requested; replaying");
                cursor = Position(0);
                continue;
            }
            let full = page.full;
            cursor = self.apply_page(cursor, page, options.batch_size).await?;
            if full {
                continue;
            }
            let wait = self
                .held
                .store
                .poll_interval()
                .min(next_check.saturating_duration_since(Instant::now()));
            tokio::select! {
                () = changed_or_sleep(&mut commits, wait) => {}
                () = stopped(self.held.stop) => {}
                () = self.entry.wake.notified() => {
                    cursor = state::start(self.held.store, projection, tables).await?;
                }
            }
        }
    }

    /// Applies `page` (read after `cursor`) in batches; the new cursor. When the
    /// checkpoint moved under it (a rebuild), the rest of the page is dropped and the
    /// cursor is where the checkpoint is now.
    async fn apply_page(
        &mut self,
        mut cursor: Position,
        page: Page,
        batch_size: usize,
    ) -> Result<Position, Error> {
        let mut events = page.events;
        while cursor < page.scanned_to {
            if self.held.is_stopped() {
                break;
            }
            let rest = events.split_off(events.len().min(batch_size));
            let chunk = std::mem::replace(&mut events, rest);
            let to = match (events.is_empty(), chunk.last()) {
                (false, Some(last)) => last.position,
                _ => page.scanned_to,
            };
            let batch = Batch {
                projection: self.entry.name().to_owned(),
                tables: self.entry.projection.tables.clone(),
                checkpoint: self.held.key.to_owned(),
                apply: Arc::clone(&self.entry.projection.apply),
                from: cursor,
                to,
                events: chunk,
            };
            match state::apply(self.held.store, batch).await? {
                Applied::Done => cursor = to,
                Applied::Moved(now) => {
                    tracing::info!(
                        projection = self.entry.name(),
                        from = cursor.0,
                        now = now.0,
                        "projection checkpoint moved elsewhere; following from there"
                    );
                    return Ok(now);
                }
                Applied::Rebuilt => {
                    tracing::info!(
                        projection = self.entry.name(),
                        "projection rebuilt as requested; replaying"
                    );
                    return Ok(Position(0));
                }
            }
            *self.held.failures = 0;
            self.entry.set_error(None);
        }
        Ok(cursor)
    }
}
