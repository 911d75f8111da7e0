//! Materializing the read models at a position in a scratch place (ADR 007): start
//! from the newest usable snapshot at or before it, replay the rest of the log
//! through the same reducers the writer runs, leaving out reverted commands.

use std::time::{Duration, Instant};

use super::reverts::{self, Skipped};
use super::rows::TableRows;
use super::snapshot;
use crate::app::{App, ReadModel};
use crate::backend::{Backend, Dialect};
use crate::event::{Position, RecordedEvent};
use crate::sql::{Params, Row};
use crate::tx::Session;
use crate::{Error, LogQuery, Tx};

/// Events read from the log, and replayed in one scratch transaction, at a time.
pub(crate) const PAGE: usize = 5_000;

/// Read models as they stood at one position, in a scratch place of their own.
pub(crate) struct Materialized {
    session: Session,
    dialect: &'static Dialect,
    /// The position the tables are at.
    pub(crate) position: Position,
    /// What was left out, as of `position`.
    skipped: Skipped,
    /// The names of the read models materialized (all, or the one being rebuilt).
    models: Vec<String>,
}

impl Materialized {
    /// Opens a scratch place and fills it with `models` (every read model when `None`)
    /// as of `at`, reading the log through `log` (a read transaction), from the best
    /// snapshot.
    pub(crate) fn build(
        backend: &dyn Backend,
        app: &App,
        log: &mut Tx<'_>,
        at: Position,
        models: Option<&[String]>,
    ) -> Result<Self, Error> {
        Self::build_from(backend, app, log, at, models, true)
    }

    /// As [`Materialized::build`]; from the start of the log unless `use_snapshots`.
    pub(crate) fn build_from(
        backend: &dyn Backend,
        app: &App,
        log: &mut Tx<'_>,
        at: Position,
        models: Option<&[String]>,
        use_snapshots: bool,
    ) -> Result<Self, Error> {
        let dialect = backend.dialect();
        let mut session = Session::new(backend.scratch()?, dialect.placeholder);
        for migration in app.migrations() {
            session
                .tx()
                .execute_batch(migration.sql_for(dialect.name))
                .map_err(|source| Error::Migration {
                    name: format!("{} (in a scratch place)", migration.name),
                    source,
                })?;
        }
        let models: Vec<String> = match models {
            Some(names) => names.to_vec(),
            None => app.read_models().iter().map(|m| m.name.clone()).collect(),
        };
        let skipped = reverts::skipped_at(log, at)?;
        let mut place = Materialized {
            session,
            dialect,
            position: Position(0),
            skipped,
            models,
        };
        let chosen = place.chosen(app);
        let start = if use_snapshots {
            snapshot::best(log, app, dialect.name, &chosen, at, &place.skipped)?
        } else {
            None
        };
        if let Some((position, tables)) = start {
            place
                .session
                .transaction(&["BEGIN"], |tx| tables.iter().try_for_each(|t| t.write(tx)))?;
            place.position = position;
        }
        place.replay(app, log, at)?;
        Ok(place)
    }

    fn chosen<'a>(&self, app: &'a App) -> Vec<&'a ReadModel> {
        app.read_models()
            .iter()
            .filter(|m| self.models.contains(&m.name))
            .collect()
    }

    /// Replays forward to `to` when the reverts in force at `to` leave what is already
    /// applied as it is; returns false (and changes nothing) when a fresh place is
    /// needed instead.
    pub(crate) fn advance(
        &mut self,
        app: &App,
        log: &mut Tx<'_>,
        to: Position,
    ) -> Result<bool, Error> {
        if to < self.position {
            return Ok(false);
        }
        let skipped = reverts::skipped_at(log, to)?;
        if skipped.clipped(self.position) != self.skipped.clipped(self.position) {
            return Ok(false);
        }
        self.skipped = skipped;
        self.replay(app, log, to)?;
        Ok(true)
    }

    fn replay(&mut self, app: &App, log: &mut Tx<'_>, to: Position) -> Result<(), Error> {
        let models = self.chosen(app);
        while self.position < to {
            let want = (to.0 - self.position.0).min(PAGE as u64) as usize;
            let mut page = crate::read::read_log(log, &LogQuery::after(self.position).limit(want))?;
            crate::read::open_all(log, app.upcasters(), &mut page)?;
            let Some(last) = page.last().map(|e| e.position) else {
                return Err(Error::invalid(
                    "as_of",
                    format!("position {to} is past the head of the log"),
                ));
            };
            let skipped = &self.skipped;
            self.session
                .transaction(&["BEGIN"], |tx| apply_all(tx, &models, &page, skipped))?;
            self.position = last;
        }
        Ok(())
    }

    /// Runs `sql` read-only on the place; a statement running past `timeout` is
    /// cancelled.
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &Params,
        timeout: Duration,
    ) -> Result<Vec<Row>, Error> {
        read_only(&mut self.session, self.dialect, timeout, |tx| {
            Ok(tx.query(sql, params)?)
        })
    }

    /// Every row of `table`.
    pub(crate) fn table(&mut self, table: &str) -> Result<TableRows, Error> {
        Ok(TableRows::read(&mut self.session.tx(), table)?)
    }

    /// Where the place's tables live on the server when other connections to the same
    /// database can read them (`namespace.table`); `None` on SQLite, whose scratch
    /// database is private to its connection.
    pub(crate) fn namespace(&self) -> Option<&str> {
        self.session.conn.scratch_namespace()
    }

    /// The backend's dialect name (`sqlite`, `postgres`, `mysql`).
    pub(crate) fn dialect_name(&self) -> &'static str {
        self.dialect.name
    }

    /// The column names of `table`, in order.
    pub(crate) fn columns(&mut self, table: &str) -> Result<Vec<String>, Error> {
        let sql = format!("SELECT * FROM {table} WHERE 1 = 0");
        Ok(self.session.conn.query(&sql, &[], &mut |_| Ok(()))?)
    }

    /// The primary-key columns of `table`.
    pub(crate) fn primary_key(&mut self, table: &str) -> Result<Vec<String>, Error> {
        let rows = self.session.tx().query(
            self.dialect.primary_key,
            &crate::params! { "table" => table },
        )?;
        Ok(rows
            .iter()
            .map(|row| row.get_at(0))
            .collect::<Result<_, _>>()?)
    }

    /// What was left out, as of the place's position.
    pub(crate) fn skipped(&self) -> &Skipped {
        &self.skipped
    }

    /// Which read models this place holds.
    pub(crate) fn holds_all(&self, app: &App) -> bool {
        app.read_models()
            .iter()
            .all(|m| self.models.contains(&m.name))
    }
}

/// Applies `events` to `models`, leaving out the `skipped` ones; the first failing
/// reducer is reported with its event.
pub(crate) fn apply_all(
    tx: &mut Tx<'_>,
    models: &[&ReadModel],
    events: &[RecordedEvent],
    skipped: &Skipped,
) -> Result<(), Error> {
    for event in events {
        if skipped.contains(event.position) {
            continue;
        }
        for model in models {
            crate::writer::reduce_one(tx, model, event).map_err(|err| replay_failed(event, err))?;
        }
    }
    Ok(())
}

fn replay_failed(event: &RecordedEvent, err: Error) -> Error {
    let message = match err {
        Error::Rejected(rejection) => rejection.message,
        other => other.to_string(),
    };
    Error::ReplayFailed {
        position: event.position,
        event_type: event.event_type.clone(),
        stream: event.stream_id.to_string(),
        message,
    }
}

/// Runs `work` in a read-only transaction on `session`, with statements cancelled
/// after `timeout`; the connection is writable again afterwards.
pub(crate) fn read_only<T>(
    session: &mut Session,
    dialect: &Dialect,
    timeout: Duration,
    work: impl FnOnce(&mut Tx<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    session.begin(dialect.begin_read_only)?;
    session.conn.set_deadline(Some(Instant::now() + timeout));
    let result = work(&mut session.tx());
    session.conn.set_deadline(None);
    let ended = session.end(true);
    if let Some(sql) = dialect.end_read_only {
        session.conn.execute(sql, &[])?;
    }
    let value = result.map_err(|err| match err {
        Error::Database(e) if e.kind == crate::sql::SqlErrorKind::Interrupted => {
            Error::QueryTimeout(timeout)
        }
        other => other,
    })?;
    ended?;
    Ok(value)
}
