//! Store statistics (`gesta stats`) and health (`/healthz`).

use serde::Serialize;

use crate::backend::Durability;
use crate::event::Position;
use crate::sql::Params;
use crate::{Error, Tx};

/// How many events of one type the log holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeCount {
    /// The event type.
    pub event_type: String,
    /// How many events have it.
    pub count: u64,
}

/// A summary of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Events in the log.
    pub events: u64,
    /// Streams with at least one event.
    pub streams: u64,
    /// The first position (0 if empty).
    pub first_position: u64,
    /// The last position (0 if empty).
    pub last_position: u64,
    /// Stored idempotency keys.
    pub idempotency_keys: u64,
    /// Events per type (live and archived), most frequent first.
    pub types: Vec<TypeCount>,
    /// Events in the live table.
    pub live_events: u64,
    /// Bytes the live log takes in the database (SQLite: the whole file; PostgreSQL:
    /// the `events` table with its indexes and TOAST; MySQL: its data and indexes).
    pub live_bytes: u64,
    /// Events moved to the archive (see [`crate::archive`]).
    pub archived_events: u64,
    /// Segment files in the archive.
    pub archived_segments: u64,
    /// Compressed bytes of the archive's segments.
    pub archived_bytes: u64,
    /// The archive's location, if the store has one.
    pub archive: Option<String>,
}

/// The size of the live log, by the backend's own accounting.
fn live_bytes(tx: &mut Tx<'_>, backend: &str) -> Result<u64, Error> {
    let sql = match backend {
        "postgres" => "SELECT pg_total_relation_size('events') AS n",
        "mysql" => {
            "SELECT COALESCE(data_length + index_length, 0) AS n FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = 'events'"
        }
        _ => "SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()",
    };
    let n: Option<i64> = tx.query_scalar(sql, &Params::new())?;
    Ok(n.map_or(0, |n| n.max(0) as u64))
}

pub(super) fn collect(tx: &mut Tx<'_>, backend: &str) -> Result<Stats, Error> {
    let none = Params::new();
    let row = tx.query_one(
        "SELECT COUNT(*) AS n, COALESCE(MIN(position), 0) AS first, COALESCE(MAX(position), 0) AS last FROM events",
        &none,
    )?;
    let streams: Option<u64> = tx.query_scalar("SELECT COUNT(*) FROM streams", &none)?;
    let keys: Option<u64> = tx.query_scalar("SELECT COUNT(*) FROM commands", &none)?;
    let archived = crate::archive::read::totals(tx)?;
    let mut counts = archived.types;
    for r in tx.query(
        "SELECT event_type, COUNT(*) AS n FROM events GROUP BY event_type",
        &none,
    )? {
        *counts.entry(r.get("event_type")?).or_insert(0) += r.get::<u64>("n")?;
    }
    let mut types: Vec<TypeCount> = counts
        .into_iter()
        .map(|(event_type, count)| TypeCount { event_type, count })
        .collect();
    types.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.event_type.cmp(&b.event_type))
    });
    let live: u64 = row.get("n")?;
    let first: u64 = row.get("first")?;
    Ok(Stats {
        events: live + archived.events,
        streams: streams.unwrap_or(0),
        first_position: if archived.events > 0 { 1 } else { first },
        last_position: row.get::<u64>("last")?.max(archived.archived_to),
        idempotency_keys: keys.unwrap_or(0),
        types,
        live_events: live,
        live_bytes: live_bytes(tx, backend)?,
        archived_events: archived.events,
        archived_segments: archived.segments,
        archived_bytes: archived.bytes,
        archive: archived.location,
    })
}

/// What `/healthz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The backend's dialect name.
    pub backend: &'static str,
    /// Whether acknowledged commits are durable, and why.
    pub durability: Durability,
    /// The last committed position.
    pub last_position: Position,
    /// Jobs waiting for the writer.
    pub queue_depth: usize,
    /// The writer queue's capacity.
    pub queue_capacity: usize,
}
