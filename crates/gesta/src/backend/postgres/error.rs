//! Classifying PostgreSQL errors by their SQLSTATE (never by message text).

use std::error::Error as _;

use crate::sql::{SqlError, SqlErrorKind};

/// Classifies a driver error by SQLSTATE (never by its text).
pub(super) fn map_err(err: postgres::Error) -> SqlError {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let mut message = format!("{}: {} (SQLSTATE {code})", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            message.push_str("; ");
            message.push_str(detail);
        }
        return SqlError::new(classify(code), message);
    }
    let mut message = err.to_string();
    let mut io = false;
    let mut source = err.source();
    while let Some(cause) = source {
        io |= cause.is::<std::io::Error>();
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    let kind = if io || err.is_closed() {
        SqlErrorKind::Connection
    } else {
        SqlErrorKind::Other
    };
    SqlError::new(kind, message)
}

/// The portable kind of SQLSTATE `code`.
pub(super) fn classify(code: &str) -> SqlErrorKind {
    match code {
        "23505" => SqlErrorKind::UniqueViolation,
        c if c.starts_with("23") => SqlErrorKind::ConstraintViolation,
        "40001" | "40P01" | "55P03" => SqlErrorKind::Busy,
        "57014" => SqlErrorKind::Interrupted,
        "25006" => SqlErrorKind::ReadOnly,
        "57P01" | "57P02" | "57P03" => SqlErrorKind::Connection,
        c if c.starts_with("08") => SqlErrorKind::Connection,
        _ => SqlErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_portable_kinds() {
        let cases = [
            ("23505", SqlErrorKind::UniqueViolation),
            ("23503", SqlErrorKind::ConstraintViolation),
            ("23514", SqlErrorKind::ConstraintViolation),
            ("40001", SqlErrorKind::Busy),
            ("40P01", SqlErrorKind::Busy),
            ("55P03", SqlErrorKind::Busy),
            ("57014", SqlErrorKind::Interrupted),
            ("08006", SqlErrorKind::Connection),
            ("57P01", SqlErrorKind::Connection),
            ("42P01", SqlErrorKind::Other),
        ];
        for (code, kind) in cases {
            assert_eq!(classify(code), kind, "{code}");
        }
    }
}
