//! The async projections of one store: their tasks, what each is doing, and stopping
//! them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::Projection;
use crate::{Error, Store};

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

impl Entry {
    pub(super) fn name(&self) -> &str {
        &self.projection.name
    }

    pub(super) fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    pub(super) fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }

    pub(super) fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn set_error(&self, error: Option<String>) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

/// The projections of a store and their tasks.
pub(crate) struct Registry {
    pub(super) entries: Vec<Arc<Entry>>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Registry {
    /// Checks names (valid, unique) and prepares, without starting anything.
    pub(crate) fn new(projections: Vec<Projection>) -> Result<Registry, Error> {
        let mut names = HashSet::new();
        for projection in &projections {
            projection.validate()?;
            if !names.insert(projection.name.clone()) {
                return Err(Error::invalid(
                    "projection",
                    format!("two projections are named {:?}", projection.name),
                ));
            }
        }
        let entries = projections
            .into_iter()
            .map(|projection| {
                Arc::new(Entry {
                    projection,
                    running: AtomicBool::new(false),
                    error: Mutex::new(None),
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

    /// Starts one task per projection on `store` (a handle that does not keep the
    /// store open).
    pub(crate) fn start(&self, store: &Store) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for entry in &self.entries {
            let task = super::runner::run(store.clone(), Arc::clone(entry), self.stop.subscribe());
            tasks.push(tokio::spawn(task));
        }
    }

    /// The entry of projection `name`, when it is registered here.
    pub(super) fn entry(&self, name: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|e| e.name() == name)
    }

    /// Tells every projection to stop (after the batch it is applying).
    pub(crate) fn signal_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Tells every projection to stop and waits until all have.
    pub(crate) async fn stop(&self) {
        self.signal_stop();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "a projection task failed");
            }
        }
    }
}

/// Held by every [`Store`] handle a caller has: when the last one goes, the
/// projections stop and release the store.
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
