//! Replaying the log through the reducers: a full rebuild on request, and catching up
//! read models that are behind the log when the store opens.

use std::sync::Arc;

use super::append::reduce_one;
use super::batch::Writer;
use super::checkpoints;
use crate::app::App;
use crate::event::Position;
use crate::{Error, LogQuery, Tx};

const PAGE: usize = 10_000;

impl Writer {
    /// Empties every read model's tables and replays the whole log through the reducers.
    /// Returns the number of events replayed. All or nothing.
    pub(super) fn rebuild(&mut self) -> Result<u64, Error> {
        let app = Arc::clone(&self.app);
        self.in_transaction(|tx| {
            for model in app.read_models() {
                for table in &model.tables {
                    tx.execute(&format!("DELETE FROM {table}"), &crate::sql::Params::new())?;
                }
            }
            checkpoints::ensure(tx, &app)?;
            for model in app.read_models() {
                checkpoints::set_version(tx, model)?;
            }
            let from = vec![Position(0); app.read_models().len()];
            replay(tx, &app, &from)
        })
    }

    /// Brings every read model whose checkpoint is behind the log up to its head.
    /// Returns the number of events replayed.
    pub(super) fn catch_up(&mut self) -> Result<u64, Error> {
        let app = Arc::clone(&self.app);
        if app.read_models().is_empty() {
            return Ok(0);
        }
        self.in_transaction(|tx| {
            checkpoints::ensure(tx, &app)?;
            let from = checkpoints::load(tx, &app)?;
            let replayed = replay(tx, &app, &from)?;
            if replayed > 0 {
                tracing::info!(events = replayed, "read models caught up with the log");
            }
            Ok(replayed)
        })
    }

    /// Records read models new to the store and versions (see
    /// [`checkpoints::versions`]); returns those to rebuild in the background.
    pub(super) fn open_read_models(&mut self) -> Result<Vec<String>, Error> {
        let app = Arc::clone(&self.app);
        if app.read_models().is_empty() {
            return Ok(Vec::new());
        }
        self.in_transaction(|tx| Ok(checkpoints::versions(tx, &app)?))
    }

    /// Runs `work` in a write transaction: commit on success, roll back on error.
    pub(super) fn in_transaction<T>(
        &mut self,
        work: impl FnOnce(&mut Tx<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.log.forget();
        self.session.transaction(self.dialect.begin, work)
    }
}

/// Applies every event after `from[i]` to read model `i`, then advances all
/// checkpoints to the head of the log. Returns the number of events read.
fn replay(tx: &mut Tx<'_>, app: &App, from: &[Position]) -> Result<u64, Error> {
    let last = crate::read::last_position(tx)?;
    let mut after = from.iter().copied().min().unwrap_or(last);
    let mut count = 0;
    let skipped = crate::history::reverts::skipped_at(tx, last)?;
    while after < last {
        let mut page = crate::read::read_log(tx, &LogQuery::after(after).limit(PAGE))?;
        crate::read::open_all(tx, app.upcasters(), &mut page)?;
        let Some(tail) = page.last() else { break };
        after = tail.position;
        for event in page.iter().filter(|e| !skipped.contains(e.position)) {
            for (model, start) in app.read_models().iter().zip(from) {
                if event.position > *start {
                    reduce_one(tx, model, event)?;
                }
            }
        }
        count += page.len() as u64;
    }
    checkpoints::advance(tx, app, last)?;
    Ok(count)
}
