//! Reverting commands: checked and recorded by the writer, in the unit's savepoint.
//!
//! The live read models are rewound to what they would be had the reverted commands'
//! events never been applied: from the newest usable snapshot before the first
//! position whose fate changes, the rest of the log is replayed with the new set of
//! left-out events. A reducer that fails on the way refuses the revert
//! ([`Error::ReplayFailed`], HTTP 409) and the savepoint rolls everything back.

use std::collections::BTreeSet;

use serde_json::json;
use uuid::Uuid;

use super::materialize::apply_all;
use super::reverts::{self, POSITIONS_FIELD, REVERTED, REVERTS_STREAM, RevertRecord, Skipped};
use super::rows::TableRows;
use super::snapshot;
use crate::app::{App, ReadModel};
use crate::backend::Dialect;
use crate::event::{NewEvent, Position};
use crate::{Error, LogQuery, Rejection, Tx, params};

/// Events read at a time while rewinding.
const PAGE: usize = 5_000;

/// What to revert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertTarget {
    /// The events of one command (by the `command_id` in their metadata). Reverting
    /// a revert re-applies what it reverted.
    Command(Uuid),
    /// Every command after this position: the read models go back to how they stood
    /// there.
    To(Position),
}

/// Checks the revert against the log at `head`, rewinds the live read models, and
/// returns the `gesta.reverted` event to append at `head + 1`.
pub(crate) fn prepare(
    tx: &mut Tx<'_>,
    app: &App,
    dialect: &Dialect,
    target: &RevertTarget,
    head: Position,
) -> Result<NewEvent, Error> {
    let current = reverts::skipped_at(tx, head)?;
    let (command_ids, ranges) = match target {
        RevertTarget::Command(id) => {
            let (first, last) = command_positions(tx, dialect, *id)?.ok_or_else(|| {
                Error::Rejected(Rejection::not_found(format!("no command {id} in the log")))
            })?;
            if current.covers(first, last) {
                return Err(Error::Rejected(Rejection::conflict(format!(
                    "command {id} is already reverted"
                ))));
            }
            (vec![id.to_string()], vec![(first, last)])
        }
        RevertTarget::To(to) => {
            if *to > head {
                return Err(Error::invalid(
                    "to",
                    format!("position {to} is past the head of the log ({head})"),
                ));
            }
            if *to == head {
                return Err(Error::Rejected(Rejection::conflict(format!(
                    "nothing was recorded after position {to}"
                ))));
            }
            (
                commands_after(tx, *to, head, &current)?,
                vec![(to.0 + 1, head.0)],
            )
        }
    };
    let mut records = reverts::records(tx, head)?;
    records.push(RevertRecord {
        position: Position(head.0 + 1),
        ranges: ranges.clone(),
    });
    let next = Skipped::from_reverts(records);
    let Some(first) = current.first_difference(&next) else {
        return Err(Error::Rejected(Rejection::conflict(
            "everything named is already reverted",
        )));
    };
    rewind(
        tx,
        app,
        dialect,
        Position(first.0.saturating_sub(1)),
        head,
        &next,
    )?;
    let mut event = NewEvent::new(
        REVERTS_STREAM,
        REVERTED,
        &json!({ "command_ids": command_ids }),
    )
    .map_err(|e| Error::internal(e.to_string()))?;
    let mut metadata = serde_json::Map::new();
    metadata.insert(POSITIONS_FIELD.into(), json!(ranges));
    event.metadata = Some(metadata);
    Ok(event)
}

/// The first and last position of command `id`'s events.
fn command_positions(
    tx: &mut Tx<'_>,
    dialect: &Dialect,
    id: Uuid,
) -> Result<Option<(u64, u64)>, Error> {
    let row = tx.query_one(
        dialect.command_positions,
        &params! { "command_id" => id.to_string() },
    )?;
    let first: Option<u64> = row.get_at(0)?;
    let last: Option<u64> = row.get_at(1)?;
    Ok(first.zip(last))
}

/// The ids of the commands with events in `(after, head]` not already reverted.
fn commands_after(
    tx: &mut Tx<'_>,
    after: Position,
    head: Position,
    current: &Skipped,
) -> Result<Vec<String>, Error> {
    let mut ids = BTreeSet::new();
    let mut ordered = Vec::new();
    let mut at = after;
    while at < head {
        let page = crate::read::read_log(tx, &LogQuery::after(at).limit(PAGE))?;
        let Some(last) = page.last().map(|e| e.position) else {
            break;
        };
        for event in page
            .iter()
            .filter(|e| e.position <= head && !current.contains(e.position))
        {
            if let Some(id) = event.metadata().command_id.map(|id| id.to_string()) {
                if ids.insert(id.clone()) {
                    ordered.push(id);
                }
            }
        }
        at = last;
    }
    Ok(ordered)
}

/// Rebuilds every read model's live tables as of `head` with `skipped` left out,
/// starting from the newest usable snapshot at or before `before`.
pub(crate) fn rewind(
    tx: &mut Tx<'_>,
    app: &App,
    dialect: &Dialect,
    before: Position,
    head: Position,
    skipped: &Skipped,
) -> Result<(), Error> {
    let models: Vec<&ReadModel> = app.read_models().iter().collect();
    let start = snapshot::best(
        tx,
        app,
        dialect.name,
        &models,
        before,
        &skipped.clipped(before),
    )?;
    for model in &models {
        for table in &model.tables {
            tx.execute(&format!("DELETE FROM {table}"), &params! {})?;
        }
    }
    let mut at = Position(0);
    if let Some((position, tables)) = start {
        tables.iter().try_for_each(|t: &TableRows| t.write(tx))?;
        at = position;
    }
    while at < head {
        let want = ((head.0 - at.0) as usize).min(PAGE);
        let mut page = crate::read::read_log(tx, &LogQuery::after(at).limit(want))?;
        let Some(last) = page.last().map(|e| e.position) else {
            break;
        };
        crate::read::open_all(tx, app.upcasters(), &mut page)?;
        apply_all(tx, &models, &page, skipped)?;
        at = last;
    }
    Ok(())
}
