//! One `postgres` client behind the [`Connection`] trait: prepared statements cached
//! per connection, values bound by the parameter types the server infers, errors
//! classified by SQLSTATE.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls, Row, SimpleQueryMessage, Statement};

use super::deadline::{CancelTarget, Deadline};
use super::error::map_err;
use super::value::{self, PgKind, Raw};
use crate::backend::{Connection, Role};
use crate::sql::{RowRef, SqlError, SqlErrorKind, Value, ValueRef};

/// Prepared statements kept per connection before the cache starts over.
const MAX_CACHED_STATEMENTS: usize = 512;

/// How long the watchdog's side connection may take to connect.
const CANCEL_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A statement prepared on this connection, with how to read each of its columns.
struct Prepared {
    statement: Statement,
    kinds: Vec<PgKind>,
}

pub(super) struct PgConnection {
    /// `None` only while being dropped.
    client: Option<Client>,
    statements: HashMap<String, Prepared>,
    /// Owned values of the current row (UUID columns), reused from row to row.
    scratch: Vec<Value>,
    deadline: Deadline,
    /// To reconnect after the server closed the connection.
    config: Config,
    role: Role,
}

impl PgConnection {
    /// Connects and sets the session up for `role`: the writer runs in READ COMMITTED
    /// (each statement sees what committed before it, which the writer lock relies on);
    /// readers get one consistent snapshot per transaction and cannot write.
    pub(super) fn open(config: &Config, role: Role) -> Result<Self, SqlError> {
        let mut client = config.connect(NoTls).map_err(map_err)?;
        let characteristics = match role {
            Role::Writer => "ISOLATION LEVEL READ COMMITTED, READ WRITE",
            Role::Reader => "ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        };
        let setup = format!(
            "SET SESSION CHARACTERISTICS AS TRANSACTION {characteristics}; SELECT pg_backend_pid()"
        );
        let pid = client
            .simple_query(&setup)
            .map_err(map_err)?
            .iter()
            .find_map(|message| match message {
                SimpleQueryMessage::Row(row) => row.get(0).and_then(|pid| pid.parse::<i32>().ok()),
                _ => None,
            })
            .ok_or_else(|| SqlError::decode("pg_backend_pid() returned no process id"))?;
        let mut cancel_config = config.clone();
        cancel_config.connect_timeout(CANCEL_CONNECT_TIMEOUT);
        let target = CancelTarget {
            config: cancel_config,
            pid,
            token: client.cancel_token(),
        };
        Ok(PgConnection {
            client: Some(client),
            statements: HashMap::new(),
            scratch: Vec::new(),
            deadline: Deadline::new(target),
            config: config.clone(),
            role,
        })
    }

    /// Runs `op` for statement `sql`. A `BEGIN` that finds the connection lost (the
    /// server restarted, an idle connection was killed) reconnects and runs again:
    /// nothing of a transaction can be lost before its `BEGIN`.
    fn retry_begin<T>(
        &mut self,
        sql: &str,
        op: impl Fn(&mut Self) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        match op(self) {
            Err(err) if err.kind == SqlErrorKind::Connection && starts_transaction(sql) => {
                tracing::warn!(error = %err, "PostgreSQL connection lost; reconnecting");
                *self = PgConnection::open(&self.config, self.role)?;
                op(self)
            }
            other => other,
        }
    }

    fn run_execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let _running = self.deadline.start()?;
        let client = self.client.as_mut().ok_or_else(closed)?;
        let prepared = prepare(&mut self.statements, client, sql)?;
        let mut rows = client
            .query_raw(&prepared.statement, params.iter())
            .map_err(map_err)?;
        while rows.next().map_err(map_err)?.is_some() {}
        Ok(rows.rows_affected().unwrap_or(0))
    }

    fn run_batch_value(&mut self, sql: &str) -> Result<Option<String>, SqlError> {
        let _running = self.deadline.start()?;
        let client = self.client.as_mut().ok_or_else(closed)?;
        let messages = client.simple_query(sql).map_err(map_err)?;
        let last = messages.iter().rev().find_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
            _ => None,
        });
        Ok(last.flatten())
    }

    fn run_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        let _running = self.deadline.start()?;
        let client = self.client.as_mut().ok_or_else(closed)?;
        client.batch_execute(sql).map_err(map_err)
    }
}

/// Whether `sql`'s first statement is `BEGIN`: nothing of a transaction can be lost
/// by running it again on a new connection.
fn starts_transaction(sql: &str) -> bool {
    let first = sql.split(';').next().unwrap_or_default();
    first.trim().eq_ignore_ascii_case("BEGIN")
}

fn closed() -> SqlError {
    SqlError::new(SqlErrorKind::Connection, "connection closed")
}

/// The prepared form of `sql`, preparing it on first use.
fn prepare<'a>(
    statements: &'a mut HashMap<String, Prepared>,
    client: &mut Client,
    sql: &str,
) -> Result<&'a Prepared, SqlError> {
    if !statements.contains_key(sql) {
        let statement = client.prepare(sql).map_err(map_err)?;
        let kinds = statement
            .columns()
            .iter()
            .map(|c| PgKind::of(c.type_()))
            .collect();
        if statements.len() >= MAX_CACHED_STATEMENTS {
            statements.clear();
        }
        statements.insert(sql.to_owned(), Prepared { statement, kinds });
    }
    statements
        .get(sql)
        .ok_or_else(|| SqlError::new(SqlErrorKind::Other, "statement cache lost a statement"))
}

impl Connection for PgConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        self.retry_begin(sql, |conn| conn.run_execute(sql, params))
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.retry_begin(sql, |conn| conn.run_batch(sql))
    }

    fn batch_value(&mut self, sql: &str) -> Result<Option<String>, SqlError> {
        self.retry_begin(sql, |conn| conn.run_batch_value(sql))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), SqlError>,
    ) -> Result<Vec<String>, SqlError> {
        let _running = self.deadline.start()?;
        let client = self.client.as_mut().ok_or_else(closed)?;
        let prepared = prepare(&mut self.statements, client, sql)?;
        let columns = prepared
            .statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let kinds = &prepared.kinds;
        self.scratch.resize(kinds.len(), Value::Null);
        let mut rows = client
            .query_raw(&prepared.statement, params.iter())
            .map_err(map_err)?;
        while let Some(row) = rows.next().map_err(map_err)? {
            fill_owned(&row, kinds, &mut self.scratch)?;
            each(&PgRow {
                row: &row,
                kinds,
                owned: &self.scratch,
            })?;
        }
        Ok(columns)
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline.set(deadline);
    }
}

impl Drop for PgConnection {
    /// Closing a client blocks on its own runtime, which must not happen on an async
    /// worker thread (a store dropped in async code drops its idle readers there).
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let closing = std::thread::Builder::new()
                .name("gesta-pg-close".to_owned())
                .spawn(move || drop(client));
            if let Err(err) = closing {
                tracing::warn!(error = %err, "cannot close a PostgreSQL connection cleanly");
            }
        }
    }
}

/// Decodes the columns that need an owned value (UUIDs, as text) into `scratch`.
fn fill_owned(row: &Row, kinds: &[PgKind], scratch: &mut [Value]) -> Result<(), SqlError> {
    for (idx, kind) in kinds.iter().enumerate() {
        if *kind != PgKind::Uuid {
            continue;
        }
        let Raw(raw) = row.try_get(idx).map_err(map_err)?;
        if let Some(raw) = raw {
            value::decode_owned(*kind, row.columns()[idx].type_(), raw, &mut scratch[idx])?;
        }
    }
    Ok(())
}

struct PgRow<'a> {
    row: &'a Row,
    kinds: &'a [PgKind],
    owned: &'a [Value],
}

impl RowRef for PgRow<'_> {
    fn len(&self) -> usize {
        self.kinds.len()
    }

    fn value(&self, idx: usize) -> Result<ValueRef<'_>, SqlError> {
        let kind = *self
            .kinds
            .get(idx)
            .ok_or_else(|| SqlError::decode(format!("no column {idx}")))?;
        let Raw(raw) = self.row.try_get(idx).map_err(map_err)?;
        match value::decode(kind, raw)? {
            Some(value) => Ok(value),
            None if kind == PgKind::Uuid => Ok(self.owned[idx].as_ref()),
            None => Err(SqlError::decode(format!(
                "column {:?} has type {}, which Gesta cannot read; cast it in SQL, e.g. CAST(x AS TEXT)",
                self.row.columns()[idx].name(),
                self.row.columns()[idx].type_().name()
            ))),
        }
    }
}
