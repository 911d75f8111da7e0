//! Values between Gesta and the MySQL binary protocol, and rows read back.
//!
//! Binding sends integers as BIGINT, doubles as DOUBLE and text and bytes as strings;
//! the server converts them to the column's type (INT, DECIMAL, JSON, DATETIME, ...).
//! Reading converts by column type, because the binary protocol sends DECIMAL, BIT,
//! text, JSON and binary strings alike as bytes: integers become `Integer`, floats
//! `Real`, DECIMAL `Integer` when whole and `Real` otherwise (SQLite's NUMERIC
//! affinity), character and JSON columns `Text`, binary columns `Blob`, and dates and
//! times their ISO text, as SQLite stores them.

use mysql::consts::{ColumnFlags, ColumnType};
use mysql::{Column, Value as MyValue};

use crate::sql::{RowRef, SqlError, Value, ValueRef};

/// The collation id MySQL reports for binary strings (BINARY, VARBINARY, BLOB).
const BINARY_CHARSET: u16 = 63;

/// Converts a bound value for the driver.
pub(super) fn to_mysql(value: &Value) -> MyValue {
    match value {
        Value::Null => MyValue::NULL,
        Value::Integer(i) => MyValue::Int(*i),
        Value::Real(r) => MyValue::Double(*r),
        Value::Text(t) => MyValue::Bytes(t.as_bytes().to_vec()),
        Value::Blob(b) => MyValue::Bytes(b.clone()),
    }
}

/// How the bytes of one result column are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Integers, floats and NULL arrive typed.
    Typed,
    /// DECIMAL: whole numbers become integers, others reals.
    Decimal,
    /// BIT: a big-endian integer.
    Bit,
    /// Character strings and JSON.
    Text,
    /// Binary strings and geometry.
    Blob,
    /// DATE: `YYYY-MM-DD`.
    Date,
    /// DATETIME and TIMESTAMP with this many fractional digits.
    DateTime(u8),
    /// TIME with this many fractional digits.
    Time(u8),
}

impl Kind {
    /// The kind of `column`.
    pub(super) fn of(column: &Column) -> Kind {
        use ColumnType::*;
        match column.column_type() {
            MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => Kind::Decimal,
            MYSQL_TYPE_BIT => Kind::Bit,
            MYSQL_TYPE_JSON => Kind::Text,
            MYSQL_TYPE_GEOMETRY => Kind::Blob,
            MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Kind::Date,
            MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_DATETIME2
            | MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_TIMESTAMP2 => Kind::DateTime(column.decimals().min(6)),
            MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Kind::Time(column.decimals().min(6)),
            MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_ENUM
            | MYSQL_TYPE_SET
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB => {
                let binary = column.character_set() == BINARY_CHARSET
                    && column.flags().contains(ColumnFlags::BINARY_FLAG);
                if binary { Kind::Blob } else { Kind::Text }
            }
            _ => Kind::Typed,
        }
    }
}

/// Converts one value read from a column of `kind`.
pub(super) fn from_mysql(value: MyValue, kind: Kind) -> Result<Value, SqlError> {
    Ok(match value {
        MyValue::NULL => Value::Null,
        MyValue::Int(i) => Value::Integer(i),
        MyValue::UInt(u) => match i64::try_from(u) {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::Text(u.to_string()),
        },
        MyValue::Float(f) => Value::Real(f64::from(f)),
        MyValue::Double(d) => Value::Real(d),
        MyValue::Bytes(bytes) => from_bytes(bytes, kind)?,
        MyValue::Date(y, mo, d, h, mi, s, us) => {
            let mut text = format!("{y:04}-{mo:02}-{d:02}");
            if kind != Kind::Date {
                text.push_str(&format!(" {h:02}:{mi:02}:{s:02}"));
                push_fraction(&mut text, us, digits(kind));
            }
            Value::Text(text)
        }
        MyValue::Time(negative, days, h, mi, s, us) => {
            let hours = u64::from(days) * 24 + u64::from(h);
            let sign = if negative { "-" } else { "" };
            let mut text = format!("{sign}{hours:02}:{mi:02}:{s:02}");
            push_fraction(&mut text, us, digits(kind));
            Value::Text(text)
        }
    })
}

fn from_bytes(bytes: Vec<u8>, kind: Kind) -> Result<Value, SqlError> {
    match kind {
        Kind::Blob => Ok(Value::Blob(bytes)),
        Kind::Bit => Ok(Value::Integer(
            bytes
                .iter()
                .fold(0_i64, |acc, b| (acc << 8) | i64::from(*b)),
        )),
        Kind::Decimal => {
            let text = utf8(bytes)?;
            if let Ok(i) = text.parse::<i64>() {
                Ok(Value::Integer(i))
            } else if let Ok(r) = text.parse::<f64>() {
                Ok(Value::Real(r))
            } else {
                Ok(Value::Text(text))
            }
        }
        // Typed columns only send bytes in the text protocol; keep them as text.
        _ => utf8(bytes).map(Value::Text),
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, SqlError> {
    String::from_utf8(bytes).map_err(|_| SqlError::decode("text column is not UTF-8"))
}

/// Fractional digits shown for a temporal column (all six when unknown).
fn digits(kind: Kind) -> u8 {
    match kind {
        Kind::DateTime(d) | Kind::Time(d) => d,
        _ => 6,
    }
}

/// Appends `.ffffff` cut to `digits` digits, as the server prints it.
fn push_fraction(text: &mut String, us: u32, digits: u8) {
    if digits > 0 {
        let all = format!("{us:06}");
        text.push('.');
        text.push_str(&all[..usize::from(digits)]);
    }
}

/// A row already converted to Gesta values, lent to the caller's callback.
pub(super) struct Cells<'a>(pub(super) &'a [Value]);

impl RowRef for Cells<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn value(&self, idx: usize) -> Result<ValueRef<'_>, SqlError> {
        self.0
            .get(idx)
            .map(Value::as_ref)
            .ok_or_else(|| SqlError::decode(format!("no column {idx}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_become_integers_when_whole() {
        let whole = from_mysql(MyValue::Bytes(b"-42".to_vec()), Kind::Decimal).unwrap();
        assert_eq!(whole, Value::Integer(-42));
        let fraction = from_mysql(MyValue::Bytes(b"12.50".to_vec()), Kind::Decimal).unwrap();
        assert_eq!(fraction, Value::Real(12.5));
    }

    #[test]
    fn strings_follow_the_column_kind() {
        let text = from_mysql(MyValue::Bytes("é".as_bytes().to_vec()), Kind::Text).unwrap();
        assert_eq!(text, Value::Text("é".into()));
        let blob = from_mysql(MyValue::Bytes(vec![0xff, 0]), Kind::Blob).unwrap();
        assert_eq!(blob, Value::Blob(vec![0xff, 0]));
        let bad = from_mysql(MyValue::Bytes(vec![0xff]), Kind::Text).unwrap_err();
        assert_eq!(bad.kind, crate::sql::SqlErrorKind::Decode);
        let bit = from_mysql(MyValue::Bytes(vec![1, 2]), Kind::Bit).unwrap();
        assert_eq!(bit, Value::Integer(258));
    }

    #[test]
    fn dates_and_times_read_as_iso_text() {
        let at = MyValue::Date(2024, 2, 29, 13, 5, 9, 120_000);
        let at = from_mysql(at, Kind::DateTime(3)).unwrap();
        assert_eq!(at, Value::Text("2024-02-29 13:05:09.120".into()));
        let midnight = MyValue::Date(2024, 2, 29, 0, 0, 0, 0);
        let midnight = from_mysql(midnight, Kind::DateTime(0)).unwrap();
        assert_eq!(midnight, Value::Text("2024-02-29 00:00:00".into()));
        let day = from_mysql(MyValue::Date(2024, 2, 29, 0, 0, 0, 0), Kind::Date).unwrap();
        assert_eq!(day, Value::Text("2024-02-29".into()));
        let span = from_mysql(MyValue::Time(true, 1, 2, 3, 4, 0), Kind::Time(0)).unwrap();
        assert_eq!(span, Value::Text("-26:03:04".into()));
    }

    #[test]
    fn huge_unsigned_values_stay_exact_as_text() {
        let big = from_mysql(MyValue::UInt(u64::MAX), Kind::Typed).unwrap();
        assert_eq!(big, Value::Text(u64::MAX.to_string()));
    }
}
