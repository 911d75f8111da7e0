//! Backend-neutral SQL for handlers and reducers: values, named parameters, rows.
//!
//! Application SQL uses `:name` placeholders; each backend rewrites them to its own
//! dialect (`?1`, `$1`, `?`), so the same handler runs on every backend.

use std::borrow::Cow;

mod error;
mod named;
mod row;
mod value;

pub use error::{SqlError, SqlErrorKind};
pub use named::{NamedSql, Placeholder};
pub use row::{FromValue, Row, RowRef};
pub use value::{Value, ValueRef};

/// Named parameters for one statement.
///
/// ```
/// let p = gesta::params! { "id" => "a1", "amount" => 5_i64 };
/// assert_eq!(p.len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(Cow<'static, str>, Value)>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Params(Vec::new())
    }

    /// Adds `name` = `value`.
    pub fn with(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.0.push((name.into(), value.into()));
        self
    }

    /// Adds `name` = `value` in place.
    pub fn push(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        self.0.push((name.into(), value.into()));
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value bound to `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Every name and value, in the order they were added.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v))
    }
}

/// Builds [`Params`]: `params! { "id" => id, "amount" => amount }`.
#[macro_export]
macro_rules! params {
    () => { $crate::sql::Params::new() };
    ($($name:literal => $value:expr),+ $(,)?) => {
        $crate::sql::Params::new()$(.with($name, $value))+
    };
}

/// A list of named placeholders `:{prefix}0, :{prefix}1, ...` for `IN (...)`, and the
/// parameters that bind them to `values`.
pub(crate) fn in_list<V: Into<Value>>(
    prefix: &str,
    values: impl IntoIterator<Item = V>,
) -> (String, Params) {
    let mut list = String::new();
    let mut params = Params::new();
    for (i, value) in values.into_iter().enumerate() {
        let name = format!("{prefix}{i}");
        if i > 0 {
            list.push_str(", ");
        }
        list.push(':');
        list.push_str(&name);
        params.push(name, value);
    }
    (list, params)
}
