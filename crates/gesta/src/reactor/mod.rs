//! Reactors: side effects (send an email, call a webhook) run after commit, outside the
//! write path (DESIGN.md section 4).
//!
//! A reactor has a name, a filter and an async function. It follows the log from its
//! own durable checkpoint (row `reactor:<name>` of `checkpoints`) and calls the function
//! with each matching event, one at a time, in position order:
//!
//! - **At least once.** The checkpoint is written after the function returned, at most
//!   every [`ReactorOptions::checkpoint_every`] events or
//!   [`ReactorOptions::checkpoint_interval`], always when an event is parked and when
//!   the reactor stops. After a crash, the events since the last checkpoint are
//!   delivered again: the receiving side de-duplicates by the event's id
//!   ([`RecordedEvent::id`]), which is the idempotency key.
//! - **Retries.** A failing event is tried again after an exponential backoff; after
//!   [`ReactorOptions::max_attempts`] failures it is **parked** (a dead letter, in
//!   table `parked_events` with its last error) and the reactor goes on. Operators list,
//!   retry (delivered once more by the running reactor) or skip parked events with
//!   [`Store::parked_events`], [`Store::retry_parked`], [`Store::skip_parked`], the CLI
//!   (`gesta reactors`) or `GET /admin/reactors`.
//! - **One process at a time.** Each reactor runs while its process holds the named
//!   lock `reactor:<name>` (see [`crate::backend::NamedLock`]); the other processes try
//!   again every [`ReactorOptions::lock_retry`] and take over when the holder dies.
//! - **Never on replay.** Rebuilding read models, catching them up and `gesta copy`
//!   run reducers only; a reactor only ever follows its own checkpoint.
//!
//! Reactors start when the store opens and stop when the last [`Store`] handle is
//! dropped, or at once with [`Store::stop_reactors`], which also waits for them. A call
//! in flight when a reactor stops is aborted and delivered again later. The choices
//! behind all this are in `docs/adr/006-reactor-locks-and-checkpoints.md`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), gesta::Error> {
//! use gesta::reactor::Reactor;
//! use gesta::{App, LogQuery, Store};
//!
//! let welcome = Reactor::new(
//!     "welcome-email",
//!     LogQuery::default().event_type("AccountOpened"),
//!     |event| async move {
//!         // Send the email, passing event.id as the idempotency key.
//!         println!("welcome {} ({})", event.stream_id, event.id);
//!         Ok(())
//!     },
//! );
//! let store = Store::builder(App::new("bank")).reactor(welcome).open().await?;
//! store.stop_reactors().await;
//! # Ok(()) }
//! ```

mod admin;
mod copy;
mod registry;
mod runner;
mod state;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::LogQuery;
use crate::event::RecordedEvent;

pub use admin::{ParkedEvent, ReactorStatus};
pub(crate) use copy::copy_state;
pub(crate) use registry::{Registry, registry};

#[cfg(doc)]
use crate::Store;

/// What a reactor's function returns on failure: any error (its message is kept with
/// a parked event).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;
type HandlerFn = dyn Fn(RecordedEvent) -> BoxFuture + Send + Sync;

/// A named side effect run for every event matching a filter.
#[derive(Clone)]
pub struct Reactor {
    name: String,
    filter: LogQuery,
    handler: Arc<HandlerFn>,
    options: ReactorOptions,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("name", &self.name)
            .field("filter", &self.filter)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Reactor {
    /// A reactor called `name` (1 to 200 characters, unique per store) running
    /// `handler` for every event `filter` accepts (its types, streams and categories;
    /// `after` and `limit` are ignored).
    pub fn new<F, Fut>(name: impl Into<String>, filter: LogQuery, handler: F) -> Self
    where
        F: Fn(RecordedEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        Reactor {
            name: name.into(),
            filter,
            handler: Arc::new(move |event| Box::pin(handler(event))),
            options: ReactorOptions::default(),
        }
    }

    /// Retries, checkpoints and locking.
    pub fn options(mut self, options: ReactorOptions) -> Self {
        self.options = options;
        self
    }

    /// The reactor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the name: 1 to 200 characters.
    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        if self.name.is_empty() || self.name.len() > 200 {
            return Err(crate::Error::invalid(
                "reactor",
                "a reactor's name must be 1 to 200 bytes",
            ));
        }
        Ok(())
    }
}

/// Where a reactor without a checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReactorStart {
    /// With the first event of the log (the default): nothing is missed.
    #[default]
    Beginning,
    /// After the last event committed when it first runs: for side effects that make
    /// no sense for old events.
    Head,
}

/// How a reactor retries, checkpoints and waits for its lock.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReactorOptions {
    /// Attempts per event before it is parked. Default 5.
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each further one. Default 200 ms.
    pub backoff_base: Duration,
    /// The longest wait between attempts. Default 30 s.
    pub backoff_max: Duration,
    /// How long one call may run before it counts as failed. Default 60 s.
    pub attempt_timeout: Duration,
    /// The checkpoint is written after at most this many delivered events... Default 10 000.
    pub checkpoint_every: u64,
    /// ...or once this much time has passed since it was last written. Default 1 s.
    pub checkpoint_interval: Duration,
    /// How often a process without the lock tries again, and how often the holder
    /// checks that it still holds it and looks for retry requests from other
    /// processes. Default 2 s.
    pub lock_retry: Duration,
    /// Where a reactor without a checkpoint starts. Default [`ReactorStart::Beginning`].
    pub start: ReactorStart,
}

impl Default for ReactorOptions {
    fn default() -> Self {
        ReactorOptions {
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(60),
            checkpoint_every: 10_000,
            checkpoint_interval: Duration::from_secs(1),
            lock_retry: Duration::from_secs(2),
            start: ReactorStart::Beginning,
        }
    }
}

impl ReactorOptions {
    /// Sets [`ReactorOptions::max_attempts`] (at least 1) and the backoff bounds.
    pub fn retries(mut self, max_attempts: u32, base: Duration, max: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.backoff_base = base;
        self.backoff_max = max.max(base);
        self
    }

    /// Sets [`ReactorOptions::attempt_timeout`].
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Sets [`ReactorOptions::checkpoint_every`] (at least 1) and
    /// [`ReactorOptions::checkpoint_interval`].
    pub fn checkpoint(mut self, every: u64, interval: Duration) -> Self {
        self.checkpoint_every = every.max(1);
        self.checkpoint_interval = interval;
        self
    }

    /// Sets [`ReactorOptions::lock_retry`] (at least 1 ms).
    pub fn lock_retry(mut self, interval: Duration) -> Self {
        self.lock_retry = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets [`ReactorOptions::start`].
    pub fn start(mut self, start: ReactorStart) -> Self {
        self.start = start;
        self
    }

    /// The wait after failed attempt number `attempt` (1-based).
    fn backoff(&self, attempt: u32) -> Duration {
        crate::follower::backoff(self.backoff_base, self.backoff_max, attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let options = ReactorOptions::default().retries(
            10,
            Duration::from_millis(10),
            Duration::from_millis(50),
        );
        let waits: Vec<u128> = (1..=5).map(|a| options.backoff(a).as_millis()).collect();
        assert_eq!(waits, [10, 20, 40, 50, 50]);
        assert_eq!(options.backoff(u32::MAX), Duration::from_millis(50));
    }
}
