//! Importing events exactly as recorded elsewhere (`gesta copy`): same positions,
//! ids, versions and timestamps; no handlers run. The importing store's own reducers
//! do (`gesta copy` imports into a store without read models; the application's read
//! models catch up when it opens the store).

use std::collections::HashMap;

use super::append::{insert, reduce, set_stream_version};
use super::batch::Writer;
use crate::event::{RecordedEvent, StreamId, StreamVersion};
use crate::{Error, Tx, params};

/// A stored idempotency key and its outcome, as copied between stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key.
    pub key: String,
    /// The stored outcome (JSON text).
    pub outcome: String,
    /// When it was stored (microseconds since the epoch).
    pub recorded_at: i64,
}

/// Events (continuing the target's log) and idempotency keys to import.
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    /// Events in position order; the first must directly follow the target's last.
    pub events: Vec<RecordedEvent>,
    /// Idempotency keys; keys the target already has are left alone.
    pub keys: Vec<StoredKey>,
}

impl Writer {
    /// Imports `batch` in one transaction; all or nothing.
    pub(super) fn import(&mut self, batch: ImportBatch) -> Result<u64, Error> {
        self.pending.forget();
        self.begin()?;
        let (dialect, app) = (self.dialect, std::sync::Arc::clone(&self.app));
        let result = import_in(&mut self.session.tx(), dialect, &app, &batch);
        match result {
            Ok(count) => {
                self.exec("COMMIT")?;
                if let Some(last) = batch.events.last() {
                    self.committed.send_if_modified(|current| {
                        let moved = last.position > *current;
                        *current = (*current).max(last.position);
                        moved
                    });
                }
                Ok(count)
            }
            Err(err) => {
                let _ = self.exec("ROLLBACK");
                Err(err)
            }
        }
    }
}

/// Inserts the events (and applies this store's own reducers to them, so its read
/// models stay at the head of the log), then the keys.
fn import_in(
    tx: &mut Tx<'_>,
    dialect: &crate::backend::Dialect,
    app: &crate::App,
    batch: &ImportBatch,
) -> Result<u64, Error> {
    let first = crate::read::last_position(tx)?.0 + 1;
    let mut versions: HashMap<&StreamId, StreamVersion> = HashMap::new();
    for (expected, event) in (first..).zip(&batch.events) {
        if event.position.0 != expected {
            return Err(Error::ImportMismatch(format!(
                "event {} has position {}, but the target's log continues at {expected}",
                event.id, event.position
            )));
        }
        let current = match versions.get(&event.stream_id) {
            Some(v) => *v,
            None => crate::read::stream_version(tx, &event.stream_id)?,
        };
        if event.stream_version.0 != current.0 + 1 {
            return Err(Error::ImportMismatch(format!(
                "event {} has version {} of {}, but the target's stream is at {current}",
                event.id, event.stream_version, event.stream_id
            )));
        }
        insert(tx, event)?;
        reduce(tx, app, event)?;
        versions.insert(&event.stream_id, event.stream_version);
    }
    for (stream, version) in versions {
        set_stream_version(tx, dialect, stream, version)?;
    }
    if let Some(last) = batch.events.last() {
        if !app.read_models().is_empty() {
            super::checkpoints::advance(tx, app, last.position)?;
        }
    }
    for key in &batch.keys {
        import_key(tx, key)?;
    }
    Ok(batch.events.len() as u64)
}

fn import_key(tx: &mut Tx<'_>, key: &StoredKey) -> Result<(), Error> {
    let exists: Option<String> = tx.query_scalar(
        "SELECT idempotency_key FROM commands WHERE idempotency_key = :key",
        &params! { "key" => key.key.as_str() },
    )?;
    if exists.is_none() {
        tx.execute(
            "INSERT INTO commands (idempotency_key, outcome, recorded_at) VALUES (:key, :outcome, :at)",
            &params! { "key" => key.key.as_str(), "outcome" => key.outcome.as_str(), "at" => key.recorded_at },
        )?;
    }
    Ok(())
}
