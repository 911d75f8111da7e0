//! Collections: the read-model tables a JavaScript app declares, their SQL on every
//! backend, and rows as JSON objects.

use std::collections::BTreeMap;

use gesta::Tx;
use gesta::sql::{Params, Row, SqlError, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

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
    pub(crate) fn select_one(&self) -> String {
        format!(
            "SELECT {} FROM {} WHERE {} = :key",
            self.column_list(),
            self.name,
            self.key
        )
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

    fn params(&self, row: &Map<String, Json>) -> Result<Params, String> {
        let mut params = Params::new();
        for (column, ty) in &self.columns {
            let value = row.get(column).unwrap_or(&Json::Null);
            let sql = match (ty, value) {
                (_, Json::Null) => Value::Null,
                (ColumnType::Text, Json::String(s)) => Value::Text(s.clone()),
                (ColumnType::Integer, Json::Number(n)) if n.as_i64().is_some() => {
                    Value::Integer(n.as_i64().unwrap_or_default())
                }
                (ColumnType::Real, Json::Number(n)) => Value::Real(n.as_f64().unwrap_or_default()),
                (ColumnType::Boolean, Json::Bool(b)) => Value::Integer(i64::from(*b)),
                (ColumnType::Json, v) => Value::Text(v.to_string()),
                (ty, v) => return Err(format!("{}.{column}: {v} is not {ty:?}", self.name)),
            };
            params.push(column.clone(), sql);
        }
        Ok(params)
    }

    /// The row with key `key`, if any.
    pub(crate) fn get(&self, tx: &mut Tx<'_>, key: Value) -> Result<Option<Json>, SqlError> {
        let row = tx.query_opt(&self.select_one(), &Params::new().with("key", key))?;
        Ok(row.map(|row| self.row_json(&row)))
    }

    /// Inserts `row` (a normalized object); a row with the same key is an error.
    pub(crate) fn insert(&self, tx: &mut Tx<'_>, row: &Map<String, Json>) -> Result<(), String> {
        let params = self.params(row)?;
        let names: Vec<String> = self.columns.keys().map(|c| format!(":{c}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.name,
            self.column_list(),
            names.join(", ")
        );
        tx.execute(&sql, &params).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Replaces the row with key `key` by `row`; returns whether there was one.
    pub(crate) fn update(
        &self,
        tx: &mut Tx<'_>,
        key: Value,
        row: &Map<String, Json>,
    ) -> Result<bool, String> {
        let mut params = self.params(row)?;
        let sets: Vec<String> = self
            .columns
            .keys()
            .filter(|c| **c != self.key)
            .map(|c| format!("{c} = :{c}"))
            .collect();
        if sets.is_empty() {
            return Ok(self.get(tx, key).map_err(|e| e.to_string())?.is_some());
        }
        params.push("gesta_key", key);
        let sql = format!(
            "UPDATE {} SET {} WHERE {} = :gesta_key",
            self.name,
            sets.join(", "),
            self.key
        );
        let changed = tx.execute(&sql, &params).map_err(|e| e.to_string())?;
        // MySQL counts rows changed, not matched: an identical update reports 0.
        Ok(changed > 0
            || self
                .get(tx, params_key(&params))
                .map_err(|e| e.to_string())?
                .is_some())
    }

    /// Inserts `row`, or replaces the row with its key.
    pub(crate) fn upsert(&self, tx: &mut Tx<'_>, row: &Map<String, Json>) -> Result<(), String> {
        let key = self.key_value(row.get(&self.key).unwrap_or(&Json::Null))?;
        if !self.update(tx, key, row)? {
            self.insert(tx, row)?;
        }
        Ok(())
    }

    /// Deletes the row with key `key`, if any.
    pub(crate) fn remove(&self, tx: &mut Tx<'_>, key: Value) -> Result<(), SqlError> {
        let sql = format!("DELETE FROM {} WHERE {} = :key", self.name, self.key);
        tx.execute(&sql, &Params::new().with("key", key))?;
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
        Collection {
            name: "books".into(),
            key: "id".into(),
            columns: [
                ("id".to_owned(), ColumnType::Text),
                ("copies".to_owned(), ColumnType::Integer),
                ("lent".to_owned(), ColumnType::Boolean),
            ]
            .into_iter()
            .collect(),
            version: 1,
        }
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
