//! A projection's task: take the lock, follow the log from the checkpoint, apply each
//! page of matching events in batches that move the checkpoint with them, and perform
//! requested rebuilds (checked in each batch's transaction, and when idle at each
//! poll or wake).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::registry::Entry;
use super::state::{self, Applied, Batch};
use super::{checkpoint_name, request};
use crate::event::Position;
use crate::follower::FollowerEntry as _;
use crate::reactor::{Lock, changed_or_sleep, page, stopped};
use crate::{Error, Store};

/// Runs projection `entry` until `stop` turns true: waits for the lock, follows the
/// log while it holds it, and after an error waits (doubling the wait while errors
/// go on) and starts over from the durable checkpoint.
pub(super) async fn run(store: Store, entry: Arc<Entry>, mut stop: watch::Receiver<bool>) {
    let name = checkpoint_name(entry.name());
    let options = entry.projection.options.clone();
    let mut lock = Lock::new(Arc::clone(store.backend()), &name);
    let mut failures = 0;
    while !*stop.borrow() {
        let mut wait = options.lock_retry;
        match lock.try_acquire().await {
            Ok(true) => {
                entry.set_running(true);
                tracing::info!(
                    projection = entry.name(),
                    "projection running in this process"
                );
                let mut follower = Follower {
                    store: &store,
                    entry: &entry,
                    name: &name,
                    lock: &mut lock,
                    stop: &mut stop,
                    failures: &mut failures,
                };
                let result = follower.run().await;
                entry.set_running(false);
                match result {
                    Ok(()) => break,
                    Err(err) => {
                        failures += 1;
                        wait = options.wait_after(failures);
                        tracing::warn!(projection = entry.name(), error = %err, ?wait, "projection failed; starting again from its checkpoint");
                        entry.set_error(Some(err.to_string()));
                        lock.release().await;
                    }
                }
            }
            Ok(false) => {
                tracing::debug!(
                    projection = entry.name(),
                    "projection runs in another process"
                )
            }
            Err(err) => {
                tracing::warn!(projection = entry.name(), error = %err, "cannot take the projection's lock")
            }
        }
        let _ = tokio::time::timeout(wait, stopped(&mut stop)).await;
    }
    lock.release().await;
}

/// Following the log while the lock is held.
struct Follower<'a> {
    store: &'a Store,
    entry: &'a Entry,
    name: &'a str,
    lock: &'a mut Lock,
    stop: &'a mut watch::Receiver<bool>,
    /// Consecutive failures, reset by a batch that commits.
    failures: &'a mut u32,
}

impl Follower<'_> {
    /// Follows the log until stopped (`Ok`) or an error.
    async fn run(&mut self) -> Result<(), Error> {
        let options = self.entry.projection.options.clone();
        let entry: &Entry = self.entry;
        let (projection, tables) = (entry.name(), &entry.projection.tables);
        let mut cursor = state::start(self.store, projection, tables).await?;
        let mut commits = self.store.watch_position();
        let mut next_check = Instant::now() + options.lock_retry;
        loop {
            if *self.stop.borrow() {
                return Ok(());
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + options.lock_retry;
                if !self.lock.still_held().await? {
                    return Err(lost_lock(self.name));
                }
            }
            commits.borrow_and_update();
            let filter = &self.entry.projection.filter;
            let page = page(self.store, filter, cursor).await?;
            // Idle: nothing new since the cursor, so no batch checks for a request.
            if page.scanned_to <= cursor
                && request::requested(self.store, projection).await?
                && state::rebuild_requested(self.store, projection, tables).await?
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
                .store
                .poll_interval()
                .min(next_check.saturating_duration_since(Instant::now()));
            tokio::select! {
                () = changed_or_sleep(&mut commits, wait) => {}
                () = stopped(self.stop) => {}
                () = self.entry.wake.notified() => {
                    cursor = state::start(self.store, projection, tables).await?;
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
        page: crate::reactor::Page,
        batch_size: usize,
    ) -> Result<Position, Error> {
        let mut events = page.events;
        while cursor < page.scanned_to {
            if *self.stop.borrow() {
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
                checkpoint: self.name.to_owned(),
                apply: Arc::clone(&self.entry.projection.apply),
                from: cursor,
                to,
                events: chunk,
            };
            match state::apply(self.store, batch).await? {
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
            *self.failures = 0;
            self.entry.set_error(None);
        }
        Ok(cursor)
    }
}

fn lost_lock(name: &str) -> Error {
    Error::Database(crate::sql::SqlError::new(
        crate::sql::SqlErrorKind::Connection,
        format!("lost the lock {name}"),
    ))
}
