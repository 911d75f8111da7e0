//! What a batch owes the log tables. During a batch the writer buffers new events and
//! stream versions and writes them in multi-row statements: at the end of the batch,
//! and before any statement that mentions `events` or `streams` (so handlers and
//! reducers that read those tables see every earlier command). On a database server
//! that saves several round trips per command. Stream versions known at the last
//! commit are cached while no other process writes.

use std::collections::{HashMap, HashSet};

use crate::backend::{Connection, Dialect};
use crate::event::{EventId, Position, RecordedEvent, StreamId, StreamVersion};
use crate::sql::{SqlError, Value};

/// Rows per multi-row statement.
const CHUNK: usize = 64;
/// Cached stream versions kept at most.
const MAX_KNOWN: usize = 100_000;

/// Where the buffer stood when the current unit started.
#[derive(Debug, Default, Clone, Copy)]
struct Mark {
    events: usize,
}

/// Buffered log writes of the current batch, and the stream-version cache.
pub(crate) struct LogBuffer {
    dialect: &'static Dialect,
    events: Vec<RecordedEvent>,
    /// `events[..flushed]` are in the database (inside the open transaction).
    flushed: usize,
    ids: HashSet<EventId>,
    /// Versions set by the current unit.
    unit: HashMap<StreamId, StreamVersion>,
    /// Versions set by earlier units of this batch.
    batch: HashMap<StreamId, StreamVersion>,
    /// Versions as of the last commit of this writer.
    known: HashMap<StreamId, StreamVersion>,
    /// The last position this writer committed, while the cache is valid.
    known_at: Option<Position>,
    mark: Mark,
    /// `events[..segment]` were written before the writer's savepoint: a rollback to
    /// it keeps them.
    segment: usize,
    /// The current unit's own rows or versions reached the database.
    unit_wrote: bool,
}

impl LogBuffer {
    pub(crate) fn new(dialect: &'static Dialect) -> Self {
        LogBuffer {
            dialect,
            events: Vec::new(),
            flushed: 0,
            ids: HashSet::new(),
            unit: HashMap::new(),
            batch: HashMap::new(),
            known: HashMap::new(),
            known_at: None,
            mark: Mark::default(),
            segment: 0,
            unit_wrote: false,
        }
    }

    /// A batch starts at `last` (read under the write lock): the cache is kept only if
    /// nobody else wrote since this writer's last commit.
    pub(super) fn start_batch(&mut self, last: Position) {
        if self.known_at != Some(last) {
            self.known.clear();
        }
        self.discard_batch();
    }

    pub(super) fn start_unit(&mut self) {
        self.unit.clear();
        self.unit_wrote = false;
        self.mark = Mark {
            events: self.events.len(),
        };
    }

    pub(super) fn unit_succeeded(&mut self) {
        self.batch.extend(self.unit.drain());
    }

    /// The unit failed: forget its events and versions. `rolled_back` says whether the
    /// writer rolled back to its savepoint (`Writer` in batch.rs), which removed every
    /// row written since [`LogBuffer::start_segment`]; otherwise the unit wrote nothing
    /// of its own and what was flushed stays.
    pub(super) fn unit_failed(&mut self, rolled_back: bool) {
        for event in self.events.drain(self.mark.events..) {
            self.ids.remove(&event.id);
        }
        if rolled_back {
            self.flushed = self.flushed.min(self.segment);
        }
        self.flushed = self.flushed.min(self.events.len());
        self.unit.clear();
    }

    /// The writer set its savepoint: what was written so far survives a rollback to it.
    pub(super) fn start_segment(&mut self) {
        self.segment = self.flushed;
    }

    /// Whether the current unit's own rows or versions reached the database (a
    /// statement concerning the log tables wrote them first).
    pub(super) fn unit_wrote(&self) -> bool {
        self.unit_wrote
    }

    /// The batch committed up to `last`: its versions become known.
    pub(super) fn committed(&mut self, last: Position) {
        if self.known.len() + self.batch.len() > MAX_KNOWN {
            self.known.clear();
        }
        self.known.extend(self.batch.drain());
        self.known_at = Some(last);
        self.discard_batch();
    }

    /// Forgets everything, the cache included (after a failed batch, an import, a rebuild).
    pub(super) fn forget(&mut self) {
        self.known.clear();
        self.known_at = None;
        self.discard_batch();
    }

    fn discard_batch(&mut self) {
        self.events.clear();
        self.ids.clear();
        self.flushed = 0;
        self.segment = 0;
        self.unit_wrote = false;
        self.unit.clear();
        self.batch.clear();
    }

    /// The version `stream` is at, if this batch or the cache knows it.
    pub(super) fn version(&self, stream: &StreamId) -> Option<StreamVersion> {
        self.unit
            .get(stream)
            .or_else(|| self.batch.get(stream))
            .or_else(|| self.known.get(stream))
            .copied()
    }

    /// Remembers a version read from the database (the committed state).
    pub(super) fn learn(&mut self, stream: &StreamId, version: StreamVersion) {
        self.known.insert(stream.clone(), version);
    }

    pub(super) fn set_version(&mut self, stream: &StreamId, version: StreamVersion) {
        self.unit.insert(stream.clone(), version);
    }

    /// Whether `id` is already used by an event of this batch.
    pub(super) fn has_id(&self, id: &EventId) -> bool {
        self.ids.contains(id)
    }

    pub(super) fn push(&mut self, event: RecordedEvent) {
        self.ids.insert(event.id);
        self.events.push(event);
    }

    /// Whether `sql` may read or write the log tables, so buffered rows must be written
    /// first.
    pub(crate) fn concerns(&self, sql: &str) -> bool {
        let dirty =
            self.flushed < self.events.len() || !self.unit.is_empty() || !self.batch.is_empty();
        dirty && (mentions(sql, b"events") || mentions(sql, b"streams"))
    }

    /// Ends the batch in one statement, the dialect's `finish` ([`Dialect::finish_batch`]):
    /// the events not yet written, every stream version this batch set, the
    /// `checkpoints` moved to `last`, and the commit announced.
    pub(crate) fn finish(
        &mut self,
        conn: &mut dyn Connection,
        finish: &str,
        checkpoints: &[String],
        last: Position,
    ) -> Result<(), SqlError> {
        use std::fmt::Write as _;
        let mut events = String::from("[");
        for (i, e) in self.events[self.flushed..].iter().enumerate() {
            if i > 0 {
                events.push(',');
            }
            let _ = write!(
                events,
                "{{\"position\":{},\"stream_version\":{},\"recorded_at\":{},\"event_id\":\"{}\",\"stream_id\":",
                e.position.0, e.stream_version.0, e.recorded_at.0, e.id
            );
            push_json_str(&mut events, e.stream_id.as_str());
            events.push_str(",\"event_type\":");
            push_json_str(&mut events, e.event_type.as_str());
            events.push_str(",\"data\":");
            events.push_str(e.data.get());
            events.push_str(",\"metadata\":");
            events.push_str(e.metadata.get());
            events.push('}');
        }
        events.push(']');
        let mut versions = String::from("[");
        let earlier = self
            .batch
            .iter()
            .filter(|(stream, _)| !self.unit.contains_key(*stream));
        for (i, (stream, version)) in earlier.chain(self.unit.iter()).enumerate() {
            if i > 0 {
                versions.push(',');
            }
            versions.push_str("{\"stream_id\":");
            push_json_str(&mut versions, stream.as_str());
            let _ = write!(versions, ",\"version\":{}}}", version.0);
        }
        versions.push(']');
        let names = serde_json::to_string(checkpoints)
            .map_err(|e| SqlError::decode(format!("checkpoint names: {e}")))?;
        let params = [
            Value::Text(events),
            Value::Text(versions),
            Value::from(last.0),
            Value::Integer(crate::event::Timestamp::now().0),
            Value::Text(names),
        ];
        conn.query(finish, &params, &mut |_| Ok(()))?;
        self.flushed = self.events.len();
        Ok(())
    }

    /// Writes buffered events and every stream version this batch set.
    pub(crate) fn flush(&mut self, conn: &mut dyn Connection) -> Result<(), SqlError> {
        if !self.unit.is_empty() || self.events.len() > self.mark.events.max(self.flushed) {
            self.unit_wrote = true;
        }
        while self.flushed < self.events.len() {
            let end = (self.flushed + CHUNK).min(self.events.len());
            insert_events(conn, self.dialect, &self.events[self.flushed..end])?;
            self.flushed = end;
        }
        let earlier = self
            .batch
            .iter()
            .filter(|(stream, _)| !self.unit.contains_key(*stream));
        let versions: Vec<(&StreamId, &StreamVersion)> = earlier.chain(self.unit.iter()).collect();
        for chunk in versions.chunks(CHUNK) {
            upsert_streams(conn, self.dialect, chunk)?;
        }
        Ok(())
    }
}

/// `text` as a JSON string.
fn push_json_str(out: &mut String, text: &str) {
    // Serializing a `str` cannot fail.
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned()));
}

pub(super) fn mentions(sql: &str, word: &[u8]) -> bool {
    sql.as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word))
}

fn values_list(dialect: &Dialect, rows: usize, columns: usize, sql: &mut String) {
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            n += 1;
            dialect.placeholder.render(n, sql);
        }
        sql.push(')');
    }
}

fn insert_events(
    conn: &mut dyn Connection,
    dialect: &Dialect,
    events: &[RecordedEvent],
) -> Result<(), SqlError> {
    let mut sql = String::from(
        "INSERT INTO events (position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) VALUES ",
    );
    values_list(dialect, events.len(), 8, &mut sql);
    let mut values = Vec::with_capacity(events.len() * 8);
    for e in events {
        values.extend([
            Value::from(e.position.0),
            Value::from(e.stream_id.as_str()),
            Value::from(e.stream_version.0),
            Value::Text(e.id.to_string()),
            Value::from(e.event_type.as_str()),
            Value::from(e.data.get()),
            Value::from(e.metadata.get()),
            Value::Integer(e.recorded_at.0),
        ]);
    }
    conn.execute(&sql, &values).map(drop)
}

fn upsert_streams(
    conn: &mut dyn Connection,
    dialect: &Dialect,
    versions: &[(&StreamId, &StreamVersion)],
) -> Result<(), SqlError> {
    let mut sql = String::from("INSERT INTO streams (stream_id, version) VALUES ");
    values_list(dialect, versions.len(), 2, &mut sql);
    sql.push(' ');
    sql.push_str(dialect.upsert_streams_suffix);
    let values: Vec<Value> = versions
        .iter()
        .flat_map(|(stream, version)| [Value::from(stream.as_str()), Value::from(version.0)])
        .collect();
    conn.execute(&sql, &values).map(drop)
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn mentions_is_case_insensitive() {
        assert!(mentions("select * from EVENTS", b"events"));
        assert!(!mentions("UPDATE accounts SET balance = 1", b"events"));
    }
}
