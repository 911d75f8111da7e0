//! Values across the wire: binding a [`Value`] to whatever type PostgreSQL inferred for
//! a parameter, and reading columns back by their type.
//!
//! Application SQL is written once for every backend, so binding adapts the way
//! SQLite's type affinity does: an integer goes into `INT2`/`INT4`/`INT8`/`NUMERIC`/
//! `FLOAT*`/`BOOL`/text, text into `UUID`/`JSON`/`JSONB`/`VARCHAR`/numbers, and so on.
//! A value that does not fit (a bad UUID, 70000 into `INT2`) is an error, never a panic.

use std::error::Error as StdError;
use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use postgres::types::{FromSql, IsNull, Kind, ToSql, Type};
use uuid::Uuid;

use super::numeric;
use crate::sql::{SqlError, Value, ValueRef};

type BoxError = Box<dyn StdError + Sync + Send>;

/// The JSONB binary format version PostgreSQL speaks.
const JSONB_VERSION: u8 = 1;

/// Why a value cannot be bound to a parameter.
#[derive(Debug)]
struct BindError(String);

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for BindError {}

fn refuse(value: &Value, ty: &Type, why: &str) -> BoxError {
    let what = match value {
        Value::Null => "NULL",
        Value::Integer(_) => "an integer",
        Value::Real(_) => "a real",
        Value::Text(_) => "text",
        Value::Blob(_) => "bytes",
    };
    Box::new(BindError(format!(
        "cannot bind {what} to a parameter of type {}{why}",
        ty.name()
    )))
}

/// How a PostgreSQL type is handled, for parameters and for columns alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PgKind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    /// `TEXT`, `VARCHAR`, `BPCHAR`, `NAME`, `"char"`, `UNKNOWN`, enums, `citext`, `JSON`.
    Text,
    Jsonb,
    Uuid,
    Bytea,
    Void,
    Unsupported,
}

impl PgKind {
    /// The handling of `ty`; domains are handled as their base type.
    pub(super) fn of(ty: &Type) -> PgKind {
        match ty.kind() {
            Kind::Domain(inner) => return PgKind::of(inner),
            Kind::Enum(_) => return PgKind::Text,
            _ => {}
        }
        // Built-in type OIDs (pg_type.dat), stable across versions.
        match ty.oid() {
            16 => PgKind::Bool,
            21 => PgKind::Int2,
            23 => PgKind::Int4,
            20 | 26 => PgKind::Int8, // INT8, OID
            700 => PgKind::Float4,
            701 => PgKind::Float8,
            1700 => PgKind::Numeric,
            // TEXT, "char", NAME, JSON, UNKNOWN, BPCHAR, VARCHAR
            25 | 18 | 19 | 114 | 705 | 1042 | 1043 => PgKind::Text,
            3802 => PgKind::Jsonb,
            2950 => PgKind::Uuid,
            17 => PgKind::Bytea,
            2278 => PgKind::Void,
            _ if ty.name() == "citext" => PgKind::Text,
            _ => PgKind::Unsupported,
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if matches!(self, Value::Null) {
            return Ok(IsNull::Yes);
        }
        match PgKind::of(ty) {
            PgKind::Bool => out.put_u8(u8::from(self.to_bool(ty)?)),
            PgKind::Int2 => {
                let i = i16::try_from(self.to_int(ty)?)
                    .map_err(|_| refuse(self, ty, ": out of range"))?;
                out.put_i16(i);
            }
            PgKind::Int4 => {
                let i = i32::try_from(self.to_int(ty)?)
                    .map_err(|_| refuse(self, ty, ": out of range"))?;
                out.put_i32(i);
            }
            PgKind::Int8 if ty.oid() == 26 => {
                let i = u32::try_from(self.to_int(ty)?)
                    .map_err(|_| refuse(self, ty, ": out of range"))?;
                out.put_u32(i);
            }
            PgKind::Int8 => out.put_i64(self.to_int(ty)?),
            PgKind::Float4 => out.put_f32(self.to_real(ty)? as f32),
            PgKind::Float8 => out.put_f64(self.to_real(ty)?),
            PgKind::Numeric => self.put_numeric(ty, out)?,
            PgKind::Text => self.put_text(ty, out)?,
            PgKind::Jsonb => {
                out.put_u8(JSONB_VERSION);
                self.put_text(ty, out)?;
            }
            PgKind::Uuid => out.put_slice(self.to_uuid(ty)?.as_bytes()),
            PgKind::Bytea => match self {
                Value::Blob(b) => out.put_slice(b),
                Value::Text(t) => out.put_slice(t.as_bytes()),
                _ => return Err(refuse(self, ty, "")),
            },
            PgKind::Void | PgKind::Unsupported => {
                return Err(refuse(
                    self,
                    ty,
                    "; cast the parameter in SQL, e.g. CAST(CAST(:x AS TEXT) AS ...)",
                ));
            }
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.to_sql(ty, out)
    }
}

impl Value {
    fn to_int(&self, ty: &Type) -> Result<i64, BoxError> {
        match self {
            Value::Integer(i) => Ok(*i),
            Value::Real(r) if r.fract() == 0.0 && r.abs() < 9.2e18 => Ok(*r as i64),
            Value::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| refuse(self, ty, ": not an integer")),
            _ => Err(refuse(self, ty, "")),
        }
    }

    fn to_real(&self, ty: &Type) -> Result<f64, BoxError> {
        match self {
            Value::Integer(i) => Ok(*i as f64),
            Value::Real(r) => Ok(*r),
            Value::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| refuse(self, ty, ": not a number")),
            _ => Err(refuse(self, ty, "")),
        }
    }

    fn to_bool(&self, ty: &Type) -> Result<bool, BoxError> {
        match self {
            Value::Integer(i) => Ok(*i != 0),
            Value::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => Ok(true),
                "f" | "false" | "n" | "no" | "off" | "0" => Ok(false),
                _ => Err(refuse(self, ty, ": not a boolean")),
            },
            _ => Err(refuse(self, ty, "")),
        }
    }

    fn to_uuid(&self, ty: &Type) -> Result<Uuid, BoxError> {
        match self {
            Value::Text(t) => {
                Uuid::parse_str(t.trim()).map_err(|e| refuse(self, ty, &format!(": {e}")))
            }
            Value::Blob(b) => Uuid::from_slice(b).map_err(|e| refuse(self, ty, &format!(": {e}"))),
            _ => Err(refuse(self, ty, "")),
        }
    }

    fn put_text(&self, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
        match self {
            Value::Text(t) => out.put_slice(t.as_bytes()),
            Value::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Real(r) if r.is_finite() => {
                let _ = write!(out, "{r}");
            }
            Value::Blob(b) => match std::str::from_utf8(b) {
                Ok(t) => out.put_slice(t.as_bytes()),
                Err(_) => return Err(refuse(self, ty, ": not UTF-8")),
            },
            _ => return Err(refuse(self, ty, "")),
        }
        Ok(())
    }

    fn put_numeric(&self, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
        let decimal = match self {
            Value::Integer(i) => i.to_string(),
            Value::Real(r) if r.is_finite() => r.to_string(),
            Value::Text(t) if is_decimal(t.trim()) => t.trim().to_owned(),
            Value::Text(t) => match t.trim().parse::<f64>() {
                Ok(r) if r.is_finite() => r.to_string(),
                _ => return Err(refuse(self, ty, ": not a number")),
            },
            _ => return Err(refuse(self, ty, "")),
        };
        numeric::encode(&decimal, out);
        Ok(())
    }
}

/// `[+-]digits[.digits]` with at least one digit.
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A column's raw bytes, taken from a row without conversion.
pub(super) struct Raw<'a>(pub(super) Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn fixed<const N: usize>(raw: &[u8]) -> Result<[u8; N], SqlError> {
    raw.try_into()
        .map_err(|_| SqlError::decode(format!("expected {N} bytes, found {}", raw.len())))
}

/// Decodes a column of kind `kind`; `None` for kinds that need an owned value
/// ([`decode_owned`]).
pub(super) fn decode(kind: PgKind, raw: Option<&[u8]>) -> Result<Option<ValueRef<'_>>, SqlError> {
    let Some(raw) = raw else {
        return Ok(Some(ValueRef::Null));
    };
    let text = |raw| std::str::from_utf8(raw).map_err(|_| SqlError::decode("text is not UTF-8"));
    Ok(Some(match kind {
        PgKind::Bool => ValueRef::Integer(i64::from(raw.first().is_some_and(|b| *b != 0))),
        PgKind::Int2 => ValueRef::Integer(i16::from_be_bytes(fixed(raw)?).into()),
        PgKind::Int4 => ValueRef::Integer(i32::from_be_bytes(fixed(raw)?).into()),
        PgKind::Int8 if raw.len() == 4 => ValueRef::Integer(u32::from_be_bytes(fixed(raw)?).into()),
        PgKind::Int8 => ValueRef::Integer(i64::from_be_bytes(fixed(raw)?)),
        PgKind::Float4 => ValueRef::Real(f32::from_be_bytes(fixed(raw)?).into()),
        PgKind::Float8 => ValueRef::Real(f64::from_be_bytes(fixed(raw)?)),
        PgKind::Numeric => numeric::decode(raw)?,
        PgKind::Text => ValueRef::Text(text(raw)?),
        PgKind::Jsonb => match raw.split_first() {
            Some((&JSONB_VERSION, rest)) => ValueRef::Text(text(rest)?),
            _ => return Err(SqlError::decode("unknown JSONB format version")),
        },
        PgKind::Bytea => ValueRef::Blob(raw),
        PgKind::Void => ValueRef::Null,
        PgKind::Uuid | PgKind::Unsupported => return Ok(None),
    }))
}

/// Decodes a column that needs an owned value into `slot`, reusing its allocation.
pub(super) fn decode_owned(
    kind: PgKind,
    ty: &Type,
    raw: &[u8],
    slot: &mut Value,
) -> Result<(), SqlError> {
    match kind {
        PgKind::Uuid => {
            let id = Uuid::from_bytes(fixed(raw)?);
            let mut text = match std::mem::replace(slot, Value::Null) {
                Value::Text(mut s) => {
                    s.clear();
                    s
                }
                _ => String::with_capacity(36),
            };
            let _ = write!(text, "{}", id.hyphenated());
            *slot = Value::Text(text);
            Ok(())
        }
        _ => Err(SqlError::decode(format!(
            "cannot read a column of type {}; cast it in SQL, e.g. CAST(x AS TEXT)",
            ty.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_driver_types() {
        let cases = [
            (Type::BOOL, PgKind::Bool),
            (Type::INT2, PgKind::Int2),
            (Type::INT4, PgKind::Int4),
            (Type::INT8, PgKind::Int8),
            (Type::OID, PgKind::Int8),
            (Type::FLOAT4, PgKind::Float4),
            (Type::FLOAT8, PgKind::Float8),
            (Type::NUMERIC, PgKind::Numeric),
            (Type::TEXT, PgKind::Text),
            (Type::VARCHAR, PgKind::Text),
            (Type::BPCHAR, PgKind::Text),
            (Type::NAME, PgKind::Text),
            (Type::CHAR, PgKind::Text),
            (Type::UNKNOWN, PgKind::Text),
            (Type::JSON, PgKind::Text),
            (Type::JSONB, PgKind::Jsonb),
            (Type::UUID, PgKind::Uuid),
            (Type::BYTEA, PgKind::Bytea),
            (Type::VOID, PgKind::Void),
            (Type::TIMESTAMPTZ, PgKind::Unsupported),
            (Type::TEXT_ARRAY, PgKind::Unsupported),
        ];
        for (ty, kind) in cases {
            assert_eq!(PgKind::of(&ty), kind, "{ty}");
        }
    }

    #[test]
    fn binding_adapts_to_the_parameter_type() {
        let bind = |value: Value, ty: Type| {
            let mut out = BytesMut::new();
            value.to_sql(&ty, &mut out).map(|_| out.to_vec())
        };
        assert_eq!(bind(Value::Integer(1), Type::BOOL).unwrap(), [1]);
        assert_eq!(bind(Value::Integer(-2), Type::INT2).unwrap(), [0xff, 0xfe]);
        assert_eq!(
            bind(Value::Text("7".into()), Type::INT4).unwrap(),
            [0, 0, 0, 7]
        );
        assert_eq!(
            bind(Value::Real(2.0), Type::INT8).unwrap(),
            2_i64.to_be_bytes()
        );
        assert_eq!(
            bind(Value::Integer(3), Type::FLOAT8).unwrap(),
            3_f64.to_be_bytes()
        );
        assert_eq!(bind(Value::Integer(42), Type::VARCHAR).unwrap(), b"42");
        assert_eq!(
            bind(Value::Text("{}".into()), Type::JSONB).unwrap(),
            b"\x01{}"
        );
        let id = Uuid::now_v7();
        assert_eq!(
            bind(Value::Text(id.to_string()), Type::UUID).unwrap(),
            id.as_bytes()
        );
        assert!(bind(Value::Text("nope".into()), Type::UUID).is_err());
        assert!(bind(Value::Integer(1 << 40), Type::INT4).is_err());
        assert!(bind(Value::Text("x".into()), Type::TIMESTAMPTZ).is_err());
        let mut out = BytesMut::new();
        assert!(matches!(
            Value::Null.to_sql(&Type::UUID, &mut out),
            Ok(IsNull::Yes)
        ));
    }
}
