//! One rusqlite connection behind the [`Connection`] trait.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, ValueRef as SqliteRef};
use rusqlite::{ErrorCode, OpenFlags, ToSql, ffi};

use crate::backend::Connection;
use crate::sql::{RowRef, SqlError, SqlErrorKind, Value, ValueRef};

/// How many SQLite VM steps run between deadline checks.
const DEADLINE_CHECK_INTERVAL: std::num::NonZeroI32 = match std::num::NonZeroI32::new(10_000) {
    Some(n) => n,
    None => unreachable!(),
};

/// How long a statement waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct SqliteConnection {
    conn: rusqlite::Connection,
    /// Nanoseconds after `epoch` at which running statements are interrupted; 0 = never.
    deadline: Arc<AtomicU64>,
    epoch: Instant,
}

impl SqliteConnection {
    pub(super) fn open(path: &Path, flags: OpenFlags, synchronous: &str) -> Result<Self, SqlError> {
        let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(map_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        if !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
            set_wal(&conn)?;
        }
        Self::configure(conn, synchronous)
    }

    /// A private database in memory: a scratch place (ADR 007). Nothing in it needs to
    /// survive a crash, so it syncs nothing.
    pub(super) fn open_scratch() -> Result<Self, SqlError> {
        let conn = rusqlite::Connection::open_in_memory().map_err(map_err)?;
        Self::configure(conn, "OFF")
    }

    fn configure(mut conn: rusqlite::Connection, synchronous: &str) -> Result<Self, SqlError> {
        conn.set_prepared_statement_cache_capacity(256);
        conn.pragma_update(None, "synchronous", synchronous)
            .map_err(map_err)?;
        // Savepoint journals and temporary indexes in memory: with the default they
        // spill to temp files and every journaled page becomes a disk write (about a
        // fifth of the writer's time in docs/PERFORMANCE.md). Durability is unaffected:
        // the WAL is the durable record.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(map_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(map_err)?;
        // Deleted and overwritten content is zeroed, not left in free space: after an
        // erasure no byte of the file holds the subject's data (see event::personal).
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(map_err)?;
        let deadline = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let watched = Arc::clone(&deadline);
        conn.progress_handler(
            DEADLINE_CHECK_INTERVAL.get(),
            Some(move || {
                let limit = watched.load(Ordering::Relaxed);
                limit != 0 && epoch.elapsed().as_nanos() as u64 > limit
            }),
        )
        .map_err(map_err)?;
        Ok(SqliteConnection {
            conn,
            deadline,
            epoch,
        })
    }
}

impl Connection for SqliteConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        let changed = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(map_err)?;
        Ok(changed as u64)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.conn.execute_batch(sql).map_err(map_err)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), SqlError>,
    ) -> Result<Vec<String>, SqlError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(map_err)?;
        while let Some(row) = rows.next().map_err(map_err)? {
            each(&SqliteRow(row))?;
        }
        Ok(columns)
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        let nanos = deadline.map_or(0, |d| {
            (d.saturating_duration_since(self.epoch).as_nanos() as u64).max(1)
        });
        self.deadline.store(nanos, Ordering::Relaxed);
    }
}

struct SqliteRow<'a, 'b>(&'a rusqlite::Row<'b>);

impl RowRef for SqliteRow<'_, '_> {
    fn len(&self) -> usize {
        self.0.as_ref().column_count()
    }

    fn value(&self, idx: usize) -> Result<ValueRef<'_>, SqlError> {
        let value = self.0.get_ref(idx).map_err(map_err)?;
        Ok(match value {
            SqliteRef::Null => ValueRef::Null,
            SqliteRef::Integer(i) => ValueRef::Integer(i),
            SqliteRef::Real(r) => ValueRef::Real(r),
            SqliteRef::Text(t) => ValueRef::Text(
                std::str::from_utf8(t).map_err(|_| SqlError::decode("text column is not UTF-8"))?,
            ),
            SqliteRef::Blob(b) => ValueRef::Blob(b),
        })
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => SqliteRef::Null,
            Value::Integer(i) => SqliteRef::Integer(*i),
            Value::Real(r) => SqliteRef::Real(*r),
            Value::Text(t) => SqliteRef::Text(t.as_bytes()),
            Value::Blob(b) => SqliteRef::Blob(b),
        }))
    }
}

/// Classifies a rusqlite error by SQLite's result codes.
/// Switches to WAL mode. Processes switching a new file at once can get SQLITE_BUSY
/// without the busy handler being called, so that is retried up to [`BUSY_TIMEOUT`].
fn set_wal(conn: &rusqlite::Connection) -> Result<(), SqlError> {
    let until = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::DatabaseBusy && Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other.map_err(map_err),
        }
    }
}

fn map_err(err: rusqlite::Error) -> SqlError {
    let kind = match &err {
        rusqlite::Error::SqliteFailure(e, _) => classify(e),
        rusqlite::Error::InvalidColumnIndex(_)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::InvalidColumnName(_) => SqlErrorKind::Decode,
        _ => SqlErrorKind::Other,
    };
    SqlError::new(kind, err.to_string())
}

fn classify(e: &ffi::Error) -> SqlErrorKind {
    match e.code {
        ErrorCode::ConstraintViolation => match e.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                SqlErrorKind::UniqueViolation
            }
            _ => SqlErrorKind::ConstraintViolation,
        },
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => SqlErrorKind::Busy,
        ErrorCode::ReadOnly => SqlErrorKind::ReadOnly,
        ErrorCode::OperationInterrupted => SqlErrorKind::Interrupted,
        ErrorCode::CannotOpen | ErrorCode::SystemIoFailure | ErrorCode::DiskFull => {
            SqlErrorKind::Connection
        }
        _ => SqlErrorKind::Other,
    }
}
