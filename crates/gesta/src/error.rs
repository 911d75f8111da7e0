//! The one error type of the library.

use std::time::Duration;

use crate::ExpectedVersion;
use crate::backend::UrlError;
use crate::command::Rejection;
use crate::event::{EventId, StreamId, StreamVersion};
use crate::sql::SqlError;

/// Everything that can go wrong in Gesta. Each variant says what a caller should do;
/// `gesta-http` maps each to one HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream was not at the expected version; nothing was appended. Re-read and
    /// decide again (HTTP 409).
    #[error("stream {stream} is at version {actual}, expected {expected}")]
    WrongExpectedVersion {
        /// The stream.
        stream: StreamId,
        /// What the append required.
        expected: ExpectedVersion,
        /// The stream's version at the time (0 = absent).
        actual: StreamVersion,
    },
    /// An event with this id is already in the log (HTTP 409).
    #[error("an event with id {0} already exists")]
    DuplicateEventId(EventId),
    /// The idempotency key was first used by another command (HTTP 409).
    #[error("idempotency key {key:?} was already used by command {first_command:?}")]
    IdempotencyKeyReused {
        /// The key.
        key: String,
        /// The command that used it first.
        first_command: String,
    },
    /// No handler is registered under this name (HTTP 404).
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// Imported events do not continue the target's log (HTTP 409): positions or
    /// stream versions would leave a hole or overlap. Nothing was imported.
    #[error("import does not fit the target log: {0}")]
    ImportMismatch(String),
    /// The stream has no events (HTTP 404).
    #[error("stream {0} does not exist")]
    StreamNotFound(StreamId),
    /// The input is malformed or invalid; `field` names the culprit (HTTP 400).
    #[error("{}", invalid_message(.field, .message))]
    InvalidInput {
        /// The field at fault, as a path (`amount`, `events[0].type`), if known.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// An event could not be brought to its type's current shape: an upcaster failed
    /// (a bug in the application; HTTP 500). `gesta events check` finds them all.
    #[error(transparent)]
    Upcast(#[from] crate::event::upcast::UpcastError),
    /// The command handler refused the command (HTTP 400/404/409/422 by its kind).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// A reducer failed; the command was rolled back. A bug in the application or the
    /// read model's constraints (HTTP 500).
    #[error("read model {read_model:?} failed to apply the event: {message}")]
    ReducerFailed {
        /// The read model.
        read_model: String,
        /// What failed.
        message: String,
    },
    /// Replaying the log through the reducers failed at one event: a history
    /// question (as-of, diff) or a revert that would need it cannot be answered
    /// (HTTP 409).
    #[error("replaying the log fails at position {position} ({event_type} on {stream}): {message}")]
    ReplayFailed {
        /// The event whose reducer failed.
        position: crate::event::Position,
        /// Its type.
        event_type: String,
        /// Its stream.
        stream: String,
        /// What failed.
        message: String,
    },
    /// The handler failed for a reason of its own (HTTP 500).
    #[error("command {command:?} failed: {message}")]
    HandlerFailed {
        /// The command.
        command: String,
        /// What failed.
        message: String,
    },
    /// The handler panicked; the command was rolled back (HTTP 500).
    #[error("command {command:?} panicked: {message}")]
    HandlerPanicked {
        /// The command.
        command: String,
        /// The panic message.
        message: String,
    },
    /// The command ran past its deadline and was rolled back (HTTP 503; retry later).
    #[error("command ran past its deadline of {0:?} and was rolled back")]
    DeadlineExceeded(Duration),
    /// A query ran longer than [`crate::StoreOptions::query_timeout`] and was
    /// cancelled (HTTP 503).
    #[error("the query ran longer than {0:?} and was cancelled")]
    QueryTimeout(Duration),
    /// The writer queue is full; retry after a short pause (HTTP 503 with Retry-After).
    #[error("the store is overloaded; retry shortly")]
    Overloaded,
    /// The store is shut down (HTTP 503).
    #[error("the store is closed")]
    Closed,
    /// The database settings would make acknowledgements a lie; refused at startup.
    #[error("unsafe durability settings: {0}")]
    UnsafeDurability(String),
    /// The database URL is not understood.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A migration failed; the store did not open.
    #[error("migration {name:?} failed: {source}")]
    Migration {
        /// The migration.
        name: String,
        /// The database error.
        source: SqlError,
    },
    /// The archive could not be read or written (`file://` or `s3://`).
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    /// The database failed (HTTP 500; 503 when busy).
    #[error("database error: {0}")]
    Database(#[from] SqlError),
    /// This process lost the named lock of a reactor or projection (its connection
    /// dropped, or the lock was taken over): another process may run it now. The
    /// follower stops and tries to take the lock again; nothing to do for a caller.
    #[error("lost the lock {0}")]
    LockLost(String),
    /// Gesta itself failed: a thread or task it runs on died (HTTP 500). A bug; the
    /// operation may be retried.
    #[error("internal error: {0}")]
    Internal(String),
}

fn invalid_message(field: &Option<String>, message: &str) -> String {
    match field {
        Some(field) => format!("{field}: {message}"),
        None => message.to_owned(),
    }
}

impl Error {
    /// An [`Error::Internal`] saying what failed.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    /// An [`Error::InvalidInput`] about `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}
