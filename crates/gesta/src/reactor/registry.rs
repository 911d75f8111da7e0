//! The reactors of one store: their tasks, what each is doing, and stopping them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{Notify, watch};

use super::Reactor;
use crate::event::Position;
use crate::follower::FollowerEntry;
use crate::{Error, Store};

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
    fn name(&self) -> &str {
        &self.reactor.name
    }

    fn run(
        self: Arc<Self>,
        store: Store,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        super::runner::run(store, self, stop)
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
    Registry::new("reactor", entries)
}
