//! The async projections of one store: their tasks, what each is doing, and stopping
//! them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::Projection;
use crate::follower::Tasks;
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
    pub(crate) tasks: Arc<Tasks>,
}

impl Registry {
    /// Checks names (valid, unique) and prepares, without starting anything.
    pub(crate) fn new(projections: Vec<Projection>) -> Result<Registry, Error> {
        for projection in &projections {
            projection.validate()?;
        }
        crate::follower::unique_names("projection", projections.iter().map(|x| x.name.as_str()))?;
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
            tasks: Tasks::new("projection"),
        })
    }

    /// Starts one task per projection on `store` (a handle that does not keep the
    /// store open).
    pub(crate) fn start(&self, store: &Store) {
        for entry in &self.entries {
            let (store, entry) = (store.clone(), Arc::clone(entry));
            self.tasks
                .spawn(|stop| super::runner::run(store, entry, stop));
        }
    }

    /// The entry of projection `name`, when it is registered here.
    pub(super) fn entry(&self, name: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|e| e.name() == name)
    }

    /// Tells every projection to stop and waits until all have.
    pub(crate) async fn stop(&self) {
        self.tasks.stop().await;
    }
}
