//! The writer's handle inside a batch: its connection, wrapped so that a statement
//! concerning the log tables first writes what the [`LogBuffer`] holds (ADR 005), and
//! the buffer itself. Handlers, reducers and idempotency get a plain [`Tx`] over the
//! wrapped connection from [`WriteTx::tx`]; appends reach the buffer through
//! [`WriteTx::log`]; the writer's own look-ups that consult the buffer themselves use
//! [`WriteTx::unbuffered`]. The public `Tx` knows nothing of the buffer.

use std::time::Instant;

use super::LogBuffer;
use crate::Tx;
use crate::backend::Connection;
use crate::sql::{RowRef, SqlError, Value};
use crate::tx::{Session, StatementCache, UnitLocals};

/// The writer's transaction: a [`Tx`] on demand, and the log buffer.
pub(super) struct WriteTx<'a> {
    conn: Buffered<'a>,
    statements: &'a mut StatementCache,
    /// What `Tx::unit_local` hands out: one `WriteTx` is one unit.
    unit: UnitLocals,
}

impl<'a> WriteTx<'a> {
    pub(super) fn new(session: &'a mut Session, log: &'a mut LogBuffer) -> Self {
        WriteTx {
            conn: Buffered {
                conn: session.conn.as_mut(),
                log,
            },
            statements: &mut session.statements,
            unit: UnitLocals::default(),
        }
    }

    /// Shows `principal` to the unit's handler ([`Tx::principal`]).
    pub(super) fn set_principal(&mut self, principal: Option<crate::Principal>) {
        self.unit.principal = principal;
    }

    /// SQL in the open transaction, as handlers and reducers see it.
    pub(super) fn tx(&mut self) -> Tx<'_> {
        Tx::in_unit(&mut self.conn, self.statements, &mut self.unit)
    }

    /// SQL that does not write the buffer first: for the writer's own look-ups in the
    /// log tables, which consult the buffer themselves (a stream's version, an event
    /// id), so that they cost no flush.
    pub(super) fn unbuffered(&mut self) -> Tx<'_> {
        Tx::in_unit(self.conn.conn, self.statements, &mut self.unit)
    }

    /// The buffered log rows and stream versions of the batch.
    pub(super) fn log(&mut self) -> &mut LogBuffer {
        self.conn.log
    }
}

/// The writer's connection that writes the buffer before any statement concerning the
/// log tables, so the statement sees every earlier command's events.
struct Buffered<'a> {
    conn: &'a mut dyn Connection,
    log: &'a mut LogBuffer,
}

impl Buffered<'_> {
    fn before(&mut self, sql: &str) -> Result<(), SqlError> {
        if self.log.concerns(sql) {
            self.log.flush(self.conn)?;
        }
        Ok(())
    }
}

impl Connection for Buffered<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        self.before(sql)?;
        self.conn.execute(sql, params)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.before(sql)?;
        self.conn.execute_batch(sql)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), SqlError>,
    ) -> Result<Vec<String>, SqlError> {
        self.before(sql)?;
        self.conn.query(sql, params, each)
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.conn.set_deadline(deadline);
    }
}
