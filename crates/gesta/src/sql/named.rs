//! Rewriting `:name` placeholders into a backend's positional form.

use std::collections::HashMap;

use super::{Params, SqlError, SqlErrorKind, Value};

/// From this many parameters on, names are looked up in a map rather than by a scan,
/// so that a statement with thousands of them binds in linear time.
const INDEX_FROM: usize = 16;

/// How a backend writes positional placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `?1`, `?2`, ... (SQLite): each distinct name bound once.
    QuestionNumbered,
    /// `$1`, `$2`, ... (PostgreSQL): each distinct name bound once.
    DollarNumbered,
    /// `?` for every occurrence (MySQL): names bound in order of appearance.
    Question,
}

impl Placeholder {
    /// Appends the placeholder for the `n`th (1-based) positional parameter.
    pub fn render(self, n: usize, out: &mut String) {
        use std::fmt::Write;
        let _ = match self {
            Placeholder::QuestionNumbered => write!(out, "?{n}"),
            Placeholder::DollarNumbered => write!(out, "${n}"),
            Placeholder::Question => write!(out, "?"),
        };
    }
}

/// A statement with `:name` placeholders rewritten for one dialect.
///
/// ```
/// use gesta::sql::{NamedSql, Placeholder};
/// let sql = NamedSql::parse("SELECT * FROM t WHERE a = :a AND b = ':x' AND c = :a", Placeholder::DollarNumbered);
/// assert_eq!(sql.sql(), "SELECT * FROM t WHERE a = $1 AND b = ':x' AND c = $1");
/// ```
#[derive(Debug, Clone)]
pub struct NamedSql {
    sql: String,
    names: Vec<String>,
}

impl NamedSql {
    /// Rewrites `sql`. Quoted strings, quoted identifiers, comments and `::` casts
    /// are left alone.
    pub fn parse(sql: &str, style: Placeholder) -> Self {
        let mut out = String::with_capacity(sql.len());
        let mut names: Vec<String> = Vec::new();
        // Name -> position, once there are many names (a multi-row INSERT).
        let mut index: Option<HashMap<String, usize>> = None;
        let bytes = sql.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'\'' | b'"' | b'`' => i = copy_quoted(sql, i, c, &mut out),
                b'-' if bytes.get(i + 1) == Some(&b'-') => i = copy_until(sql, i, "\n", &mut out),
                b'/' if bytes.get(i + 1) == Some(&b'*') => i = copy_until(sql, i, "*/", &mut out),
                b':' if bytes.get(i + 1) == Some(&b':') => {
                    out.push_str("::");
                    i += 2;
                }
                b':' if bytes
                    .get(i + 1)
                    .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_') =>
                {
                    let end = name_end(bytes, i + 1);
                    let name = &sql[i + 1..end];
                    push_placeholder(name, style, &mut names, &mut index, &mut out);
                    i = end;
                }
                _ => {
                    let ch_len = utf8_len(c);
                    out.push_str(&sql[i..i + ch_len]);
                    i += ch_len;
                }
            }
        }
        NamedSql { sql: out, names }
    }

    /// The rewritten statement.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Positional values for `params`, in placeholder order.
    pub fn bind(&self, params: &Params) -> Result<Vec<Value>, SqlError> {
        let missing = |name: &str| {
            SqlError::new(
                SqlErrorKind::MissingParameter,
                format!("no value for :{name}"),
            )
        };
        if params.len() <= INDEX_FROM {
            return self
                .names
                .iter()
                .map(|name| params.get(name).cloned().ok_or_else(|| missing(name)))
                .collect();
        }
        // Many parameters (a multi-row INSERT): one look-up each, not a scan each.
        let mut index: HashMap<&str, &Value> = HashMap::with_capacity(params.len());
        for (name, value) in params.iter() {
            index.entry(name).or_insert(value);
        }
        self.names
            .iter()
            .map(|name| {
                index
                    .get(name.as_str())
                    .map(|v| (*v).clone())
                    .ok_or_else(|| missing(name))
            })
            .collect()
    }
}

fn push_placeholder(
    name: &str,
    style: Placeholder,
    names: &mut Vec<String>,
    index: &mut Option<HashMap<String, usize>>,
    out: &mut String,
) {
    use std::fmt::Write;
    match style {
        Placeholder::Question => {
            names.push(name.to_owned());
            out.push('?');
        }
        Placeholder::QuestionNumbered | Placeholder::DollarNumbered => {
            let known = match index {
                Some(index) => index.get(name).copied(),
                None => names.iter().position(|n| n == name),
            };
            let idx = match known {
                Some(idx) => idx,
                None => {
                    names.push(name.to_owned());
                    if let Some(index) = index.as_mut() {
                        index.insert(name.to_owned(), names.len() - 1);
                    } else if names.len() > INDEX_FROM {
                        *index = Some(
                            names
                                .iter()
                                .enumerate()
                                .map(|(i, n)| (n.clone(), i))
                                .collect(),
                        );
                    }
                    names.len() - 1
                }
            };
            let sigil = if style == Placeholder::DollarNumbered {
                '$'
            } else {
                '?'
            };
            let _ = write!(out, "{sigil}{}", idx + 1);
        }
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn name_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    i
}

/// Copies a quoted run starting at `start` (doubled quotes escape); returns the index after it.
fn copy_quoted(sql: &str, start: usize, quote: u8, out: &mut String) -> usize {
    let bytes = sql.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            i += 1;
            break;
        }
        i += 1;
    }
    out.push_str(&sql[start..i]);
    i
}

/// Copies from `start` through the end marker `end` (or the end of `sql`).
fn copy_until(sql: &str, start: usize, end: &str, out: &mut String) -> usize {
    let stop = sql[start + 2..]
        .find(end)
        .map_or(sql.len(), |p| start + 2 + p + end.len());
    out.push_str(&sql[start..stop]);
    stop
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_styles_reuse_an_index_per_name() {
        let sql = NamedSql::parse(
            "UPDATE t SET a = :x + :y WHERE id = :x",
            Placeholder::QuestionNumbered,
        );
        assert_eq!(sql.sql(), "UPDATE t SET a = ?1 + ?2 WHERE id = ?1");
        let bound = sql
            .bind(&crate::params! { "y" => 2_i64, "x" => 1_i64 })
            .unwrap();
        assert_eq!(bound, vec![Value::Integer(1), Value::Integer(2)]);
    }

    #[test]
    fn many_parameters_bind_like_few() {
        // Past INDEX_FROM names the look-ups go through maps: same answers.
        let names: Vec<String> = (0..50).map(|i| format!(":p{i}")).collect();
        let text = format!("VALUES ({}, :p3, :p49)", names.join(", "));
        for style in [Placeholder::QuestionNumbered, Placeholder::DollarNumbered] {
            let sql = NamedSql::parse(&text, style);
            assert!(sql.sql().ends_with("?50, ?4, ?50)") || sql.sql().ends_with("$50, $4, $50)"));
            let mut params = Params::new();
            for i in (0..50_i64).rev() {
                params.push(format!("p{i}"), i);
            }
            // A name given twice binds its first value, as with few parameters.
            params.push("p7", 700_i64);
            let bound = sql.bind(&params).unwrap();
            let want: Vec<Value> = (0..50).map(Value::Integer).collect();
            assert_eq!(bound, want);
            let mut short = Params::new();
            for i in 0..49_i64 {
                short.push(format!("p{i}"), i);
            }
            let err = sql.bind(&short).unwrap_err();
            assert_eq!(err.kind, SqlErrorKind::MissingParameter);
            assert!(err.to_string().contains(":p49"), "{err}");
        }
    }

    #[test]
    fn mysql_style_repeats_names_in_order() {
        let sql = NamedSql::parse("SELECT :a, :b, :a", Placeholder::Question);
        assert_eq!(sql.sql(), "SELECT ?, ?, ?");
        let bound = sql
            .bind(&crate::params! { "a" => 1_i64, "b" => 2_i64 })
            .unwrap();
        assert_eq!(
            bound,
            vec![Value::Integer(1), Value::Integer(2), Value::Integer(1)]
        );
    }

    #[test]
    fn quotes_comments_and_casts_are_untouched() {
        let text = "SELECT ':no', \"col:no\", x::text -- :no\n, :yes /* :no */ , 'it''s :no'";
        let sql = NamedSql::parse(text, Placeholder::DollarNumbered);
        assert_eq!(
            sql.sql(),
            "SELECT ':no', \"col:no\", x::text -- :no\n, $1 /* :no */ , 'it''s :no'"
        );
    }

    #[test]
    fn missing_parameter_is_a_typed_error() {
        let sql = NamedSql::parse("SELECT :a", Placeholder::Question);
        let err = sql.bind(&Params::new()).unwrap_err();
        assert_eq!(err.kind, SqlErrorKind::MissingParameter);
    }

    #[test]
    fn non_ascii_text_survives() {
        let sql = NamedSql::parse("SELECT 'é', :ü", Placeholder::Question);
        assert_eq!(sql.sql(), "SELECT 'é', :ü");
    }
}
