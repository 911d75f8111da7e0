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

/// What one unit's statements did to the open transaction, so the writer knows whether
/// a failed unit left anything to roll back (ADR 013).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct UnitTrace {
    /// Statements sent that may have written (anything but a `SELECT`).
    pub(super) writes: u32,
    /// A statement failed (on PostgreSQL that aborts the transaction).
    pub(super) failed: bool,
}

impl UnitTrace {
    /// Whether the unit may have changed the transaction.
    pub(super) fn dirty(&self) -> bool {
        self.writes > 0 || self.failed
    }
}

/// The writer's transaction: a [`Tx`] on demand, and the log buffer.
pub(super) struct WriteTx<'a> {
    conn: Buffered<'a>,
    statements: &'a mut StatementCache,
    /// What `Tx::unit_local` hands out: one `WriteTx` is one unit.
    unit: UnitLocals,
    /// Writes of reducers and of the idempotency record: the writer can redo them
    /// from the unit's events (see [`WriteTx::redoable`]).
    redoable_writes: u32,
}

impl<'a> WriteTx<'a> {
    pub(super) fn new(session: &'a mut Session, log: &'a mut LogBuffer) -> Self {
        WriteTx {
            conn: Buffered {
                conn: session.conn.as_mut(),
                log,
                bypass: false,
                trace: UnitTrace::default(),
            },
            statements: &mut session.statements,
            unit: UnitLocals::default(),
            redoable_writes: 0,
        }
    }

    /// Shows `principal` to the unit's handler ([`Tx::principal`]).
    pub(super) fn set_principal(&mut self, principal: Option<crate::Principal>) {
        self.unit.principal = principal;
    }

    /// SQL in the open transaction, as handlers and reducers see it.
    pub(super) fn tx(&mut self) -> Tx<'_> {
        self.conn.bypass = false;
        Tx::in_unit(&mut self.conn, self.statements, &mut self.unit)
    }

    /// SQL that does not write the buffer first: for the writer's own look-ups in the
    /// log tables, which consult the buffer themselves (a stream's version, an event
    /// id), so that they cost no flush.
    pub(super) fn unbuffered(&mut self) -> Tx<'_> {
        self.conn.bypass = true;
        Tx::in_unit(&mut self.conn, self.statements, &mut self.unit)
    }

    /// What the unit's statements have done so far.
    pub(super) fn trace(&self) -> UnitTrace {
        self.conn.trace
    }

    /// Runs `work` (reducers, the idempotency record: writes the writer can redo from
    /// the unit's outcome), counting its writes as redoable.
    pub(super) fn redoable<T>(&mut self, work: impl FnOnce(&mut Self) -> T) -> T {
        let before = self.conn.trace.writes;
        let result = work(self);
        self.redoable_writes += self.conn.trace.writes - before;
        result
    }

    /// Whether every write of the unit so far can be redone from its outcome: none
    /// came from the handler, sealing or anything else the writer cannot repeat.
    pub(super) fn only_redoable_writes(&self) -> bool {
        self.conn.trace.writes == self.redoable_writes
    }

    /// The buffered log rows and stream versions of the batch.
    pub(super) fn log(&mut self) -> &mut LogBuffer {
        self.conn.log
    }
}

/// The writer's connection that writes the buffer before any statement concerning the
/// log tables, so the statement sees every earlier command's events (unless `bypass`:
/// see [`WriteTx::unbuffered`]), and keeps the unit's [`UnitTrace`].
struct Buffered<'a> {
    conn: &'a mut dyn Connection,
    log: &'a mut LogBuffer,
    bypass: bool,
    trace: UnitTrace,
}

impl Buffered<'_> {
    fn before(&mut self, sql: &str, reads: bool) -> Result<(), SqlError> {
        if !reads {
            self.trace.writes += 1;
        }
        if !self.bypass && self.log.concerns(sql) {
            self.log
                .flush(self.conn)
                .inspect_err(|_| self.trace.failed = true)?;
        }
        Ok(())
    }

    fn after<T>(&mut self, result: Result<T, SqlError>) -> Result<T, SqlError> {
        if result.is_err() {
            self.trace.failed = true;
        }
        result
    }
}

impl Connection for Buffered<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        self.before(sql, false)?;
        let result = self.conn.execute(sql, params);
        self.after(result)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.before(sql, false)?;
        let result = self.conn.execute_batch(sql);
        self.after(result)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), SqlError>,
    ) -> Result<Vec<String>, SqlError> {
        self.before(sql, only_reads(sql))?;
        let result = self.conn.query(sql, params, each);
        self.after(result)
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.conn.set_deadline(deadline);
    }
}

/// Whether `sql` is a plain read: a `SELECT`, or a `WITH` query that does not modify
/// data. Anything else counts as a write (conservatively: a write costs a savepoint
/// at worst, a missed one would lose a rollback).
fn only_reads(sql: &str) -> bool {
    let head = sql.trim_start();
    let starts = |word: &str| {
        head.len() >= word.len()
            && head.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
    };
    if starts("select") {
        return true;
    }
    starts("with")
        && !["insert", "update", "delete", "merge", "replace"]
            .iter()
            .any(|w| super::log_buffer::mentions(sql, w.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::only_reads;

    #[test]
    fn reads_are_selects_and_plain_ctes() {
        assert!(only_reads("  select balance FROM accounts"));
        assert!(only_reads(
            "WITH RECURSIVE c(x) AS (SELECT 1) SELECT * FROM c"
        ));
        assert!(!only_reads(
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"
        ));
        assert!(!only_reads(
            "UPDATE accounts SET balance = 1 RETURNING balance"
        ));
        assert!(!only_reads("sel"));
    }
}
