//! Rebuilding one inline read model without stopping the writer: it is built from the
//! log in a scratch place while commands go on (and keep updating the live tables),
//! moved forward until it is close to the head, then swapped in by the writer in one
//! short transaction that also applies the few events committed since.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::materialize::{Materialized, apply_all};
use super::reverts::{self, Skipped};
use super::rows::TableRows;
use crate::app::ReadModel;
use crate::checkpoint::{self, Kind};
use crate::event::{Position, Timestamp};
use crate::{Error, LogQuery, Tx};

/// Events the scratch place is moved forward by per read transaction.
pub(crate) const CHUNK: u64 = 50_000;

/// The scratch place is swapped in once it is this close to the head: the swap
/// replays the rest in the writer. On PostgreSQL under 64 callers, 200 left ~240
/// events to the swap (~120 ms of pause), 50 left ~90 (~65 ms).
pub(crate) const SWAP_WITHIN: u64 = 50;

/// When commands come faster than steps close the gap, the place is swapped in
/// anyway once a step stops shrinking it, if it is at most this far behind.
pub(crate) const SWAP_STALLED_WITHIN: u64 = 2_000;

/// Whether a scratch place `gap` events behind the head is swapped in now, its gap
/// after the step before being `last_gap`.
pub(crate) fn close_enough(gap: u64, last_gap: u64) -> bool {
    gap <= SWAP_WITHIN || (gap >= last_gap && gap <= SWAP_STALLED_WITHIN)
}

/// Where a background rebuild is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebuildState {
    /// Replaying the log into a scratch place.
    Building,
    /// Done: the rebuilt tables are live.
    Done,
    /// Stopped by an error (see `error`); the live tables are unchanged.
    Failed,
}

/// A background rebuild's progress, as `GET /admin/read-models/{name}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RebuildProgress {
    /// Where it is.
    pub state: RebuildState,
    /// The position the scratch place has reached.
    pub position: u64,
    /// The head of the log when last looked at.
    pub head: u64,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it ended, if it has.
    pub finished: Option<String>,
    /// How long the swap held the writer, in milliseconds.
    pub pause_ms: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Whether an inline read model's live tables are current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadModelState {
    /// Up to date with the log, built by its declared version.
    Live,
    /// Being rebuilt in the background; the live tables are still the old ones.
    Rebuilding,
    /// Built by another version (or new and not yet filled) and not being rebuilt
    /// in this process (e.g. the rebuild failed); `POST .../rebuild` starts one.
    Stale,
}

/// An inline read model, as `GET /admin/read-models` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadModelStatus {
    /// Its name.
    pub name: String,
    /// The version the application declares.
    pub version: u32,
    /// The version its live tables were built by (0 = being filled for the first time).
    pub built_version: u64,
    /// The tables it owns.
    pub tables: Vec<String>,
    /// How far in the log its live tables are.
    pub position: u64,
    /// The head of the log.
    pub head: u64,
    /// Whether the live tables are current.
    pub state: ReadModelState,
    /// The latest background rebuild this process ran, if any.
    pub rebuild: Option<RebuildProgress>,
}

/// The rebuilds this process started, by read-model name.
#[derive(Default)]
pub(crate) struct Rebuilds(Mutex<HashMap<String, RebuildProgress>>);

impl Rebuilds {
    /// Registers a new rebuild of `name`; false when one is already building.
    pub(crate) fn begin(&self, name: &str) -> bool {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if all
            .get(name)
            .is_some_and(|p| p.state == RebuildState::Building)
        {
            return false;
        }
        all.insert(
            name.to_owned(),
            RebuildProgress {
                state: RebuildState::Building,
                position: 0,
                head: 0,
                started: Timestamp::now().to_rfc3339(),
                finished: None,
                pause_ms: None,
                error: None,
            },
        );
        true
    }

    /// Updates the progress of `name`.
    pub(crate) fn update(&self, name: &str, change: impl FnOnce(&mut RebuildProgress)) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(progress) = all.get_mut(name) {
            change(progress);
        }
    }

    /// The progress of `name`, if this process rebuilt it.
    pub(crate) fn get(&self, name: &str) -> Option<RebuildProgress> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.get(name).cloned()
    }

    /// Whether any rebuild is building; the first failure, if any.
    pub(crate) fn busy(&self) -> (bool, Option<String>) {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let building = all.values().any(|p| p.state == RebuildState::Building);
        let failed = all
            .iter()
            .find(|(_, p)| p.state == RebuildState::Failed)
            .map(|(name, p)| format!("{name}: {}", p.error.as_deref().unwrap_or("failed")));
        (building, failed)
    }

    /// Marks `name` ended: done with the writer's pause, or failed with `error`.
    pub(crate) fn end(&self, name: &str, result: Result<Duration, &Error>) {
        self.update(name, |p| {
            p.finished = Some(Timestamp::now().to_rfc3339());
            match result {
                Ok(pause) => {
                    p.state = RebuildState::Done;
                    p.position = p.head.max(p.position);
                    p.pause_ms = Some(pause.as_millis() as u64);
                }
                Err(err) => {
                    p.state = RebuildState::Failed;
                    p.error = Some(err.to_string());
                }
            }
        });
    }
}

/// A finished scratch place, made ready so that the swap holds the writer only for
/// copying it: one read model's tables at `at`.
pub(crate) struct Built {
    at: Position,
    skipped: Skipped,
    tables: Tables,
}

/// Where the swap copies a rebuilt read model's tables from.
enum Tables {
    /// The rows, read out of a place no other connection can see (SQLite).
    Rows(Vec<TableRows>),
    /// The place itself, kept open (dropping it drops its namespace), whose tables
    /// the server copies in one `INSERT ... SELECT` each: no row crosses the wire,
    /// which on PostgreSQL made the swap of 10,000 rows several times shorter than
    /// sending them back as multi-row `INSERT`s.
    Namespace {
        namespace: String,
        /// PostgreSQL: a live table nothing else refers to is replaced by moving
        /// the scratch table in (transactional DDL) instead of copying its rows.
        movable: bool,
        columns: Vec<Vec<String>>,
        /// Held for its drop, after the swap.
        _place: Box<Materialized>,
    },
}

impl Built {
    /// Readies every table of `model` in `place` (blocking SQL, off the writer).
    pub(crate) fn read(model: &ReadModel, mut place: Materialized) -> Result<Self, Error> {
        let (at, skipped) = (place.position, place.skipped().clone());
        let tables = match place.namespace().map(str::to_owned) {
            Some(namespace) => Tables::Namespace {
                namespace,
                movable: place.dialect_name() == "postgres",
                columns: model
                    .tables
                    .iter()
                    .map(|table| place.columns(table))
                    .collect::<Result<_, _>>()?,
                _place: Box::new(place),
            },
            None => Tables::Rows(
                model
                    .tables
                    .iter()
                    .map(|table| place.table(table))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Built {
            at,
            skipped,
            tables,
        })
    }

    /// Replaces the rows of `model`'s live tables with the built ones.
    fn replace(&self, tx: &mut Tx<'_>, model: &ReadModel) -> Result<(), Error> {
        for (i, table) in model.tables.iter().enumerate() {
            if let Tables::Namespace {
                namespace,
                movable: true,
                ..
            } = &self.tables
                && move_in(tx, table, namespace)?
            {
                continue;
            }
            tx.execute(&format!("DELETE FROM {table}"), &crate::params! {})?;
            match &self.tables {
                Tables::Rows(rows) => rows[i].write(tx)?,
                Tables::Namespace {
                    namespace, columns, ..
                } => {
                    let columns = columns[i].join(", ");
                    let sql = format!(
                        "INSERT INTO {table} ({columns}) SELECT {columns} FROM {namespace}.{table}"
                    );
                    tx.execute(&sql, &crate::params! {})?;
                }
            }
        }
        Ok(())
    }
}

/// PostgreSQL: replaces live `table` by the scratch table of the same name in
/// `namespace` (dropped, moved into the live table's schema: ~1 ms where copying
/// 10,000 rows and their index took 30-80 ms). Only when the live table carries
/// nothing a drop would lose: no grants, row security or triggers of its own, and
/// nothing depending on it (a view or foreign key makes the `DROP` fail, which is
/// rolled back to a savepoint). Returns false, having changed nothing, otherwise.
fn move_in(tx: &mut Tx<'_>, table: &str, namespace: &str) -> Result<bool, Error> {
    let schema = tx.query_opt(
        "SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = to_regclass(:table) AND c.relacl IS NULL AND NOT c.relrowsecurity
           AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                           WHERE t.tgrelid = c.oid AND NOT t.tgisinternal)",
        &crate::params! { "table" => table },
    )?;
    let Some(schema) = schema else {
        return Ok(false);
    };
    let schema: String = schema.get_at(0)?;
    let schema = format!("\"{}\"", schema.replace('"', "\"\""));
    tx.execute_batch("SAVEPOINT gesta_swap")?;
    let sql = format!("DROP TABLE {table}; ALTER TABLE {namespace}.{table} SET SCHEMA {schema}");
    match tx.execute_batch(&sql) {
        Ok(()) => {
            tx.execute_batch("RELEASE SAVEPOINT gesta_swap")?;
            Ok(true)
        }
        Err(err) => {
            tracing::debug!(table, error = %err, "the rebuilt table is copied in: the live one cannot be dropped");
            tx.execute_batch("ROLLBACK TO SAVEPOINT gesta_swap; RELEASE SAVEPOINT gesta_swap")?;
            Ok(false)
        }
    }
}

/// The swap, in the writer's transaction on the live tables: `built` (read model
/// `model` at some position S) replaces the live tables, the events after S are
/// applied to them, and the read model's checkpoint and version are recorded.
/// Returns `Ok(false)` when a revert recorded since S changed what S means (the
/// rebuild must start again).
pub(crate) fn swap_in(
    tx: &mut Tx<'_>,
    model: &ReadModel,
    built: &Built,
    upcasters: &crate::event::upcast::Upcasters,
) -> Result<bool, Error> {
    let head = crate::read::last_position(tx)?;
    let at = built.at;
    let skipped = reverts::skipped_at(tx, head)?;
    if skipped.clipped(at) != built.skipped.clipped(at) {
        return Ok(false);
    }
    built.replace(tx, model)?;
    let mut after = at;
    while after < head {
        let want = ((head.0 - after.0) as usize).min(super::materialize::PAGE);
        let mut page = crate::read::read_log(tx, &LogQuery::after(after).limit(want))?;
        let Some(last) = page.last().map(|e| e.position) else {
            break;
        };
        crate::read::open_all(tx, upcasters, &mut page)?;
        apply_all(tx, &[model], &page, &skipped)?;
        after = last;
    }
    let key = Kind::ReadModel.key(&model.name);
    if checkpoint::set(tx, &key, head)? == 0 {
        checkpoint::insert(tx, &key, head)?;
    }
    crate::writer::checkpoints::set_version(tx, model)?;
    Ok(true)
}

/// The position a new scratch place is first built to.
pub(crate) fn first_step(head: Position) -> Position {
    Position(head.0.min(CHUNK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_swapped_in_when_close_or_no_longer_gaining() {
        assert!(close_enough(SWAP_WITHIN, u64::MAX));
        assert!(!close_enough(SWAP_WITHIN + 1, u64::MAX));
        // Still gaining on the head: step again.
        assert!(!close_enough(400, 900));
        // A step that did not shrink the gap: swap, unless far behind.
        assert!(close_enough(400, 400));
        assert!(close_enough(SWAP_STALLED_WITHIN, 100));
        assert!(!close_enough(SWAP_STALLED_WITHIN + 1, 100));
    }
}
