//! A follower's named lock, taken and checked on a blocking thread (the drivers are
//! synchronous): whoever holds it is the one process that runs the follower.

use std::sync::Arc;

use crate::Error;
use crate::backend::{Backend, NamedLock};
use crate::sql::SqlError;

/// The lock of one follower, over its own connection (or file, on SQLite).
pub(crate) struct Lock {
    backend: Arc<dyn Backend>,
    name: String,
    handle: Option<Box<dyn NamedLock>>,
}

impl Lock {
    pub(crate) fn new(backend: Arc<dyn Backend>, name: &str) -> Self {
        Lock {
            backend,
            name: name.to_owned(),
            handle: None,
        }
    }

    /// Takes the lock if nobody holds it; `false` when another process does.
    pub(crate) async fn try_acquire(&mut self) -> Result<bool, Error> {
        self.blocking(|lock| lock.try_acquire()).await
    }

    /// Whether this process still holds the lock it took.
    pub(crate) async fn still_held(&mut self) -> Result<bool, Error> {
        self.blocking(|lock| lock.still_held()).await
    }

    /// Runs `op` on the handle (opening one first if need be); a handle that failed is
    /// dropped, so the next call opens a fresh one.
    async fn blocking(
        &mut self,
        op: fn(&mut dyn NamedLock) -> Result<bool, SqlError>,
    ) -> Result<bool, Error> {
        let (backend, name, handle) = (
            Arc::clone(&self.backend),
            self.name.clone(),
            self.handle.take(),
        );
        let (handle, result) = tokio::task::spawn_blocking(move || {
            let mut handle = match handle.map_or_else(|| backend.named_lock(&name), Ok) {
                Ok(handle) => handle,
                Err(err) => return (None, Err(err)),
            };
            match op(handle.as_mut()) {
                Ok(held) => (Some(handle), Ok(held)),
                Err(err) => (None, Err(err)),
            }
        })
        .await
        .map_err(|e| Error::internal(format!("the task of lock {} failed: {e}", self.name)))?;
        self.handle = handle;
        Ok(result?)
    }

    /// Releases the lock (closes its connection or file) on a blocking thread.
    pub(crate) async fn release(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = tokio::task::spawn_blocking(move || drop(handle)).await;
        }
    }
}
