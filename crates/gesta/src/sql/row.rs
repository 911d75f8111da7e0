//! Rows read back from a query.

use std::sync::Arc;

use super::{SqlError, Value, ValueRef};

/// A row being read by a backend, borrowed for the duration of a callback.
pub trait RowRef {
    /// The number of columns.
    fn len(&self) -> usize;
    /// Whether the row has no columns.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The value of column `idx` (0-based).
    fn value(&self, idx: usize) -> Result<ValueRef<'_>, SqlError>;
}

/// Converts a SQL value into a Rust type.
pub trait FromValue: Sized {
    /// Converts `value`, or explains why it cannot.
    fn from_value(value: ValueRef<'_>) -> Result<Self, SqlError>;
}

fn mismatch(want: &str, got: ValueRef<'_>) -> SqlError {
    SqlError::decode(format!("expected {want}, found {got:?}"))
}

impl FromValue for i64 {
    fn from_value(value: ValueRef<'_>) -> Result<Self, SqlError> {
        match value {
            ValueRef::Integer(i) => Ok(i),
            ValueRef::Real(r) if r.fract() == 0.0 => Ok(r as i64),
            ValueRef::Text(t) => t.parse().map_err(|_| mismatch("an integer", value)),
            other => Err(mismatch("an integer", other)),
        }
    }
}

impl FromValue for u64 {
    fn from_value(value: ValueRef<'_>) -> Result<Self, SqlError> {
        let i = i64::from_value(value)?;
        u64::try_from(i).map_err(|_| mismatch("a non-negative integer", value))
    }
}

impl FromValue for i32 {
    fn from_value(value: ValueRef<'_>) -> Result<Self, SqlError> {
        let i = i64::from_value(value)?;
        i32::try_from(i).map_err(|_| mismatch("a 32-bit integer", value))
    }
}

impl FromValue for bool {
    fn from_value(value: ValueRef<'_>) -> Result<Self, SqlError> {
        Ok(i64::from_value(value)? != 0)
    }
}

impl FromValue for f64 {
    fn from_value(value: ValueRef<'_>) -> Result<Self, SqlError> {
        match value {
            ValueRef::Real(r) => Ok(r),
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(mismatch("a number", other)),
        }
    }
}

impl FromValue for String {
    fn from_value(value: ValueRef<'_>) -> Result<Self, SqlError> {
        match value {
            ValueRef::Text(t) => Ok(t.to_owned()),
            ValueRef::Blob(b) => {
                String::from_utf8(b.to_vec()).map_err(|_| mismatch("UTF-8 text", value))
            }
            ValueRef::Integer(i) => Ok(i.to_string()),
            other => Err(mismatch("text", other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: ValueRef<'_>) -> Result<Self, SqlError> {
        match value {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(mismatch("bytes", other)),
        }
    }
}

impl FromValue for Value {
    fn from_value(value: ValueRef<'_>) -> Result<Self, SqlError> {
        Ok(value.to_owned())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: ValueRef<'_>) -> Result<Self, SqlError> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// An owned row: column names and values.
///
/// ```
/// # fn f(row: &gesta::sql::Row) -> Result<(), gesta::sql::SqlError> {
/// let balance: i64 = row.get("balance")?;
/// let owner: Option<String> = row.get("owner")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// Builds a row from column names and values of the same length.
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Row { columns, values }
    }

    /// The value of the column named `name`, converted to `T`.
    pub fn get<T: FromValue>(&self, name: &str) -> Result<T, SqlError> {
        let idx = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| SqlError::decode(format!("no column named {name:?}")))?;
        self.get_at(idx)
    }

    /// The value of column `idx` (0-based), converted to `T`.
    pub fn get_at<T: FromValue>(&self, idx: usize) -> Result<T, SqlError> {
        let value = self
            .values
            .get(idx)
            .ok_or_else(|| SqlError::decode(format!("no column {idx}")))?;
        T::from_value(value.as_ref())
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }
}
