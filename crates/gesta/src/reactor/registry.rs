//! The reactors of one store: their tasks, what each is doing, and stopping them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

use super::Reactor;
use crate::event::Position;
use crate::follower::Tasks;
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

impl Entry {
    pub(super) fn name(&self) -> &str {
        &self.reactor.name
    }

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
pub(crate) struct Registry {
    pub(super) entries: Vec<Arc<Entry>>,
    pub(crate) tasks: Arc<Tasks>,
}

impl Registry {
    /// Checks names (valid, unique) and prepares, without starting anything.
    pub(crate) fn new(reactors: Vec<Reactor>) -> Result<Registry, Error> {
        for reactor in &reactors {
            reactor.validate()?;
        }
        crate::follower::unique_names("reactor", reactors.iter().map(|x| x.name.as_str()))?;
        let entries = reactors
            .into_iter()
            .map(|reactor| {
                Arc::new(Entry {
                    reactor,
                    running: AtomicBool::new(false),
                    position: AtomicU64::new(0),
                    wake: Notify::new(),
                })
            })
            .collect();
        Ok(Registry {
            entries,
            tasks: Tasks::new("reactor"),
        })
    }

    /// Starts one task per reactor on `store` (a handle that does not keep the store
    /// open: see `follower::Lifetime`).
    pub(crate) fn start(&self, store: &Store) {
        for entry in &self.entries {
            let (store, entry) = (store.clone(), Arc::clone(entry));
            self.tasks
                .spawn(|stop| super::runner::run(store, entry, stop));
        }
    }

    /// The entry of reactor `name`, when it is registered here.
    pub(super) fn entry(&self, name: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|e| e.name() == name)
    }

    /// Tells every reactor to stop and waits until all have.
    pub(crate) async fn stop(&self) {
        self.tasks.stop().await;
    }
}
