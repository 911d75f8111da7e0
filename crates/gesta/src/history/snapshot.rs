//! Snapshots: every read-model table's rows at one position, stored in
//! `gesta_snapshots` (one row per snapshot and table, the rows as JSON), so that a
//! materialization starts near its target instead of at the start of the log.
//!
//! A snapshot is read in one read transaction (reducers run inline, so the tables are
//! exactly at the read models' checkpoint there) and written in a short transaction
//! of its own; it never holds the write lock while reading. Each table's row records
//! the fingerprint of its read model ([`crate::ReadModel::fingerprint`]): a snapshot
//! of another version of a read model is never used, and shows as invalid.

use std::collections::BTreeMap;

use serde::Serialize;

use super::reverts::{self, Skipped};
use super::rows::TableRows;
use crate::app::{App, ReadModel};
use crate::checkpoint::{self, Kind};
use crate::event::{Position, Timestamp};
use crate::sql::SqlError;
use crate::{Error, Tx, params};

/// How many snapshot positions are looked at, newest first, for a start.
const CANDIDATES: u64 = 50;

/// A snapshot as listed by [`crate::Store::snapshots`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// The position the read models were at.
    pub position: u64,
    /// When it was taken (RFC 3339).
    pub created: String,
    /// The bytes of its stored rows.
    pub bytes: u64,
    /// Rows per table.
    pub tables: BTreeMap<String, u64>,
    /// Whether every table is of the running read models' version (else it is never
    /// used, and goes with pruning).
    pub valid: bool,
}

/// One table of a snapshot being taken.
pub(crate) struct TakenTable {
    table: String,
    fingerprint: String,
    rows: u64,
    content: String,
}

/// What a read transaction captured.
pub(crate) struct Taken {
    pub(crate) position: Position,
    tables: Vec<TakenTable>,
}

/// Reads every read-model table at the read models' position, in the caller's read
/// transaction.
pub(crate) fn take(tx: &mut Tx<'_>, app: &App, dialect: &str) -> Result<Taken, Error> {
    if app.read_models().is_empty() {
        return Err(Error::invalid(
            "snapshot",
            "the application has no read models to snapshot",
        ));
    }
    let mut position = None;
    for model in app.read_models() {
        let at = checkpoint::position(tx, &Kind::ReadModel.key(&model.name))?.unwrap_or_default();
        match position {
            None => position = Some(at),
            Some(p) if p == at => {}
            Some(_) => {
                return Err(Error::Rejected(crate::Rejection::conflict(
                    "the read models are at different positions (one is being caught up); try again later",
                )));
            }
        }
    }
    let position = position.unwrap_or_default();
    let mut tables = Vec::new();
    for model in app.read_models() {
        let fingerprint = model.fingerprint(app, dialect);
        for table in &model.tables {
            let rows = TableRows::read(tx, table)?;
            tables.push(TakenTable {
                table: table.clone(),
                fingerprint: fingerprint.clone(),
                rows: rows.rows.len() as u64,
                content: rows.to_json(),
            });
        }
    }
    Ok(Taken { position, tables })
}

/// Stores `taken` (replacing a snapshot at the same position) and keeps only the
/// newest `keep` snapshots (0 = all). Returns what was stored.
pub(crate) fn save(tx: &mut Tx<'_>, taken: Taken, keep: usize) -> Result<SnapshotInfo, SqlError> {
    let position = taken.position.0;
    tx.execute(
        "DELETE FROM gesta_snapshots WHERE position = :position",
        &params! { "position" => position },
    )?;
    let created = Timestamp::now();
    let mut info = SnapshotInfo {
        position,
        created: created.to_rfc3339(),
        bytes: 0,
        tables: BTreeMap::new(),
        valid: true,
    };
    for table in taken.tables {
        let bytes = table.content.len() as u64;
        tx.execute(
            "INSERT INTO gesta_snapshots \
             (position, table_name, created_at, models_version, row_count, bytes, content) \
             VALUES (:position, :table, :created, :fingerprint, :rows, :bytes, :content)",
            &params! {
                "position" => position, "table" => table.table.as_str(),
                "created" => created.0, "fingerprint" => table.fingerprint.as_str(),
                "rows" => table.rows, "bytes" => bytes, "content" => table.content,
            },
        )?;
        info.bytes += bytes;
        info.tables.insert(table.table, table.rows);
    }
    if keep > 0 {
        prune(tx, keep)?;
    }
    Ok(info)
}

/// Deletes all but the newest `keep` snapshots.
fn prune(tx: &mut Tx<'_>, keep: usize) -> Result<(), SqlError> {
    let positions: Vec<u64> = tx
        .query(
            "SELECT DISTINCT position FROM gesta_snapshots ORDER BY position DESC",
            &params! {},
        )?
        .iter()
        .map(|row| row.get_at(0))
        .collect::<Result<_, _>>()?;
    if let Some(&oldest_kept) = positions.get(keep - 1) {
        tx.execute(
            "DELETE FROM gesta_snapshots WHERE position < :position",
            &params! { "position" => oldest_kept },
        )?;
    }
    Ok(())
}

/// Every stored snapshot, newest first.
pub(crate) fn list(
    tx: &mut Tx<'_>,
    app: &App,
    dialect: &str,
) -> Result<Vec<SnapshotInfo>, SqlError> {
    let current = fingerprints(app, dialect);
    let rows = tx.query(
        "SELECT position, table_name, created_at, models_version, row_count, bytes \
         FROM gesta_snapshots ORDER BY position DESC, table_name",
        &params! {},
    )?;
    let mut out: Vec<SnapshotInfo> = Vec::new();
    for row in rows {
        let position: u64 = row.get("position")?;
        let table: String = row.get("table_name")?;
        let fingerprint: String = row.get("models_version")?;
        let valid = current.get(&table) == Some(&fingerprint);
        if out.last().is_none_or(|s| s.position != position) {
            out.push(SnapshotInfo {
                position,
                created: Timestamp(row.get("created_at")?).to_rfc3339(),
                bytes: 0,
                tables: BTreeMap::new(),
                valid: true,
            });
        }
        if let Some(info) = out.last_mut() {
            info.bytes += row.get::<u64>("bytes")?;
            info.tables.insert(table, row.get("row_count")?);
            info.valid &= valid;
        }
    }
    for info in &mut out {
        info.valid &= current.keys().all(|t| info.tables.contains_key(t));
    }
    Ok(out)
}

/// The running fingerprint of every read-model table.
fn fingerprints(app: &App, dialect: &str) -> BTreeMap<String, String> {
    app.read_models()
        .iter()
        .flat_map(|m| {
            let fingerprint = m.fingerprint(app, dialect);
            m.tables
                .iter()
                .map(move |t| (t.clone(), fingerprint.clone()))
        })
        .collect()
}

/// The newest snapshot at or before `at` that has every table of `models` at their
/// running version and was taken with the same reverts in force, as `skipped` (as of
/// the target) says for the positions it covers. Returns its position and rows.
pub(crate) fn best(
    tx: &mut Tx<'_>,
    app: &App,
    dialect: &str,
    models: &[&ReadModel],
    at: Position,
    skipped: &Skipped,
) -> Result<Option<(Position, Vec<TableRows>)>, SqlError> {
    let wanted: BTreeMap<String, String> = models
        .iter()
        .flat_map(|m| {
            let fingerprint = m.fingerprint(app, dialect);
            m.tables
                .iter()
                .map(move |t| (t.clone(), fingerprint.clone()))
        })
        .collect();
    let candidates: Vec<u64> = tx
        .query(
            "SELECT DISTINCT position FROM gesta_snapshots WHERE position <= :at \
             ORDER BY position DESC LIMIT :n",
            &params! { "at" => at.0, "n" => CANDIDATES },
        )?
        .iter()
        .map(|row| row.get_at(0))
        .collect::<Result<_, _>>()?;
    for position in candidates {
        let stored: BTreeMap<String, String> = tx
            .query(
                "SELECT table_name, models_version FROM gesta_snapshots WHERE position = :p",
                &params! { "p" => position },
            )?
            .iter()
            .map(|row| Ok((row.get("table_name")?, row.get("models_version")?)))
            .collect::<Result<_, SqlError>>()?;
        if wanted.iter().any(|(t, f)| stored.get(t) != Some(f)) {
            continue;
        }
        let at_snapshot = Position(position);
        if reverts::skipped_at(tx, at_snapshot)? != skipped.clipped(at_snapshot) {
            continue;
        }
        let mut tables = Vec::with_capacity(wanted.len());
        for table in wanted.keys() {
            let content: String = tx
                .query_scalar(
                    "SELECT content FROM gesta_snapshots WHERE position = :p AND table_name = :t",
                    &params! { "p" => position, "t" => table.as_str() },
                )?
                .unwrap_or_default();
            tables.push(TableRows::from_json(table, &content)?);
        }
        return Ok(Some((at_snapshot, tables)));
    }
    Ok(None)
}
