//! Rebuilding every read model from the log, in one transaction.

use super::append::reduce;
use super::batch::Writer;
use crate::event::Position;
use crate::{Error, LogQuery};

const PAGE: usize = 10_000;

impl Writer {
    /// Empties every read model's tables and replays the whole log through the reducers.
    /// Returns the number of events replayed. All or nothing.
    pub(super) fn rebuild(&mut self) -> Result<u64, Error> {
        self.begin()?;
        match self.replay_all() {
            Ok(count) => {
                self.exec("COMMIT")?;
                Ok(count)
            }
            Err(err) => {
                let _ = self.exec("ROLLBACK");
                Err(err)
            }
        }
    }

    fn replay_all(&mut self) -> Result<u64, Error> {
        let app = std::sync::Arc::clone(&self.app);
        let mut tx = self.session.tx();
        for model in app.read_models() {
            for table in &model.tables {
                tx.execute(&format!("DELETE FROM {table}"), &crate::sql::Params::new())?;
            }
        }
        let mut after = Position(0);
        let mut count = 0;
        loop {
            let page = crate::read::read_log(&mut tx, &LogQuery::after(after).limit(PAGE))?;
            let Some(last) = page.last() else { break };
            after = last.position;
            for event in &page {
                reduce(&mut tx, &app, event)?;
            }
            count += page.len() as u64;
        }
        Ok(count)
    }
}
