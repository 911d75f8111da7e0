//! Importing events exactly as recorded elsewhere (`gesta copy`): same positions,
//! ids, versions and timestamps; no handlers run. The importing store's own reducers
//! do (`gesta copy` imports into a store without read models; the application's read
//! models catch up when it opens the store).

use std::collections::HashSet;

use super::append::{buffer, current_version, load_versions, reduce};
use super::batch::Writer;
use super::write_tx::WriteTx;
use crate::event::{EventId, RecordedEvent, StreamId, personal};
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
    /// Data subjects' keys (see [`crate::event::personal`]) in the order of their first
    /// sealed event: each is stored before the event at its first position (or at
    /// once, if that is before this batch); keys the target has are left alone.
    pub subject_keys: Vec<crate::event::personal::SubjectKey>,
}

impl Writer {
    /// Imports `batch` in one transaction; all or nothing.
    ///
    /// The rows go through the writer's buffer ([`super::LogBuffer`]), so they reach the
    /// tables in multi-row statements, as a batch of commands does.
    pub(super) fn import(&mut self, batch: ImportBatch) -> Result<u64, Error> {
        self.log.forget();
        self.session.begin(self.dialect.begin)?;
        let app = std::sync::Arc::clone(&self.app);
        let mut w = WriteTx::new(&mut self.session, &mut self.log);
        let dialect = self.dialect;
        let result = import_in(&mut w, &app, dialect, &batch).and_then(|count| {
            self.log.flush(self.session.conn.as_mut())?;
            Ok(count)
        });
        // The buffer is written or rolled back; what it cached is no longer known.
        self.log.forget();
        match result {
            Ok(count) => {
                self.session.end(true)?;
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
                let _ = self.session.end(false);
                Err(err)
            }
        }
    }
}

/// Buffers the events (and applies this store's own reducers to them, so its read
/// models stay at the head of the log), then stores the keys.
fn import_in(
    w: &mut WriteTx<'_>,
    app: &crate::App,
    dialect: &crate::backend::Dialect,
    batch: &ImportBatch,
) -> Result<u64, Error> {
    refuse_taken_ids(&mut w.tx(), &batch.events)?;
    let mut streams: Vec<&StreamId> = batch.events.iter().map(|e| &e.stream_id).collect();
    streams.sort_unstable();
    streams.dedup();
    load_versions(w, &streams)?;
    let first = crate::read::last_position(&mut w.tx())?.0 + 1;
    let mut subject_keys = batch.subject_keys.iter().peekable();
    for (expected, event) in (first..).zip(&batch.events) {
        if event.position.0 != expected {
            return Err(Error::ImportMismatch(format!(
                "event {} has position {}, but the target's log continues at {expected}",
                event.id, event.position
            )));
        }
        let current = current_version(w, &event.stream_id)?;
        if event.stream_version.0 != current.0 + 1 {
            return Err(Error::ImportMismatch(format!(
                "event {} has version {} of {}, but the target's stream is at {current}",
                event.id, event.stream_version, event.stream_id
            )));
        }
        while let Some(key) = subject_keys.next_if(|k| k.first_position <= event.position.0) {
            personal::import_key(&mut w.tx(), key)?;
        }
        buffer(w, event.clone())?;
        personal::import_erasure(&mut w.tx(), event)?;
        if app.read_models().is_empty() {
            continue;
        }
        if event.event_type == crate::history::reverts::REVERTED {
            rewind_for_revert(&mut w.tx(), app, dialect, event.position)?;
        }
        // Reducers see events as every read does: decrypted, in the current shape.
        let mut opened = [event.clone()];
        crate::read::open_all(&mut w.tx(), app.upcasters(), &mut opened)?;
        reduce(&mut w.tx(), app, &opened[0])?;
    }
    for key in subject_keys {
        personal::import_key(&mut w.tx(), key)?;
    }
    if let Some(last) = batch.events.last() {
        if !app.read_models().is_empty() {
            super::checkpoints::advance(&mut w.tx(), app, last.position)?;
        }
    }
    for key in &batch.keys {
        import_key(&mut w.tx(), key)?;
    }
    Ok(batch.events.len() as u64)
}

/// An imported revert (at `at`) takes effect as a recorded one does: the read
/// models are rewound to the log without the events it leaves out.
fn rewind_for_revert(
    tx: &mut Tx<'_>,
    app: &crate::App,
    dialect: &crate::backend::Dialect,
    at: crate::event::Position,
) -> Result<(), Error> {
    use crate::history::reverts::skipped_at;
    let head = crate::event::Position(at.0 - 1);
    let before = skipped_at(tx, head)?;
    let after = skipped_at(tx, at)?;
    if let Some(first) = before.first_difference(&after) {
        let start = crate::event::Position(first.0.saturating_sub(1));
        crate::history::revert::rewind(tx, app, dialect, start, head, &after)?;
    }
    Ok(())
}

/// Ids looked up in one statement.
const IDS_PER_QUERY: usize = 200;

/// [`Error::DuplicateEventId`] for the first event whose id is used twice in `events`
/// or already by an event of the log (looked up a few hundred ids per statement).
fn refuse_taken_ids(tx: &mut Tx<'_>, events: &[RecordedEvent]) -> Result<(), Error> {
    let mut seen = HashSet::with_capacity(events.len());
    if let Some(twice) = events.iter().find(|e| !seen.insert(e.id)) {
        return Err(Error::DuplicateEventId(twice.id));
    }
    for chunk in events.chunks(IDS_PER_QUERY) {
        let ids = chunk.iter().map(|e| e.id.to_string());
        let (list, params) = crate::sql::in_list("id", ids);
        let sql = format!("SELECT event_id FROM events WHERE event_id IN ({list})");
        if let Some(row) = tx.query(&sql, &params)?.first() {
            let taken: String = row.get("event_id")?;
            let id = uuid::Uuid::parse_str(&taken).map(EventId).map_err(|e| {
                Error::Database(crate::sql::SqlError::decode(format!(
                    "event_id {taken:?}: {e}"
                )))
            })?;
            return Err(Error::DuplicateEventId(id));
        }
    }
    Ok(())
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
