//! Async projections: read models that follow the log outside the write transaction
//! (DESIGN.md section 4), for analytics tables or search indexes that should not slow
//! the write path down.
//!
//! A projection has a name, the tables it owns, a filter and a function that applies
//! one event to its tables, like a reducer. It follows the log from its own durable
//! checkpoint (row `projection:<name>` of `checkpoints`), as a reactor does, but with
//! an **exactly-once** effect: each batch of events (at most
//! [`ProjectionOptions::batch_size`]) is applied in one transaction on the store's own
//! database that also moves the checkpoint, so after a crash a batch is either wholly
//! applied and checkpointed or not at all.
//!
//! - **Outside the write path.** Commands commit without waiting for projections; a
//!   projection is behind the head of the log by its **lag**, shown by
//!   [`Store::projections`], `GET /admin/projections` and `gesta_projection_lag` in
//!   `/metrics`.
//! - **On the writer's connection.** Batches run between two command batches (as a
//!   reactor's checkpoint writes do), without the log's write lock; a batch delays
//!   the next commands by the time it takes, so keep the function's SQL small or the
//!   batches short ([`ProjectionOptions::batch_size`]).
//! - **Failures stop it.** When the function fails, the batch is rolled back and tried
//!   again after an exponential backoff, and the error is shown with the projection's
//!   status; an event is never skipped (its tables would no longer match the log).
//! - **One process at a time.** It runs while its process holds the named lock
//!   `projection:<name>`, as a reactor does. The checkpoint also only moves from the
//!   position the batch was read at, so a batch applied by a process that lost the
//!   lock, or raced a rebuild, is rolled back instead of applied twice.
//! - **Rebuild.** [`Store::rebuild_projection`] empties its tables and resets its
//!   checkpoint in one transaction; the projection then replays the log. It needs the
//!   projection registered in the calling process (only it knows the tables); from
//!   any other process (the `gesta projections rebuild` CLI, a server that does not
//!   run it), [`Store::request_projection_rebuild`] records a durable request (row
//!   `projection-rebuild:<name>` of `checkpoints`) that the process running the
//!   projection performs, in one transaction that also removes the request: it checks
//!   in each batch's transaction, when idle at each poll (or wake), and when it
//!   starts, so a request made while no process runs the projection is performed
//!   when one does. [`ProjectionStatus::rebuild_requested`] shows it until then.
//! - Rebuilding the inline read models never touches a projection.
//!
//! For targets outside the store's database (another database, a search service), use
//! a [`crate::reactor::Reactor`]: at-least-once delivery with the event id as the
//! idempotency key.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), gesta::Error> {
//! use gesta::projection::Projection;
//! use gesta::{App, LogQuery, Migration, Store, params};
//!
//! let app = App::new("shop").migration(Migration::new(
//!     "0001",
//!     "CREATE TABLE type_counts (event_type VARCHAR(200) PRIMARY KEY, n BIGINT NOT NULL)",
//! ));
//! let counts = Projection::new("type-counts", &["type_counts"], LogQuery::default(), |tx, event| {
//!     let key = params! { "t" => event.event_type.as_str() };
//!     if tx.execute("UPDATE type_counts SET n = n + 1 WHERE event_type = :t", &key)? == 0 {
//!         tx.execute("INSERT INTO type_counts (event_type, n) VALUES (:t, 1)", &key)?;
//!     }
//!     Ok(())
//! });
//! let store = Store::builder(app).projection(counts).open().await?;
//! assert_eq!(store.projections().await?[0].name, "type-counts");
//! store.stop_projections().await;
//! # Ok(()) }
//! ```

mod registry;
mod request;
mod runner;
mod state;
mod status;

use std::sync::Arc;
use std::time::Duration;

use crate::event::RecordedEvent;
use crate::{HandlerError, LogQuery, Tx};

pub(crate) use registry::{Registry, registry};
pub use status::ProjectionStatus;

#[cfg(doc)]
use crate::Store;

type ApplyFn = dyn Fn(&mut Tx<'_>, &RecordedEvent) -> Result<(), HandlerError> + Send + Sync;

/// A read model kept up to date after commit, from its own checkpoint.
#[derive(Clone)]
pub struct Projection {
    name: String,
    tables: Vec<String>,
    filter: LogQuery,
    apply: Arc<ApplyFn>,
    options: ProjectionOptions,
}

impl std::fmt::Debug for Projection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projection")
            .field("name", &self.name)
            .field("tables", &self.tables)
            .field("filter", &self.filter)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Projection {
    /// A projection called `name` (1 to 200 bytes, unique per store) owning `tables`
    /// (emptied by a rebuild; created by the app's migrations), applying `apply` to
    /// every event `filter` accepts (its types, streams and categories; `after` and
    /// `limit` are ignored), in position order, in the store's database.
    pub fn new<F>(name: impl Into<String>, tables: &[&str], filter: LogQuery, apply: F) -> Self
    where
        F: Fn(&mut Tx<'_>, &RecordedEvent) -> Result<(), HandlerError> + Send + Sync + 'static,
    {
        Projection {
            name: name.into(),
            tables: tables.iter().map(|t| (*t).to_owned()).collect(),
            filter,
            apply: Arc::new(apply),
            options: ProjectionOptions::default(),
        }
    }

    /// Batch size, backoff and locking.
    pub fn options(mut self, options: ProjectionOptions) -> Self {
        self.options = options;
        self
    }

    /// The projection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tables it owns.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// Checks the name (1 to 200 bytes) and the table names (plain SQL identifiers).
    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        if self.name.is_empty() || self.name.len() > 200 {
            return Err(crate::Error::invalid(
                "projection",
                "a projection's name must be 1 to 200 bytes",
            ));
        }
        let plain = |t: &str| {
            !t.is_empty()
                && !t.starts_with(|c: char| c.is_ascii_digit())
                && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if let Some(table) = self.tables.iter().find(|t| !plain(t)) {
            return Err(crate::Error::invalid(
                "projection",
                format!("table name {table:?} is not a plain SQL identifier"),
            ));
        }
        Ok(())
    }
}

/// How a projection batches, backs off after a failure and waits for its lock.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProjectionOptions {
    /// Events applied per transaction. Default 100.
    pub batch_size: usize,
    /// The wait after the first failure; it doubles after each further one. Default 200 ms.
    pub backoff_base: Duration,
    /// The longest wait between attempts. Default 30 s.
    pub backoff_max: Duration,
    /// How often a process without the lock tries again, and how often the holder
    /// checks that it still holds it. Default 2 s.
    pub lock_retry: Duration,
}

impl Default for ProjectionOptions {
    fn default() -> Self {
        ProjectionOptions {
            batch_size: 100,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            lock_retry: Duration::from_secs(2),
        }
    }
}

impl ProjectionOptions {
    /// Sets [`ProjectionOptions::batch_size`] (1 to 10 000).
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch_size = events.clamp(1, crate::MAX_PAGE);
        self
    }

    /// Sets the backoff bounds.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max.max(base);
        self
    }

    /// Sets [`ProjectionOptions::lock_retry`] (at least 1 ms).
    pub fn lock_retry(mut self, interval: Duration) -> Self {
        self.lock_retry = interval.max(Duration::from_millis(1));
        self
    }

    /// The wait after consecutive failure number `failures` (1-based).
    fn wait_after(&self, failures: u32) -> Duration {
        crate::follower::backoff(self.backoff_base, self.backoff_max, failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tables_are_checked() {
        let apply = |_: &mut Tx<'_>, _: &RecordedEvent| Ok(());
        assert!(
            Projection::new("p", &["a_1"], LogQuery::default(), apply)
                .validate()
                .is_ok()
        );
        assert!(
            Projection::new("", &[], LogQuery::default(), apply)
                .validate()
                .is_err()
        );
        let evil = Projection::new("p", &["a; DROP TABLE events"], LogQuery::default(), apply);
        assert!(evil.validate().is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let options = ProjectionOptions::default()
            .backoff(Duration::from_millis(10), Duration::from_millis(50));
        let waits: Vec<u128> = (1..=5).map(|f| options.wait_after(f).as_millis()).collect();
        assert_eq!(waits, [10, 20, 40, 50, 50]);
    }
}
