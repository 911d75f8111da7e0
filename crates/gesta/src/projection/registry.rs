//! The async projections of one store: their tasks, what each is doing, and stopping
//! them.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::Projection;
use super::runner::Follower;
use crate::Error;
use crate::checkpoint::Kind;
use crate::follower::{FollowerEntry, Held};

/// What one registered projection is doing, shared with its task.
pub(crate) struct Entry {
    pub(super) projection: Projection,
    /// Whether this process holds the projection's lock and follows the log.
    running: AtomicBool,
    /// The last failure, until a batch succeeds again.
    error: Mutex<Option<String>>,
    /// Woken after a rebuild, so the projection starts over at once.
    pub(super) wake: Notify,
}

impl FollowerEntry for Entry {
    const KIND: &'static str = "projection";

    fn name(&self) -> &str {
        &self.projection.name
    }

    fn key(&self) -> String {
        Kind::Projection.key(&self.projection.name)
    }

    fn lock_retry(&self) -> Duration {
        self.projection.options.lock_retry
    }

    /// Backs off exponentially while failures go on.
    fn wait_after(&self, failures: u32) -> Duration {
        self.projection.options.wait_after(failures)
    }

    fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }

    /// Shown with the projection's status until a batch succeeds again.
    fn failed(&self, error: &Error) {
        self.set_error(Some(error.to_string()));
    }

    fn follow<'a>(&'a self, held: Held<'a>) -> impl Future<Output = Result<(), Error>> + Send + 'a {
        Follower { held, entry: self }.run()
    }
}

impl Entry {
    pub(super) fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    pub(super) fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn set_error(&self, error: Option<String>) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

/// The projections of a store and their tasks.
pub(crate) type Registry = crate::follower::Registry<Entry>;

/// Checks the projections (valid, unique names) and prepares their registry, without
/// starting anything.
pub(crate) fn registry(projections: Vec<Projection>) -> Result<Registry, Error> {
    for projection in &projections {
        projection.validate()?;
    }
    let entries = projections
        .into_iter()
        .map(|projection| Entry {
            projection,
            running: AtomicBool::new(false),
            error: Mutex::new(None),
            wake: Notify::new(),
        })
        .collect();
    Registry::new(entries)
}
