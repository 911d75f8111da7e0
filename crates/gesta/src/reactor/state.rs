//! A reactor's durable state: its checkpoint and its parked events. Writes run as small
//! transactions of their own on the writer's connection, between batches
//! ([`Store::write_aside`]), never inside a command's transaction.

use crate::checkpoint;
use crate::event::{Position, RecordedEvent, Timestamp};
use crate::sql::Params;
use crate::{Error, LogQuery, Store, params};

use super::ReactorStart;

/// The checkpoint `name`, created (at 0 or at the head of the log, per `start`) when
/// missing.
pub(super) async fn start(
    store: &Store,
    name: &str,
    start: ReactorStart,
) -> Result<Position, Error> {
    let name = name.to_owned();
    store
        .write_aside(move |tx| {
            Ok(checkpoint::get_or_create(tx, &name, |tx| match start {
                ReactorStart::Beginning => Ok(Position(0)),
                ReactorStart::Head => crate::read::last_position(tx),
            })?)
        })
        .await
}

/// Records checkpoint `name` at `position`.
pub(super) async fn save(store: &Store, name: &str, position: Position) -> Result<(), Error> {
    let name = name.to_owned();
    store
        .write_aside(move |tx| Ok(checkpoint::set(tx, &name, position).map(drop)?))
        .await
}

/// The event at `position`, if the log has it.
pub(super) async fn event_at(
    store: &Store,
    position: Position,
) -> Result<Option<RecordedEvent>, Error> {
    let query = LogQuery::after(Position(position.0.saturating_sub(1))).limit(1);
    let mut events = store.read_all(query).await?;
    Ok(events.pop().filter(|e| e.position == position))
}

/// Parks `event` for reactor `reactor` (checkpoint `name`) with its last error, and
/// moves the checkpoint past it, in one transaction.
pub(super) async fn park(
    store: &Store,
    reactor: &str,
    name: &str,
    event: &RecordedEvent,
    error: String,
    attempts: u32,
) -> Result<(), Error> {
    let (reactor, name) = (reactor.to_owned(), name.to_owned());
    let (position, event_id) = (event.position, event.id.to_string());
    store
        .write_aside(move |tx| {
            let key = params! { "reactor" => reactor.as_str(), "position" => position.0 };
            tx.execute(
                "DELETE FROM parked_events WHERE reactor = :reactor AND position = :position",
                &key,
            )?;
            tx.execute(
                "INSERT INTO parked_events \
                 (reactor, position, event_id, error, attempts, parked_at, retry_requested_at) \
                 VALUES (:reactor, :position, :event_id, :error, :attempts, :at, NULL)",
                &params! {
                    "reactor" => reactor.as_str(), "position" => position.0, "event_id" => event_id,
                    "error" => error, "attempts" => attempts, "at" => Timestamp::now().0,
                },
            )?;
            checkpoint::set(tx, &name, position)?;
            Ok(())
        })
        .await
}

/// Positions of `reactor`'s parked events whose retry was requested, oldest first.
pub(super) async fn retry_requests(store: &Store, reactor: &str) -> Result<Vec<Position>, Error> {
    let reactor = reactor.to_owned();
    store
        .read(move |tx| {
            let rows = tx.query(
                "SELECT position FROM parked_events \
                 WHERE reactor = :reactor AND retry_requested_at IS NOT NULL \
                 ORDER BY position LIMIT 100",
                &params! { "reactor" => reactor },
            )?;
            rows.iter()
                .map(|row| Ok(Position(row.get("position")?)))
                .collect()
        })
        .await
}

/// What became of a retried parked event.
pub(super) enum Retried {
    /// Delivered: no longer parked.
    Delivered,
    /// Failed again with this error: stays parked, one attempt more.
    Failed(String),
}

/// Records the outcome of re-delivering a parked event.
pub(super) async fn retried(
    store: &Store,
    reactor: &str,
    position: Position,
    outcome: Retried,
) -> Result<(), Error> {
    let reactor = reactor.to_owned();
    store
        .write_aside(move |tx| {
            let key = params! { "reactor" => reactor, "position" => position.0 };
            let (sql, key) = match outcome {
                Retried::Delivered => (
                    "DELETE FROM parked_events WHERE reactor = :reactor AND position = :position",
                    key,
                ),
                Retried::Failed(error) => (
                    "UPDATE parked_events SET error = :error, attempts = attempts + 1, \
                     retry_requested_at = NULL WHERE reactor = :reactor AND position = :position",
                    key.with("error", error),
                ),
            };
            tx.execute(sql, &key)?;
            Ok(())
        })
        .await
}

/// Asks for `reactor`'s parked event at `position` (every one when `None`) to be
/// delivered once more; returns how many were marked.
pub(super) async fn request_retry(
    store: &Store,
    reactor: &str,
    position: Option<Position>,
) -> Result<u64, Error> {
    let (filter, key) = selection(reactor, position);
    let key = key.with("at", Timestamp::now().0);
    let sql = format!("UPDATE parked_events SET retry_requested_at = :at WHERE {filter}");
    store
        .write_aside(move |tx| Ok(tx.execute(&sql, &key)?))
        .await
}

/// Removes `reactor`'s parked event at `position` (every one when `None`) without
/// delivering it; returns how many were removed.
pub(super) async fn skip(
    store: &Store,
    reactor: &str,
    position: Option<Position>,
) -> Result<u64, Error> {
    let (filter, key) = selection(reactor, position);
    let sql = format!("DELETE FROM parked_events WHERE {filter}");
    store
        .write_aside(move |tx| Ok(tx.execute(&sql, &key)?))
        .await
}

/// The `WHERE` clause and parameters selecting parked events.
fn selection(reactor: &str, position: Option<Position>) -> (&'static str, Params) {
    match position {
        Some(position) => (
            "reactor = :reactor AND position = :position",
            params! { "reactor" => reactor, "position" => position.0 },
        ),
        None => ("reactor = :reactor", params! { "reactor" => reactor }),
    }
}
