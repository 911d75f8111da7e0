//! Collections: the read-model tables a JavaScript app declares, their SQL on every
//! backend, and rows as JSON objects.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use gesta::Tx;
use gesta::sql::{Params, Row, SqlError, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::engine::Cell;

/// The type of a column, as declared (`columns: { copies: "integer" }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// A string.
    Text,
    /// A safe integer (53 bits), stored as BIGINT.
    Integer,
    /// A double.
    Real,
    /// `true`/`false`, stored as 0/1.
    Boolean,
    /// Any JSON value, stored as its text.
    Json,
}

/// One declared collection: its table, key column and columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    /// The collection's (and its table's) name.
    pub name: String,
    /// The key column.
    pub key: String,
    /// Every column and its type, key included (in name order).
    pub columns: BTreeMap<String, ColumnType>,
    /// The declared version (default 1); raising it rebuilds the collection.
    pub version: u32,
    /// The statements of the write path, written once (commands run them thousands
    /// of times a second).
    #[serde(skip)]
    statements: OnceLock<Statements>,
}

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub(crate) const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A row bound for SQL: its key, as SQL and as JSON, and every column's parameter.
pub(crate) struct Bound {
    pub(crate) key: Value,
    pub(crate) key_json: Json,
    pub(crate) params: Params,
}

/// A collection's SQL, which only depends on its name and columns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statements {
    select_one: String,
    insert: String,
    /// `None` when the key is the only column.
    update: Option<String>,
    remove: String,
}

/// Words that cannot be column or table names on some backend without quoting.
const RESERVED: &[&str] = &[
    "all",
    "and",
    "any",
    "as",
    "asc",
    "between",
    "by",
    "case",
    "check",
    "column",
    "constraint",
    "create",
    "cross",
    "current",
    "default",
    "delete",
    "desc",
    "distinct",
    "drop",
    "else",
    "end",
    "exists",
    "false",
    "for",
    "foreign",
    "from",
    "full",
    "group",
    "having",
    "in",
    "index",
    "inner",
    "insert",
    "interval",
    "into",
    "is",
    "join",
    "key",
    "keys",
    "left",
    "like",
    "limit",
    "not",
    "null",
    "of",
    "offset",
    "on",
    "or",
    "order",
    "outer",
    "primary",
    "range",
    "references",
    "right",
    "row",
    "rows",
    "select",
    "set",
    "table",
    "then",
    "to",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "values",
    "when",
    "where",
    "window",
    "with",
];

impl Collection {
    /// Refuses names that some backend would not take unquoted.
    pub(crate) fn check_names(&self) -> Result<(), String> {
        for name in std::iter::once(&self.name).chain(self.columns.keys()) {
            if RESERVED.contains(&name.as_str()) {
                return Err(format!(
                    "collections.{}: {name:?} is an SQL keyword; choose another name",
                    self.name
                ));
            }
        }
        Ok(())
    }

    /// `CREATE TABLE` for the backend whose dialect is `dialect`.
    pub(crate) fn create_table(&self, dialect: &str) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(name, ty)| {
                let key = *name == self.key;
                let sql_type = match (dialect, ty, key) {
                    ("mysql", ColumnType::Text, true) => "VARCHAR(255) COLLATE utf8mb4_bin",
                    ("mysql", ColumnType::Text | ColumnType::Json, false) => "LONGTEXT",
                    (_, ColumnType::Text | ColumnType::Json, _) => "TEXT",
                    (_, ColumnType::Integer | ColumnType::Boolean, _) => "BIGINT",
                    ("postgres", ColumnType::Real, _) => "DOUBLE PRECISION",
                    (_, ColumnType::Real, _) => "DOUBLE",
                };
                let extra = if key { " PRIMARY KEY" } else { "" };
                format!("{name} {sql_type}{extra}")
            })
            .collect();
        format!(
            "DROP TABLE IF EXISTS {0};\nCREATE TABLE {0} ({1})",
            self.name,
            columns.join(", ")
        )
    }

    /// The collection `name` with `key` and `columns` at version 1.
    pub fn new(
        name: impl Into<String>,
        key: impl Into<String>,
        columns: BTreeMap<String, ColumnType>,
    ) -> Self {
        Collection {
            name: name.into(),
            key: key.into(),
            columns,
            version: 1,
            statements: OnceLock::new(),
        }
    }

    fn statements(&self) -> &Statements {
        self.statements.get_or_init(|| {
            let names: Vec<String> = self.columns.keys().map(|c| format!(":{c}")).collect();
            let sets: Vec<String> = self
                .columns
                .keys()
                .filter(|c| **c != self.key)
                .map(|c| format!("{c} = :{c}"))
                .collect();
            Statements {
                select_one: format!(
                    "SELECT {} FROM {} WHERE {} = :key",
                    self.column_list(),
                    self.name,
                    self.key
                ),
                insert: format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    self.name,
                    self.column_list(),
                    names.join(", ")
                ),
                update: (!sets.is_empty()).then(|| {
                    format!(
                        "UPDATE {} SET {} WHERE {} = :gesta_key",
                        self.name,
                        sets.join(", "),
                        self.key
                    )
                }),
                remove: format!("DELETE FROM {} WHERE {} = :key", self.name, self.key),
            }
        })
    }

    fn column_list(&self) -> String {
        self.columns.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// `SELECT` of every row, in key order.
    pub(crate) fn select_all(&self) -> String {
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            self.column_list(),
            self.name,
            self.key
        )
    }

    /// `SELECT` of the row with key `:key`.
    pub(crate) fn select_one(&self) -> &str {
        &self.statements().select_one
    }

    /// The key given as JSON, as an SQL value.
    pub(crate) fn key_value(&self, key: &Json) -> Result<Value, String> {
        match (self.columns.get(&self.key), key) {
            (Some(ColumnType::Text), Json::String(s)) => Ok(Value::Text(s.clone())),
            (Some(ColumnType::Integer), Json::Number(n)) if n.as_i64().is_some() => {
                Ok(Value::Integer(n.as_i64().unwrap_or_default()))
            }
            _ => Err(format!("{}: not a key: {key}", self.name)),
        }
    }

    /// A key given as a path segment (`GET /collections/{name}/{key}`).
    pub(crate) fn parse_key(&self, key: &str) -> Option<Value> {
        match self.columns.get(&self.key)? {
            ColumnType::Integer => key.parse::<i64>().ok().map(Value::Integer),
            _ => Some(Value::Text(key.to_owned())),
        }
    }

    /// A row given as its cells in column order (see the prelude's `normalize`),
    /// checked against the columns' types and named for binding.
    pub(crate) fn bind(&self, cells: Vec<Cell>) -> Result<Bound, String> {
        if cells.len() != self.columns.len() {
            return Err(format!(
                "{}: a row has {} cells, not {}",
                self.name,
                self.columns.len(),
                cells.len()
            ));
        }
        let mut params = Params::new();
        let mut key = None;
        for ((column, ty), cell) in self.columns.iter().zip(cells) {
            let value = match (ty, cell) {
                (_, Cell::Null) => Value::Null,
                (ColumnType::Text, Cell::Text(s)) => Value::Text(s),
                (ColumnType::Integer, Cell::Integer(i)) => Value::Integer(i),
                (ColumnType::Integer, Cell::Real(f))
                    if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER =>
                {
                    // A safe integer held as a double: exact in i64.
                    Value::Integer(f as i64)
                }
                (ColumnType::Real, Cell::Real(f)) if f.is_finite() => Value::Real(f),
                (ColumnType::Real, Cell::Integer(i)) => Value::Real(i as f64),
                (ColumnType::Boolean, Cell::Boolean(b)) => Value::Integer(i64::from(b)),
                (ColumnType::Json, Cell::Text(s)) => {
                    serde_json::from_str::<serde::de::IgnoredAny>(&s)
                        .map_err(|e| format!("{}.{column}: not JSON text: {e}", self.name))?;
                    Value::Text(s)
                }
                (ty, cell) => {
                    return Err(format!("{}.{column}: {cell:?} is not {ty:?}", self.name));
                }
            };
            if *column == self.key {
                key = Some(value.clone());
            }
            params.push(column.clone(), value);
        }
        let key_json = match &key {
            Some(Value::Text(s)) => Json::String(s.clone()),
            Some(Value::Integer(i)) => Json::from(*i),
            _ => return Err(format!("{}: a row needs its key {}", self.name, self.key)),
        };
        Ok(Bound {
            key: key.unwrap_or(Value::Null),
            key_json,
            params,
        })
    }

    /// The row with key `key`, if any.
    pub(crate) fn get(&self, tx: &mut Tx<'_>, key: Value) -> Result<Option<Json>, SqlError> {
        let row = tx.query_opt(self.select_one(), &Params::new().with("key", key))?;
        Ok(row.map(|row| self.row_json(&row)))
    }

    /// Inserts a row (its bound cells); a row with the same key is an error.
    pub(crate) fn insert(&self, tx: &mut Tx<'_>, params: &Params) -> Result<(), String> {
        tx.execute(&self.statements().insert, params)
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Replaces the row with key `key` by the bound row `params`; returns whether
    /// there was one.
    pub(crate) fn update(
        &self,
        tx: &mut Tx<'_>,
        key: Value,
        mut params: Params,
    ) -> Result<bool, String> {
        let Some(sql) = &self.statements().update else {
            return Ok(self.get(tx, key).map_err(|e| e.to_string())?.is_some());
        };
        params.push("gesta_key", key);
        let changed = tx.execute(sql, &params).map_err(|e| e.to_string())?;
        // MySQL counts rows changed, not matched: an identical update reports 0.
        Ok(changed > 0
            || self
                .get(tx, params_key(&params))
                .map_err(|e| e.to_string())?
                .is_some())
    }

    /// Inserts a row (its bound cells), or replaces the row with its key `key`.
    pub(crate) fn upsert(&self, tx: &mut Tx<'_>, key: Value, params: Params) -> Result<(), String> {
        if !self.update(tx, key, params.clone())? {
            self.insert(tx, &params)?;
        }
        Ok(())
    }

    /// Deletes the row with key `key`, if any.
    pub(crate) fn remove(&self, tx: &mut Tx<'_>, key: Value) -> Result<(), SqlError> {
        tx.execute(&self.statements().remove, &Params::new().with("key", key))?;
        Ok(())
    }

    /// A row read from the table, as the JSON object reducers and clients see.
    pub(crate) fn row_json(&self, row: &Row) -> Json {
        let mut out = Map::new();
        for (column, value) in row.columns().iter().zip(row.values()) {
            let ty = self
                .columns
                .get(column)
                .copied()
                .unwrap_or(ColumnType::Text);
            out.insert(column.clone(), column_json(ty, value));
        }
        Json::Object(out)
    }

    /// The JSON Schema of one row, for `/openapi.json`.
    pub fn row_schema(&self) -> Json {
        let properties: Map<String, Json> = self
            .columns
            .iter()
            .map(|(column, ty)| {
                let schema = match (ty, *column == self.key) {
                    (ColumnType::Text, true) => json!({"type": "string"}),
                    (ColumnType::Integer, true) => json!({"type": "integer"}),
                    (ColumnType::Text, false) => json!({"type": ["string", "null"]}),
                    (ColumnType::Integer, false) => json!({"type": ["integer", "null"]}),
                    (ColumnType::Real, _) => json!({"type": ["number", "null"]}),
                    (ColumnType::Boolean, _) => json!({"type": ["boolean", "null"]}),
                    (ColumnType::Json, _) => json!({}),
                };
                (column.clone(), schema)
            })
            .collect();
        json!({
            "type": "object",
            "properties": properties,
            "required": self.columns.keys().collect::<Vec<_>>(),
            "additionalProperties": false,
        })
    }
}

fn params_key(params: &Params) -> Value {
    params.get("gesta_key").cloned().unwrap_or(Value::Null)
}

/// An SQL value of a column of type `ty` as JSON.
fn column_json(ty: ColumnType, value: &Value) -> Json {
    match (ty, value) {
        (_, Value::Null) => Json::Null,
        (ColumnType::Boolean, Value::Integer(i)) => Json::Bool(*i != 0),
        (ColumnType::Boolean, Value::Text(s)) => Json::Bool(s != "0"),
        (ColumnType::Json, Value::Text(s)) => serde_json::from_str(s).unwrap_or(Json::Null),
        (ColumnType::Integer, Value::Text(s)) => s.parse::<i64>().map_or(Json::Null, Json::from),
        (ColumnType::Real, Value::Text(s)) => s.parse::<f64>().map_or(Json::Null, Json::from),
        (ColumnType::Real, Value::Integer(i)) => Json::from(*i as f64),
        (_, Value::Integer(i)) => Json::from(*i),
        (_, Value::Real(f)) => Json::from(*f),
        (_, Value::Text(s)) => Json::String(s.clone()),
        (_, Value::Blob(b)) => Json::String(String::from_utf8_lossy(b).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books() -> Collection {
        Collection::new(
            "books",
            "id",
            [
                ("id".to_owned(), ColumnType::Text),
                ("copies".to_owned(), ColumnType::Integer),
                ("lent".to_owned(), ColumnType::Boolean),
            ]
            .into_iter()
            .collect(),
        )
    }

    #[test]
    fn tables_fit_every_backend() {
        let b = books();
        assert!(
            b.create_table("mysql")
                .contains("id VARCHAR(255) COLLATE utf8mb4_bin PRIMARY KEY")
        );
        assert!(b.create_table("postgres").contains("copies BIGINT"));
        assert!(
            b.create_table("sqlite")
                .starts_with("DROP TABLE IF EXISTS books;")
        );
    }

    #[test]
    fn keywords_are_refused() {
        let mut b = books();
        b.columns.insert("order".into(), ColumnType::Text);
        assert!(b.check_names().unwrap_err().contains("order"));
    }

    #[test]
    fn cells_are_bound_by_column_type() {
        let b = books();
        // Columns in name order: copies, id, lent.
        let row = b
            .bind(vec![
                Cell::Real(3.0),
                Cell::Text("b-1".into()),
                Cell::Boolean(true),
            ])
            .unwrap();
        assert_eq!(row.key, Value::Text("b-1".into()));
        assert_eq!(row.key_json, json!("b-1"));
        assert_eq!(row.params.get("copies"), Some(&Value::Integer(3)));
        assert_eq!(row.params.get("lent"), Some(&Value::Integer(1)));
        let refused = |cells: Vec<Cell>| b.bind(cells).err().unwrap_or_default();
        assert!(
            refused(vec![Cell::Real(0.5), Cell::Text("b".into()), Cell::Null]).contains("copies")
        );
        assert!(refused(vec![Cell::Null, Cell::Null, Cell::Null]).contains("key"));
        assert!(refused(vec![Cell::Null, Cell::Integer(1), Cell::Null]).contains("books.id"));
        assert!(refused(vec![Cell::Null]).contains("3 cells"));
    }

    #[test]
    fn values_come_back_typed() {
        assert_eq!(
            column_json(ColumnType::Boolean, &Value::Integer(1)),
            json!(true)
        );
        assert_eq!(
            column_json(ColumnType::Json, &Value::Text("[1,2]".into())),
            json!([1, 2])
        );
        assert_eq!(
            column_json(ColumnType::Real, &Value::Integer(2)),
            json!(2.0)
        );
    }
}
