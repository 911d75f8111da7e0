//! Scratch places on the server backends (ADR 007): a schema (PostgreSQL) or a
//! database (MySQL) of a fresh name that the connection resolves unqualified table
//! names in, dropped when the connection is.

use std::time::Instant;

use super::Connection;
use crate::sql::{RowRef, SqlError, Value};

/// The prefix of every scratch namespace, so that one left behind by a crash can be
/// recognized (and dropped by hand).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) const PREFIX: &str = "gesta_scratch_";

/// A fresh scratch namespace name: the prefix and a random hex suffix.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(super) fn name() -> String {
    format!("{PREFIX}{}", uuid::Uuid::new_v4().simple())
}

/// Creates the namespace `namespace` on `conn` with `create` (which also makes it the
/// connection's default); `drop` removes it when the connection is dropped.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(super) fn open(
    mut conn: Box<dyn Connection>,
    namespace: String,
    create: &str,
    drop: String,
) -> Result<Box<dyn Connection>, SqlError> {
    conn.execute_batch(create)?;
    Ok(Box::new(ScratchConnection {
        conn,
        namespace,
        drop,
    }))
}

struct ScratchConnection {
    conn: Box<dyn Connection>,
    namespace: String,
    drop: String,
}

impl Connection for ScratchConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        self.conn.execute(sql, params)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.conn.execute_batch(sql)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), SqlError>,
    ) -> Result<Vec<String>, SqlError> {
        self.conn.query(sql, params, each)
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.conn.set_deadline(deadline);
    }

    fn scratch_namespace(&self) -> Option<&str> {
        Some(&self.namespace)
    }
}

impl Drop for ScratchConnection {
    fn drop(&mut self) {
        self.conn.set_deadline(None);
        // A transaction left open (a failed replay) would keep the drop waiting.
        let _ = self.conn.execute_batch("ROLLBACK");
        if let Err(err) = self.conn.execute_batch(&self.drop) {
            tracing::warn!(error = %err, "could not drop a scratch place; drop it by hand");
        }
    }
}
