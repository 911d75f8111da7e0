//! The followers of one kind and their tasks: named, one background task each,
//! spawned when the store opens, told to stop when the last caller's handle goes, and
//! awaited by an explicit stop.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{FollowerEntry, run_while_locked};
use crate::{Error, Store};

/// The followers of one kind ([`FollowerEntry::KIND`]) of a store and their tasks.
pub(crate) struct Registry<E> {
    pub(crate) entries: Vec<Arc<E>>,
    pub(crate) tasks: Arc<Tasks>,
}

impl<E: FollowerEntry> Registry<E> {
    /// Refuses two entries with one name; starts nothing.
    pub(crate) fn new(entries: Vec<E>) -> Result<Self, Error> {
        unique_names(E::KIND, entries.iter().map(FollowerEntry::name))?;
        Ok(Registry {
            entries: entries.into_iter().map(Arc::new).collect(),
            tasks: Tasks::new(E::KIND),
        })
    }

    /// Starts one task per entry on `store` (a handle that does not keep the store
    /// open: see [`Lifetime`]).
    pub(crate) fn start(&self, store: &Store) {
        for entry in &self.entries {
            let (store, entry) = (store.clone(), Arc::clone(entry));
            self.tasks
                .spawn(|stop| run_while_locked(store, entry, stop));
        }
    }

    /// The entry named `name`, when it is registered here.
    pub(crate) fn entry(&self, name: &str) -> Option<&Arc<E>> {
        self.entries.iter().find(|e| e.name() == name)
    }

    /// Tells every task to stop and waits until all have.
    pub(crate) async fn stop(&self) {
        self.tasks.stop().await;
    }
}

/// The tasks of one kind of follower (`what`: "reactor", "projection").
pub(crate) struct Tasks {
    what: &'static str,
    stop: watch::Sender<bool>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Tasks {
    pub(crate) fn new(what: &'static str) -> Arc<Tasks> {
        Arc::new(Tasks {
            what,
            stop: watch::channel(false).0,
            handles: Mutex::new(Vec::new()),
        })
    }

    /// Spawns `task`, handing it the stop signal it must watch.
    pub(crate) fn spawn<F, Fut>(&self, task: F)
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task(self.stop.subscribe()));
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// Tells every task to stop.
    pub(crate) fn signal_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Tells every task to stop and waits until all have.
    pub(crate) async fn stop(&self) {
        self.signal_stop();
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|e| e.into_inner()));
        for handle in handles {
            if let Err(err) = handle.await {
                tracing::error!(error = %err, "a {} task failed", self.what);
            }
        }
    }
}

/// Refuses two followers of one kind with the same name.
fn unique_names<'a>(what: &str, names: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(Error::invalid(
                what,
                format!("two {what}s are named {name:?}"),
            ));
        }
    }
    Ok(())
}

/// Held by every `Store` handle a caller has (not by the followers' own handles): when
/// the last one goes, every follower is told to stop, writes what it must and releases
/// the store.
pub(crate) struct Lifetime(Vec<Arc<Tasks>>);

impl Lifetime {
    pub(crate) fn new(tasks: Vec<Arc<Tasks>>) -> Self {
        Lifetime(tasks)
    }
}

impl Drop for Lifetime {
    fn drop(&mut self) {
        self.0.iter().for_each(|tasks| tasks.signal_stop());
    }
}
