//! Commands: what clients ask for, how handlers refuse, what comes back.

use std::any::Any;
use std::fmt;

use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::Context;
use crate::event::{NewEventError, Position, RecordedEvent};
use crate::sql::SqlError;

/// A command type the application registers a handler for.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Deposit { account_id: String, amount: u64 }
/// impl gesta::Command for Deposit { const NAME: &'static str = "Deposit"; }
/// ```
pub trait Command: DeserializeOwned + Send + 'static {
    /// The name clients use: `POST /commands/{NAME}`.
    const NAME: &'static str;

    /// The JSON Schema of the command's body, for `/openapi.json` (so that generated
    /// clients can type the call). The default says only "an object"; derive one with
    /// `schemars` (`schemars::schema_for!(Self).to_value()`) to document every field.
    fn schema() -> serde_json::Value {
        serde_json::json!({"type": "object"})
    }
}

/// How a handler refused a command; decides the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// A field is invalid (HTTP 400).
    Invalid {
        /// The field at fault.
        field: Option<String>,
    },
    /// Something the command refers to does not exist (HTTP 404).
    NotFound,
    /// The command conflicts with current state, e.g. it already exists (HTTP 409).
    Conflict,
    /// A business rule refused it, e.g. insufficient funds (HTTP 422).
    Unprocessable,
    /// The caller may not do this, e.g. move money out of someone else's account
    /// (HTTP 403): see [`crate::Tx::principal`].
    Forbidden,
}

/// A handler's refusal: a kind and a message for the caller.
///
/// ```
/// let r = gesta::Rejection::unprocessable("insufficient funds");
/// assert_eq!(r.to_string(), "insufficient funds");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// The kind of refusal.
    pub kind: RejectionKind,
    /// The message shown to the caller.
    pub message: String,
}

impl Rejection {
    /// `field` is invalid (400).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Rejection {
            kind: RejectionKind::Invalid {
                field: Some(field.to_owned()),
            },
            message: message.into(),
        }
    }
    /// Something referred to does not exist (404).
    pub fn not_found(message: impl Into<String>) -> Self {
        Rejection {
            kind: RejectionKind::NotFound,
            message: message.into(),
        }
    }
    /// Conflicts with current state (409).
    pub fn conflict(message: impl Into<String>) -> Self {
        Rejection {
            kind: RejectionKind::Conflict,
            message: message.into(),
        }
    }
    /// The caller may not do this (403).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Rejection {
            kind: RejectionKind::Forbidden,
            message: message.into(),
        }
    }
    /// A business rule refused it (422).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Rejection {
            kind: RejectionKind::Unprocessable,
            message: message.into(),
        }
    }
}

/// What a handler or reducer can fail with; `?` converts SQL and event errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The command is refused.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// A SQL statement failed.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// An event could not be built.
    #[error(transparent)]
    Event(#[from] NewEventError),
    /// Anything else (e.g. an event payload that does not decode).
    #[error("{0}")]
    Failed(String),
}

impl From<serde_json::Error> for HandlerError {
    fn from(err: serde_json::Error) -> Self {
        HandlerError::Failed(format!("JSON: {err}"))
    }
}

/// A command on its way to the writer, as middleware sees it.
pub struct CommandRequest {
    /// The command's name.
    pub name: String,
    /// The decoded command (the handler's own type).
    pub payload: Box<dyn Any + Send>,
    /// A unique id for this command.
    pub command_id: Uuid,
    /// The caller's idempotency key, correlation and causation ids, and extra metadata
    /// stored with every event of the command.
    pub context: Context,
}

impl CommandRequest {
    /// A request for a decoded command `payload` named `name`, with a fresh id.
    pub fn new(name: impl Into<String>, payload: Box<dyn Any + Send>) -> Self {
        CommandRequest::with_context(name, payload, Context::default())
    }

    /// A request for `payload` named `name` with the caller's `context`, with a fresh id.
    pub fn with_context(
        name: impl Into<String>,
        payload: Box<dyn Any + Send>,
        context: Context,
    ) -> Self {
        CommandRequest {
            name: name.into(),
            payload,
            command_id: Uuid::now_v7(),
            context,
        }
    }
}

impl fmt::Debug for CommandRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandRequest")
            .field("name", &self.name)
            .field("command_id", &self.command_id)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// The result of a committed command (or direct append).
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    /// The command's id (the first one's, when replayed).
    pub command_id: Uuid,
    /// Position of the last event written; `None` if the handler emitted none.
    pub position: Option<Position>,
    /// The events written, in order.
    pub events: Vec<RecordedEvent>,
    /// `true` when this is the stored outcome of an earlier command with the same key.
    pub replayed: bool,
}
