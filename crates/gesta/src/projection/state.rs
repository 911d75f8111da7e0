//! A projection's durable state: its checkpoint, moved in the same transaction as the
//! batch of events it covers ([`Store::write_aside`], on the writer's connection
//! between two command batches); and its rebuild, performed in one transaction that
//! empties its tables, resets its checkpoint and removes a rebuild request.

use std::sync::Arc;

use super::{ApplyFn, request};
use crate::checkpoint::{self, Kind};
use crate::event::{Position, RecordedEvent, Timestamp};
use crate::sql::SqlErrorKind;
use crate::{Error, HandlerError, Store, Tx, params};

/// The checkpoint of projection `name`, created at 0 when missing; when a rebuild of
/// it is requested, the rebuild is performed first (the checkpoint is then 0).
pub(super) async fn start(store: &Store, name: &str, tables: &[String]) -> Result<Position, Error> {
    let (name, tables) = (name.to_owned(), tables.to_vec());
    store
        .write_aside(move |tx| {
            if rebuild_if_requested(tx, &name, &tables)? {
                tracing::info!(projection = name, "projection rebuilt as requested");
            }
            current(tx, &Kind::Projection.key(&name))
        })
        .await
}

/// Performs the requested rebuild of projection `name`, if one still is; whether it
/// did. For a process running the projection, after [`request::requested`] saw one.
pub(super) async fn rebuild_requested(
    store: &Store,
    name: &str,
    tables: &[String],
) -> Result<bool, Error> {
    let (name, tables) = (name.to_owned(), tables.to_vec());
    store
        .write_aside(move |tx| rebuild_if_requested(tx, &name, &tables))
        .await
}

/// Empties the tables and resets the checkpoint of projection `name` when a rebuild of
/// it is requested, in `tx`; whether it did.
fn rebuild_if_requested(tx: &mut Tx<'_>, name: &str, tables: &[String]) -> Result<bool, Error> {
    if !request::pending(tx, name)? {
        return Ok(false);
    }
    reset_in(tx, name, tables)?;
    Ok(true)
}

/// Checkpoint `name`, created at 0 when missing (someone deleted the row).
fn current(tx: &mut Tx<'_>, name: &str) -> Result<Position, Error> {
    Ok(checkpoint::get_or_create(tx, name, |_| Ok(Position(0)))?)
}

/// What became of a batch.
pub(super) enum Applied {
    /// Applied, and the checkpoint is now at the batch's end.
    Done,
    /// Not applied: the checkpoint was no longer where the batch was read from (a
    /// rebuild, or another process); it is here now.
    Moved(Position),
    /// Not applied: a rebuild was requested, and was performed instead (the
    /// checkpoint is now 0).
    Rebuilt,
}

/// A batch of projection `projection` (owning `tables`): `events` (all after `from`),
/// then the checkpoint at `to`.
pub(super) struct Batch {
    pub(super) projection: String,
    pub(super) tables: Vec<String>,
    pub(super) checkpoint: String,
    pub(super) apply: Arc<ApplyFn>,
    pub(super) from: Position,
    pub(super) to: Position,
    pub(super) events: Vec<RecordedEvent>,
}

/// Applies `batch` and moves the checkpoint from `batch.from` to `batch.to`, in one
/// transaction. The checkpoint is moved first, only from where the batch was read:
/// the row lock it takes keeps a concurrent batch out until this one commits, after
/// which that one finds the checkpoint moved and applies nothing. When a rebuild is
/// requested, the transaction performs it instead of the batch.
pub(super) async fn apply(store: &Store, batch: Batch) -> Result<Applied, Error> {
    store
        .write_aside(move |tx| {
            if rebuild_if_requested(tx, &batch.projection, &batch.tables)? {
                return Ok(Applied::Rebuilt);
            }
            // Reverts: events of reverted commands are left out; a revert recorded in
            // this batch that takes back events already applied means starting over.
            let reverts = crate::history::reverts::records(tx, batch.to)?;
            let undoes_applied = reverts.iter().any(|r| {
                r.position > batch.from && r.ranges.iter().any(|&(first, _)| first <= batch.from.0)
            });
            if undoes_applied {
                tracing::info!(projection = %batch.projection, "a revert takes back applied events; rebuilding");
                reset_in(tx, &batch.projection, &batch.tables)?;
                return Ok(Applied::Rebuilt);
            }
            let skipped = crate::history::reverts::Skipped::from_reverts(reverts);
            let moved = tx.execute(
                "UPDATE checkpoints SET position = :to, updated_at = :at \
                 WHERE name = :name AND position = :from",
                &params! {
                    "to" => batch.to.0, "at" => Timestamp::now().0,
                    "name" => batch.checkpoint.as_str(), "from" => batch.from.0,
                },
            )?;
            if moved == 0 {
                return Ok(Applied::Moved(current(tx, &batch.checkpoint)?));
            }
            for event in batch.events.iter().filter(|e| !skipped.contains(e.position)) {
                (batch.apply)(tx, event).map_err(|err| failed(&batch.projection, event, err))?;
            }
            Ok(Applied::Done)
        })
        .await
}

fn failed(projection: &str, event: &RecordedEvent, err: HandlerError) -> Error {
    match err {
        HandlerError::Sql(e) if e.kind == SqlErrorKind::Interrupted => Error::Database(e),
        other => Error::ReducerFailed {
            read_model: projection.to_owned(),
            message: format!("event at position {}: {other}", event.position),
        },
    }
}

/// Empties `tables` of projection `name`, resets its checkpoint to 0 and removes a
/// rebuild request of it, in one transaction.
pub(super) async fn reset(store: &Store, name: &str, tables: &[String]) -> Result<(), Error> {
    let (name, tables) = (name.to_owned(), tables.to_vec());
    store
        .write_aside(move |tx| reset_in(tx, &name, &tables))
        .await
}

/// Empties `tables` of projection `name`, resets its checkpoint to 0 and removes a
/// rebuild request of it, in `tx`. The checkpoint is written first: its row lock waits
/// for a batch committing meanwhile (from a process that lost the lock), so the
/// tables are emptied of that batch's rows too.
fn reset_in(tx: &mut Tx<'_>, name: &str, tables: &[String]) -> Result<(), Error> {
    let key = Kind::Projection.key(name);
    if checkpoint::position(tx, &key)?.is_some() {
        checkpoint::set(tx, &key, Position(0))?;
    } else {
        checkpoint::insert(tx, &key, Position(0))?;
    }
    for table in tables {
        // Table names were checked to be plain identifiers when registered.
        tx.execute(&format!("DELETE FROM {table}"), &params! {})?;
    }
    request::clear(tx, name)
}
