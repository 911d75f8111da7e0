//! The named lock of the server backends: taken and checked by SQL on a connection of
//! its own (see `lock.rs` for the scheme per backend).

use super::{Connection, NamedLock};
use crate::sql::{FromValue, SqlError, Value, ValueRef};

/// A lock taken and checked by SQL on a connection of its own (server backends). The
/// statements take the lock name as their only parameter and return one integer.
pub(crate) struct SessionLock {
    conn: Box<dyn Connection>,
    acquire: &'static str,
    check: &'static str,
    name: String,
    held: bool,
}

impl SessionLock {
    /// A handle on lock `name` over `conn`, not yet acquired.
    pub(crate) fn new(
        conn: Box<dyn Connection>,
        acquire: &'static str,
        check: &'static str,
        name: &str,
    ) -> Self {
        SessionLock {
            conn,
            acquire,
            check,
            name: name.to_owned(),
            held: false,
        }
    }

    fn scalar(&mut self, sql: &str) -> Result<i64, SqlError> {
        let mut value = 0;
        self.conn
            .query(sql, &[Value::Text(self.name.clone())], &mut |row| {
                value = match row.value(0)? {
                    ValueRef::Null => 0,
                    other => i64::from_value(other)?,
                };
                Ok(())
            })?;
        Ok(value)
    }
}

impl NamedLock for SessionLock {
    fn try_acquire(&mut self) -> Result<bool, SqlError> {
        if self.held {
            return self.still_held();
        }
        self.held = self.scalar(self.acquire)? == 1;
        Ok(self.held)
    }

    fn still_held(&mut self) -> Result<bool, SqlError> {
        if self.held {
            self.held = self.scalar(self.check)? == 1;
        }
        Ok(self.held)
    }
}
