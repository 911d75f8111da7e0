//! RFC 9457 problem details: the only error body Gesta's HTTP API sends, and the one
//! place library errors become HTTP statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gesta::{Error, RejectionKind};
use serde::Serialize;
use utoipa::ToSchema;

/// An error response: an `application/problem+json` body and optional `Retry-After`.
#[derive(Debug, Clone)]
pub struct Problem {
    body: Box<ProblemBody>,
    retry_after: Option<u32>,
}

/// The `application/problem+json` body (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemBody {
    /// A URI reference naming the kind of problem, e.g. `/problems/wrong-expected-version`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened this time.
    pub detail: String,
    /// The input field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Extension members (stream, expected and actual version, ...).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    /// A problem of kind `slug` with `status`, `title` and `detail`.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        let body = ProblemBody {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            extra: serde_json::Map::new(),
        };
        Problem {
            body: Box::new(body),
            retry_after: None,
        }
    }

    /// A 400 about `field` (or the request as a whole).
    pub fn invalid(field: Option<String>, detail: impl Into<String>) -> Self {
        let mut problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-input",
            "Invalid input",
            detail,
        );
        problem.body.field = field;
        problem
    }

    /// A 404 for `what`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// The body.
    pub fn body(&self) -> &ProblemBody {
        &self.body
    }

    /// Asks the client to retry after `seconds` (sent as `Retry-After`).
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.body.extra.insert(key.to_owned(), value.into());
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<Error> for Problem {
    fn from(err: Error) -> Self {
        let detail = err.to_string();
        match err {
            Error::WrongExpectedVersion {
                stream,
                expected,
                actual,
            } => Problem::new(
                StatusCode::CONFLICT,
                "wrong-expected-version",
                "Wrong expected version",
                detail,
            )
            .with("stream", stream.as_str())
            .with(
                "expected",
                serde_json::to_value(expected).unwrap_or_default(),
            )
            .with("actual", actual.0),
            Error::DuplicateEventId(id) => Problem::new(
                StatusCode::CONFLICT,
                "duplicate-event-id",
                "Duplicate event id",
                detail,
            )
            .with("event_id", id.to_string()),
            Error::IdempotencyKeyReused { .. } => Problem::new(
                StatusCode::CONFLICT,
                "idempotency-key-reused",
                "Idempotency key already used by another command",
                detail,
            ),
            Error::ImportMismatch(_) => Problem::new(
                StatusCode::CONFLICT,
                "import-mismatch",
                "Import does not continue the log",
                detail,
            ),
            Error::UnknownCommand(_) => Problem::new(
                StatusCode::NOT_FOUND,
                "unknown-command",
                "Unknown command",
                detail,
            ),
            Error::StreamNotFound(_) => Problem::new(
                StatusCode::NOT_FOUND,
                "stream-not-found",
                "Stream not found",
                detail,
            ),
            Error::InvalidInput { field, message } => Problem::invalid(field, message),
            Error::Rejected(rejection) => rejected(rejection.kind, rejection.message),
            Error::DeadlineExceeded(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "deadline-exceeded",
                "Command ran past its deadline",
                detail,
            )
            .retry_after(1),
            Error::Overloaded => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "Overloaded",
                detail,
            )
            .retry_after(1),
            Error::Closed => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "closed",
                "Store closed",
                detail,
            ),
            Error::ReplayFailed {
                position,
                event_type,
                stream,
                ..
            } => Problem::new(
                StatusCode::CONFLICT,
                "replay-failed",
                "Replaying the log fails",
                detail,
            )
            .with("position", position.0)
            .with("event_type", event_type)
            .with("stream", stream),
            Error::QueryTimeout(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "query-timeout",
                "Query ran too long",
                detail,
            ),
            Error::Database(sql) if sql.kind == gesta::sql::SqlErrorKind::ReadOnly => {
                Problem::invalid(Some("sql".into()), detail)
            }
            Error::Database(sql) if sql.kind == gesta::sql::SqlErrorKind::Busy => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Database busy",
                detail,
            )
            .retry_after(1),
            // The database or the archive unreachable: the server's, and passing.
            Error::Database(sql) if sql.kind == gesta::sql::SqlErrorKind::Connection => {
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Storage unavailable",
                    detail,
                )
                .retry_after(1)
            }
            Error::Archive(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Storage unavailable",
                detail,
            )
            .retry_after(1),
            other => internal(other),
        }
    }
}

fn rejected(kind: RejectionKind, message: String) -> Problem {
    match kind {
        RejectionKind::Invalid { field } => Problem::invalid(field, message),
        RejectionKind::NotFound => Problem::not_found(message),
        RejectionKind::Conflict => {
            Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", message)
        }
        RejectionKind::Forbidden => {
            Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", message)
        }
        _ => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            "Command rejected",
            message,
        ),
    }
}

fn internal(err: Error) -> Problem {
    tracing::error!(error = %err, "internal error");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        err.to_string(),
    )
}
