//! The SQL handle handlers, reducers and queries use: named parameters, owned rows.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use crate::backend::Connection;
use crate::sql::{FromValue, NamedSql, Params, Placeholder, Row, SqlError, SqlErrorKind};

/// Parsed statements by their `:name` text, per connection.
pub(crate) struct StatementCache {
    placeholder: Placeholder,
    parsed: HashMap<String, Arc<NamedSql>>,
}

impl StatementCache {
    pub(crate) fn new(placeholder: Placeholder) -> Self {
        StatementCache {
            placeholder,
            parsed: HashMap::new(),
        }
    }

    fn get(&mut self, sql: &str) -> Arc<NamedSql> {
        if let Some(parsed) = self.parsed.get(sql) {
            return Arc::clone(parsed);
        }
        let parsed = Arc::new(NamedSql::parse(sql, self.placeholder));
        if self.parsed.len() > 1024 {
            self.parsed.clear();
        }
        self.parsed.insert(sql.to_owned(), Arc::clone(&parsed));
        parsed
    }
}

/// A connection and its statement cache.
pub(crate) struct Session {
    pub(crate) conn: Box<dyn Connection>,
    pub(crate) statements: StatementCache,
}

impl Session {
    pub(crate) fn new(conn: Box<dyn Connection>, placeholder: Placeholder) -> Self {
        Session {
            conn,
            statements: StatementCache::new(placeholder),
        }
    }

    pub(crate) fn tx(&mut self) -> Tx<'_> {
        Tx::new(self.conn.as_mut(), &mut self.statements)
    }

    /// Opens a transaction with the `begin` statements, in order (the dialect's, which
    /// may take the log's write lock after `BEGIN`); when a later one fails, what the
    /// earlier ones opened is rolled back. With [`Session::end`], the one place that
    /// brackets transactions.
    pub(crate) fn begin(&mut self, begin: &[&str]) -> Result<(), SqlError> {
        for (i, sql) in begin.iter().enumerate() {
            if let Err(err) = self.conn.execute(sql, &[]) {
                if i > 0 {
                    let _ = self.conn.execute("ROLLBACK", &[]);
                }
                return Err(err);
            }
        }
        Ok(())
    }

    /// Ends the open transaction: `COMMIT` when `commit` (rolled back if the commit
    /// fails), else `ROLLBACK`, whose own failure is returned.
    pub(crate) fn end(&mut self, commit: bool) -> Result<(), SqlError> {
        if !commit {
            return self.conn.execute("ROLLBACK", &[]).map(drop);
        }
        self.conn.execute("COMMIT", &[]).map(drop).inspect_err(|_| {
            let _ = self.conn.execute("ROLLBACK", &[]);
        })
    }

    /// Runs `work` in a transaction opened by `begin`: committed when it succeeds,
    /// rolled back when it fails.
    pub(crate) fn transaction<T, E: From<SqlError>>(
        &mut self,
        begin: &[&str],
        work: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.begin(begin)?;
        match work(&mut self.tx()) {
            Ok(value) => {
                self.end(true)?;
                Ok(value)
            }
            Err(err) => {
                let _ = self.end(false);
                Err(err)
            }
        }
    }
}

/// SQL access inside the current transaction (handlers, reducers) or on a reader
/// (queries). Placeholders are `:name`; the same text runs on every backend.
///
/// ```
/// # use gesta::{Tx, params, HandlerError};
/// fn balance(tx: &mut Tx<'_>, id: &str) -> Result<Option<i64>, HandlerError> {
///     let row = tx.query_opt("SELECT balance FROM accounts WHERE id = :id", &params! { "id" => id })?;
///     Ok(row.map(|r| r.get("balance")).transpose()?)
/// }
/// ```
pub struct Tx<'a> {
    conn: &'a mut dyn Connection,
    statements: &'a mut StatementCache,
    unit: Option<&'a mut UnitLocals>,
}

/// Values kept for one unit of the writer (one command, or one append, with all its
/// reducers), one per type: see [`Tx::unit_local`].
#[derive(Default)]
pub(crate) struct UnitLocals {
    values: HashMap<TypeId, Box<dyn Any + Send>>,
    /// The principal of the unit's request ([`Tx::principal`]).
    pub(crate) principal: Option<crate::Principal>,
}

impl<'a> Tx<'a> {
    /// SQL on `conn` (the writer wraps its connection so that the log buffer is
    /// written first where it must be: `writer/write_tx.rs`).
    pub(crate) fn new(conn: &'a mut dyn Connection, statements: &'a mut StatementCache) -> Self {
        Tx {
            conn,
            statements,
            unit: None,
        }
    }

    /// The same, inside one unit of the writer whose values are `unit`.
    pub(crate) fn in_unit(
        conn: &'a mut dyn Connection,
        statements: &'a mut StatementCache,
        unit: &'a mut UnitLocals,
    ) -> Self {
        Tx {
            conn,
            statements,
            unit: Some(unit),
        }
    }

    /// The authenticated principal of the command being handled (see
    /// [`crate::Context::principal`]): for a handler's rules of its own, such as "a
    /// customer moves money only out of their own account". `None` for an
    /// unauthenticated request, and outside the writer (replays, rebuilds, reads):
    /// reducers must not depend on it, since a rebuild replays them without one.
    pub fn principal(&self) -> Option<&crate::Principal> {
        self.unit.as_deref()?.principal.as_ref()
    }

    /// A value of type `T` that lives exactly as long as the writer's current unit: the
    /// command's handler and every reducer of its events see the same one, the next
    /// command starts from `T::default()`, and a unit that rolls back takes it along.
    /// `None` outside the writer (replays, rebuilds, as-of reads, queries), where there
    /// is no unit. An app's per-command cache belongs here.
    pub fn unit_local<T: Any + Send + Default>(&mut self) -> Option<&mut T> {
        let unit = self.unit.as_deref_mut()?;
        unit.values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut::<T>()
    }

    /// Runs a statement; returns the number of rows changed.
    pub fn execute(&mut self, sql: &str, params: &Params) -> Result<u64, SqlError> {
        let parsed = self.statements.get(sql);
        let values = parsed.bind(params)?;
        self.conn.execute(parsed.sql(), &values)
    }

    /// Runs a query and returns every row.
    pub fn query(&mut self, sql: &str, params: &Params) -> Result<Vec<Row>, SqlError> {
        let parsed = self.statements.get(sql);
        let values = parsed.bind(params)?;
        let mut rows = Vec::new();
        let columns = self.conn.query(parsed.sql(), &values, &mut |row| {
            let values = (0..row.len())
                .map(|i| row.value(i).map(|v| v.to_owned()))
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(values);
            Ok(())
        })?;
        let columns: Arc<[String]> = columns.into();
        Ok(rows
            .into_iter()
            .map(|values| Row::new(Arc::clone(&columns), values))
            .collect())
    }

    /// Runs a query expected to return at most one row.
    pub fn query_opt(&mut self, sql: &str, params: &Params) -> Result<Option<Row>, SqlError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs a query expected to return exactly one row.
    pub fn query_one(&mut self, sql: &str, params: &Params) -> Result<Row, SqlError> {
        self.query_opt(sql, params)?
            .ok_or_else(|| SqlError::new(SqlErrorKind::Decode, "query returned no row"))
    }

    /// Runs a query and returns the first column of the first row, if any.
    pub fn query_scalar<T: FromValue>(
        &mut self,
        sql: &str,
        params: &Params,
    ) -> Result<Option<T>, SqlError> {
        self.query_opt(sql, params)?
            .map(|row| row.get_at(0))
            .transpose()
    }

    /// Runs a query and calls `each` per row without collecting them (for large scans).
    pub(crate) fn for_each(
        &mut self,
        sql: &str,
        params: &Params,
        each: &mut dyn FnMut(&dyn crate::sql::RowRef) -> Result<(), SqlError>,
    ) -> Result<(), SqlError> {
        let parsed = self.statements.get(sql);
        let values = parsed.bind(params)?;
        self.conn.query(parsed.sql(), &values, each).map(drop)
    }

    /// Runs statements without parameters (DDL, migrations).
    pub(crate) fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.conn.execute_batch(sql)
    }
}
