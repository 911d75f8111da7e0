//! The reactors of one store: their tasks, what each is doing, and stopping them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::Reactor;
use crate::event::Position;
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
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Registry {
    /// Checks names (valid, unique) and prepares, without starting anything.
    pub(crate) fn new(reactors: Vec<Reactor>) -> Result<Registry, Error> {
        let mut names = HashSet::new();
        for reactor in &reactors {
            reactor.validate()?;
            if !names.insert(reactor.name.clone()) {
                return Err(Error::invalid(
                    "reactor",
                    format!("two reactors are named {:?}", reactor.name),
                ));
            }
        }
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
            stop: watch::channel(false).0,
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Starts one task per reactor on `store` (a handle that does not keep the store
    /// open: see [`Lifetime`]).
    pub(crate) fn start(&self, store: &Store) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for entry in &self.entries {
            let task = super::runner::run(store.clone(), Arc::clone(entry), self.stop.subscribe());
            tasks.push(tokio::spawn(task));
        }
    }

    /// The entry of reactor `name`, when it is registered here.
    pub(super) fn entry(&self, name: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|e| e.name() == name)
    }

    /// Tells every reactor to stop (each writes its checkpoint first).
    pub(crate) fn signal_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Tells every reactor to stop and waits until all have.
    pub(crate) async fn stop(&self) {
        self.signal_stop();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "a reactor task failed");
            }
        }
    }
}

/// Held by every [`Store`] handle a caller has (not by the reactors' own): when the
/// last one goes, the reactors stop, write their checkpoints and release the store.
pub(crate) struct Lifetime {
    registry: Arc<Registry>,
}

impl Lifetime {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Lifetime { registry }
    }
}

impl Drop for Lifetime {
    fn drop(&mut self) {
        self.registry.signal_stop();
    }
}
