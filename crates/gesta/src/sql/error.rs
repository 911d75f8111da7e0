//! Errors from the database, classified by portable kinds.

/// A portable classification of database errors (never found by matching text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlErrorKind {
    /// A unique or primary key constraint was violated.
    UniqueViolation,
    /// Another check, foreign key or not-null constraint was violated.
    ConstraintViolation,
    /// The database is locked or busy; retrying later may succeed.
    Busy,
    /// The statement was interrupted (e.g. the command's deadline passed).
    Interrupted,
    /// A `:name` placeholder had no value.
    MissingParameter,
    /// A column was missing or of another type than asked for.
    Decode,
    /// The connection or server failed.
    Connection,
    /// A statement tried to write in a read-only transaction.
    ReadOnly,
    /// Any other error (syntax, missing table, ...).
    Other,
}

/// An error from a SQL statement, with a portable [`SqlErrorKind`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    /// The kind of failure.
    pub kind: SqlErrorKind,
    /// The database's own message.
    pub message: String,
}

impl SqlError {
    /// Builds an error of `kind`.
    pub fn new(kind: SqlErrorKind, message: impl Into<String>) -> Self {
        SqlError {
            kind,
            message: message.into(),
        }
    }

    /// A decode error: a column missing or of the wrong type.
    pub fn decode(message: impl Into<String>) -> Self {
        SqlError::new(SqlErrorKind::Decode, message)
    }
}
