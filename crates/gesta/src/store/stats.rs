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
    /// Events per type, most frequent first.
    pub types: Vec<TypeCount>,
}

pub(super) fn collect(tx: &mut Tx<'_>) -> Result<Stats, Error> {
    let none = Params::new();
    let row = tx.query_one(
        "SELECT COUNT(*) AS n, COALESCE(MIN(position), 0) AS first, COALESCE(MAX(position), 0) AS last FROM events",
        &none,
    )?;
    let streams: Option<u64> = tx.query_scalar("SELECT COUNT(*) FROM streams", &none)?;
    let keys: Option<u64> = tx.query_scalar("SELECT COUNT(*) FROM commands", &none)?;
    let types = tx
        .query(
            "SELECT event_type, COUNT(*) AS n FROM events GROUP BY event_type ORDER BY n DESC, event_type",
            &none,
        )?
        .into_iter()
        .map(|r| Ok(TypeCount { event_type: r.get("event_type")?, count: r.get("n")? }))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Stats {
        events: row.get("n")?,
        streams: streams.unwrap_or(0),
        first_position: row.get("first")?,
        last_position: row.get("last")?,
        idempotency_keys: keys.unwrap_or(0),
        types,
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
