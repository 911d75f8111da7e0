//! The reactors of one store: their tasks, what each is doing, and stopping them.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::Reactor;
use super::runner::Follower;
use crate::Error;
use crate::checkpoint::Kind;
use crate::event::Position;
use crate::follower::{FollowerEntry, Held};

/// What one registered reactor is doing, shared with its task.
pub(crate) struct Entry {
    pub(super) reactor: Reactor,
    /// Whether this process holds the reactor's lock and follows the log.
    pub(super) running: AtomicBool,
    /// How far it got in this process (ahead of the durable checkpoint).
    pub(super) position: AtomicU64,
    /// Woken when a retry of a parked event is requested in this process.
    pub(super) wake: Notify,
}

impl FollowerEntry for Entry {
    const KIND: &'static str = "reactor";

    fn name(&self) -> &str {
        &self.reactor.name
    }

    fn key(&self) -> String {
        Kind::Reactor.key(&self.reactor.name)
    }

    fn lock_retry(&self) -> Duration {
        self.reactor.options.lock_retry
    }

    fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }

    fn follow<'a>(&'a self, held: Held<'a>) -> impl Future<Output = Result<(), Error>> + Send + 'a {
        Follower::new(held, self).run()
    }
}

impl Entry {
    pub(super) fn position(&self) -> Position {
        Position(self.position.load(Ordering::Relaxed))
    }

    pub(super) fn set_position(&self, position: Position) {
        self.position.store(position.0, Ordering::Relaxed);
    }

    pub(super) fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }
}

/// The reactors of a store and their tasks.
pub(crate) type Registry = crate::follower::Registry<Entry>;

/// Checks the reactors (valid, unique names) and prepares their registry, without
/// starting anything.
pub(crate) fn registry(reactors: Vec<Reactor>) -> Result<Registry, Error> {
    for reactor in &reactors {
        reactor.validate()?;
    }
    let entries = reactors
        .into_iter()
        .map(|reactor| Entry {
            reactor,
            running: AtomicBool::new(false),
            position: AtomicU64::new(0),
            wake: Notify::new(),
        })
        .collect();
    Registry::new(entries)
}
