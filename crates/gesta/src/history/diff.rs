//! What changed in the read models between two positions, row by row, matched by
//! primary key.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::rows::{TableRows, row_object};

/// A row as a JSON object of all its columns.
pub type JsonRow = Map<String, Json>;

/// The difference between the read models at two positions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// The earlier position.
    pub from: u64,
    /// The later position.
    pub to: u64,
    /// Per table with changes (tables without changes are left out).
    pub tables: BTreeMap<String, TableDiff>,
}

/// The changes of one table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableDiff {
    /// Rows present at `to` only.
    pub inserted: Vec<JsonRow>,
    /// Rows present at both with another value in some column.
    pub updated: Vec<RowChange>,
    /// Rows present at `from` only.
    pub deleted: Vec<JsonRow>,
}

/// One row before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowChange {
    /// The row at `from`.
    pub before: JsonRow,
    /// The row at `to`.
    pub after: JsonRow,
}

impl TableDiff {
    fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }
}

/// Compares `before` and `after` of one table by the columns `key` (every column
/// when the table has no primary key). Rows come out in key order.
pub(crate) fn compare(before: &TableRows, after: &TableRows, key: &[String]) -> Option<TableDiff> {
    let keyed = |rows: &TableRows| -> BTreeMap<String, JsonRow> {
        let index: Vec<usize> = if key.is_empty() {
            (0..rows.columns.len()).collect()
        } else {
            key.iter()
                .filter_map(|k| rows.columns.iter().position(|c| c.eq_ignore_ascii_case(k)))
                .collect()
        };
        rows.rows
            .iter()
            .map(|values| {
                let id: Vec<Json> = index
                    .iter()
                    .map(|&i| super::rows::value_to_json(&values[i]))
                    .collect();
                (
                    Json::Array(id).to_string(),
                    row_object(&rows.columns, values),
                )
            })
            .collect()
    };
    let old = keyed(before);
    let mut new: HashMap<String, JsonRow> = keyed(after).into_iter().collect();
    let mut diff = TableDiff::default();
    for (id, row) in old {
        match new.remove(&id) {
            None => diff.deleted.push(row),
            Some(now) if now != row => diff.updated.push(RowChange {
                before: row,
                after: now,
            }),
            Some(_) => {}
        }
    }
    let mut inserted: Vec<(String, JsonRow)> = new.into_iter().collect();
    inserted.sort_by(|a, b| a.0.cmp(&b.0));
    diff.inserted = inserted.into_iter().map(|(_, row)| row).collect();
    (!diff.is_empty()).then_some(diff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Value;

    fn table(rows: &[(&str, i64)]) -> TableRows {
        TableRows {
            table: "accounts".into(),
            columns: vec!["id".into(), "balance".into()],
            rows: rows
                .iter()
                .map(|(id, b)| vec![Value::Text((*id).into()), Value::Integer(*b)])
                .collect(),
        }
    }

    #[test]
    fn rows_are_matched_by_key() {
        let before = table(&[("a", 1), ("b", 2), ("c", 3)]);
        let after = table(&[("a", 1), ("b", 5), ("d", 0)]);
        let diff = compare(&before, &after, &["id".into()]).unwrap();
        assert_eq!(diff.inserted.len(), 1);
        assert_eq!(diff.inserted[0]["id"], "d");
        assert_eq!(diff.deleted[0]["id"], "c");
        assert_eq!(diff.updated[0].before["balance"], 2);
        assert_eq!(diff.updated[0].after["balance"], 5);
        assert!(compare(&before, &before, &["id".into()]).is_none());
    }
}
