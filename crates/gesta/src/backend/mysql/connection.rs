//! One MySQL/MariaDB connection behind the [`Connection`] trait.
//!
//! Statements with parameters, and every query, run as server-side prepared statements
//! from the driver's per-connection cache (binary protocol, typed values); statements
//! without parameters and without rows (`START TRANSACTION`, savepoints, `COMMIT`,
//! DDL) run as plain text in one round trip. A connection lost to the server is
//! replaced at the next `START TRANSACTION`/`BEGIN`, never in the middle of one.

use std::sync::Arc;
use std::time::Instant;

use mysql::prelude::{Protocol, Queryable};
use mysql::{Conn, Params, QueryResult};

use super::Settings;
use super::deadline::Watchdog;
use super::error::map_err;
use super::value::{Cells, Kind, from_mysql, to_mysql};
use crate::backend::{Connection, Role};
use crate::sql::{RowRef, SqlError, SqlErrorKind, Value};

pub(super) struct MysqlConnection {
    /// `None` after the connection was lost, until the next transaction reconnects.
    conn: Option<Conn>,
    settings: Arc<Settings>,
    role: Role,
    /// The server's id for this connection, for `KILL QUERY`.
    id: u64,
    deadline: Option<Instant>,
    watchdog: Option<Watchdog>,
    /// The current row, converted; reused from row to row.
    cells: Vec<Value>,
}

impl MysqlConnection {
    pub(super) fn open(settings: Arc<Settings>, role: Role) -> Result<Self, SqlError> {
        let (conn, id) = connect(&settings, role)?;
        Ok(MysqlConnection {
            conn: Some(conn),
            settings,
            role,
            id,
            deadline: None,
            watchdog: None,
            cells: Vec::new(),
        })
    }

    /// Runs `f` on the live connection, inside the deadline's watch. A transaction's
    /// first statement that finds the connection lost reconnects and runs again:
    /// nothing was in flight, so nothing is lost.
    fn run<T>(
        &mut self,
        sql: &str,
        mut f: impl FnMut(&mut Conn, &mut Vec<Value>) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        match self.run_once(sql, &mut f) {
            Err(err) if err.kind == SqlErrorKind::Connection && starts_transaction(sql) => {
                self.run_once(sql, &mut f)
            }
            other => other,
        }
    }

    fn run_once<T>(
        &mut self,
        sql: &str,
        f: &mut impl FnMut(&mut Conn, &mut Vec<Value>) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        if self.conn.is_none() {
            if !starts_transaction(sql) {
                return Err(lost());
            }
            self.reconnect()?;
        }
        let watched = match (&self.watchdog, self.deadline) {
            (Some(watchdog), Some(_)) => {
                if !watchdog.enter() {
                    return Err(interrupted());
                }
                Some(watchdog)
            }
            (None, Some(deadline)) if Instant::now() >= deadline => return Err(interrupted()),
            _ => None,
        };
        let result = match self.conn.as_mut() {
            Some(conn) => f(conn, &mut self.cells),
            None => Err(lost()),
        };
        if let Some(watchdog) = watched {
            watchdog.leave();
        }
        if let Err(err) = &result {
            if err.kind == SqlErrorKind::Connection {
                self.conn = None;
            }
        }
        result
    }

    fn reconnect(&mut self) -> Result<(), SqlError> {
        let (conn, id) = connect(&self.settings, self.role)?;
        self.conn = Some(conn);
        self.id = id;
        if let Some(watchdog) = &self.watchdog {
            watchdog.set_target(id);
        }
        tracing::info!(role = ?self.role, "reconnected to MySQL");
        Ok(())
    }
}

impl Connection for MysqlConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        if params.is_empty() {
            return self.run(sql, |conn, _| drain(conn.query_iter(sql).map_err(map_err)?));
        }
        self.run(sql, |conn, _| {
            drain(conn.exec_iter(sql, positional(params)).map_err(map_err)?)
        })
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.run(sql, |conn, _| {
            drain(conn.query_iter(sql).map_err(map_err)?).map(drop)
        })
    }

    fn batch_value(&mut self, sql: &str) -> Result<Option<String>, SqlError> {
        self.run(sql, |conn, _| {
            let mut result = conn.query_iter(sql).map_err(map_err)?;
            let mut last = None;
            while let Some(set) = result.iter() {
                for row in set {
                    let row = row.map_err(map_err)?;
                    last = Some(match row.as_ref(0) {
                        None | Some(mysql::Value::NULL) => None,
                        Some(mysql::Value::Bytes(bytes)) => {
                            Some(String::from_utf8_lossy(bytes).into_owned())
                        }
                        Some(other) => Some(other.as_sql(true)),
                    });
                }
            }
            Ok(last.flatten())
        })
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), SqlError>,
    ) -> Result<Vec<String>, SqlError> {
        self.run(sql, |conn, cells| {
            let mut result = conn.exec_iter(sql, positional(params)).map_err(map_err)?;
            let columns = result.columns();
            let names: Vec<String> = columns
                .as_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect();
            let kinds: Vec<Kind> = columns.as_ref().iter().map(Kind::of).collect();
            if let Some(set) = result.iter() {
                for row in set {
                    cells.clear();
                    let values = row.map_err(map_err)?.unwrap();
                    for (value, kind) in values.into_iter().zip(&kinds) {
                        cells.push(from_mysql(value, *kind)?);
                    }
                    each(&Cells(cells))?;
                }
            }
            drain(result)?;
            Ok(names)
        })
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        if deadline.is_some() && self.watchdog.is_none() {
            match Watchdog::start(self.settings.opts.clone(), self.id) {
                Ok(watchdog) => self.watchdog = Some(watchdog),
                Err(err) => tracing::warn!(error = %err, "no MySQL deadline watchdog"),
            }
        }
        if let Some(watchdog) = &self.watchdog {
            watchdog.set_deadline(deadline);
        }
    }
}

/// Connects and sets the session up; returns the connection and its id.
fn connect(settings: &Settings, role: Role) -> Result<(Conn, u64), SqlError> {
    let mut conn = Conn::new(settings.opts.clone()).map_err(map_err)?;
    let init = settings.flavor.session_init(role);
    let mut id = None;
    let mut result = conn.query_iter(init).map_err(map_err)?;
    while let Some(set) = result.iter() {
        for row in set {
            id = row.map_err(map_err)?.get::<u64, _>(0);
        }
    }
    drop(result);
    let id = id.ok_or_else(|| SqlError::new(SqlErrorKind::Other, "no CONNECTION_ID()"))?;
    Ok((conn, id))
}

/// The driver's form of `params`.
fn positional(params: &[Value]) -> Params {
    if params.is_empty() {
        Params::Empty
    } else {
        Params::Positional(params.iter().map(to_mysql).collect())
    }
}

/// Reads every result set to the end; returns the rows changed.
fn drain<P: Protocol>(mut result: QueryResult<'_, '_, '_, P>) -> Result<u64, SqlError> {
    let mut changed = 0;
    while let Some(mut set) = result.iter() {
        changed += set.affected_rows();
        for row in set.by_ref() {
            row.map_err(map_err)?;
        }
    }
    Ok(changed)
}

/// Whether `sql`'s first statement opens a transaction (so it may run on a new
/// connection: nothing of a transaction is lost before it).
fn starts_transaction(sql: &str) -> bool {
    let sql = sql.split(';').next().unwrap_or_default().trim();
    sql.eq_ignore_ascii_case("START TRANSACTION") || sql.eq_ignore_ascii_case("BEGIN")
}

fn lost() -> SqlError {
    SqlError::new(
        SqlErrorKind::Connection,
        "the connection to the MySQL server was lost; it is replaced at the next transaction",
    )
}

fn interrupted() -> SqlError {
    SqlError::new(
        SqlErrorKind::Interrupted,
        "the deadline passed before the statement started",
    )
}
