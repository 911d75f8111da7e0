//! A table's rows as values and as JSON: read from one connection, written to another
//! (snapshots, scratch places, swaps), and shown over HTTP.

use serde_json::{Map, Value as Json};

use crate::Tx;
use crate::sql::{Params, Row, SqlError, Value};

/// Values per multi-row `INSERT` when loading a table. Chosen when binding named
/// parameters scanned every name per placeholder (20,000 values per statement made
/// loading a snapshot 25x slower than about 600, measured with gesta-bench-history);
/// binding is linear now (`sql::named`), larger statements are untried.
const VALUES_PER_INSERT: usize = 600;

/// Every row of one table, with its column names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableRows {
    pub(crate) table: String,
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Value>>,
}

impl TableRows {
    /// Reads every row of `table`.
    pub(crate) fn read(tx: &mut Tx<'_>, table: &str) -> Result<Self, SqlError> {
        let rows = tx.query(&format!("SELECT * FROM {table}"), &Params::new())?;
        let columns = match rows.first() {
            Some(row) => row.columns().to_vec(),
            None => Vec::new(),
        };
        Ok(TableRows {
            table: table.to_owned(),
            columns,
            rows: rows.into_iter().map(|r| r.values().to_vec()).collect(),
        })
    }

    /// Inserts the rows into `self.table` on `tx`, a few hundred per statement.
    pub(crate) fn write(&self, tx: &mut Tx<'_>) -> Result<(), SqlError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let columns = self.columns.join(", ");
        let per_insert = (VALUES_PER_INSERT / self.columns.len().max(1)).max(1);
        for chunk in self.rows.chunks(per_insert) {
            let mut params = Params::new();
            let mut tuples = Vec::with_capacity(chunk.len());
            for (r, row) in chunk.iter().enumerate() {
                let names: Vec<String> = row
                    .iter()
                    .enumerate()
                    .map(|(c, value)| {
                        let name = format!("r{r}c{c}");
                        params.push(name.clone(), value.clone());
                        format!(":{name}")
                    })
                    .collect();
                tuples.push(format!("({})", names.join(", ")));
            }
            let sql = format!(
                "INSERT INTO {} ({columns}) VALUES {}",
                self.table,
                tuples.join(", ")
            );
            tx.execute(&sql, &params)?;
        }
        Ok(())
    }

    /// The rows as JSON text: `{"columns": [...], "rows": [[...], ...]}`.
    pub(crate) fn to_json(&self) -> String {
        let rows: Vec<Json> = self
            .rows
            .iter()
            .map(|row| Json::Array(row.iter().map(value_to_json).collect()))
            .collect();
        serde_json::json!({ "columns": self.columns, "rows": rows }).to_string()
    }

    /// The inverse of [`TableRows::to_json`].
    pub(crate) fn from_json(table: &str, text: &str) -> Result<Self, SqlError> {
        #[derive(serde::Deserialize)]
        struct Stored {
            columns: Vec<String>,
            rows: Vec<Vec<Json>>,
        }
        let stored: Stored = serde_json::from_str(text)
            .map_err(|e| SqlError::decode(format!("snapshot of {table}: {e}")))?;
        let rows = stored
            .rows
            .iter()
            .map(|row| row.iter().map(json_to_value).collect())
            .collect::<Result<Vec<Vec<Value>>, SqlError>>()?;
        Ok(TableRows {
            table: table.to_owned(),
            columns: stored.columns,
            rows,
        })
    }
}

/// A row as a JSON object of its columns.
pub(crate) fn row_object(columns: &[String], values: &[Value]) -> Map<String, Json> {
    columns
        .iter()
        .zip(values)
        .map(|(c, v)| (c.clone(), value_to_json(v)))
        .collect()
}

/// A [`Row`] as a JSON object of its columns (query answers).
pub fn row_to_json(row: &Row) -> Map<String, Json> {
    row_object(row.columns(), row.values())
}

/// A value as JSON: numbers, strings and null as themselves; bytes as
/// `{"$hex": "..."}`.
pub(crate) fn value_to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(i) => Json::from(*i),
        Value::Real(r) => serde_json::Number::from_f64(*r).map_or(Json::Null, Json::Number),
        Value::Text(t) => Json::String(t.clone()),
        Value::Blob(b) => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            serde_json::json!({ "$hex": hex })
        }
    }
}

fn json_to_value(json: &Json) -> Result<Value, SqlError> {
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(i64::from(*b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::Text(s.clone()),
        Json::Object(map) => {
            let hex = map
                .get("$hex")
                .and_then(Json::as_str)
                .ok_or_else(|| SqlError::decode("a stored value object must be {\"$hex\": ...}"))?;
            Value::Blob(decode_hex(hex)?)
        }
        Json::Array(_) => return Err(SqlError::decode("a stored value cannot be an array")),
    })
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, SqlError> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return Err(SqlError::decode("odd or non-ASCII hex in a stored value"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&hex[i..i + 2], 16)
                .map_err(|_| SqlError::decode("bad hex in a stored value"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_json() {
        let rows = TableRows {
            table: "t".into(),
            columns: vec!["a".into(), "b".into(), "c".into(), "d".into(), "e".into()],
            rows: vec![vec![
                Value::Integer(-7),
                Value::Real(1.5),
                Value::Text("x\"y".into()),
                Value::Null,
                Value::Blob(vec![0, 255, 16]),
            ]],
        };
        assert_eq!(TableRows::from_json("t", &rows.to_json()).unwrap(), rows);
    }

    #[test]
    fn bad_stored_json_is_a_decode_error() {
        assert!(TableRows::from_json("t", "{\"columns\":[],\"rows\":[[[1]]]}").is_err());
        assert!(
            TableRows::from_json("t", "{\"columns\":[],\"rows\":[[{\"$hex\":\"abc\"}]]}").is_err()
        );
    }
}
