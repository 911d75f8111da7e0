//! Problems as GraphQL errors: the message is the problem's detail, the extensions
//! carry the whole problem (`status`, `type`, `title`, `detail`, `field`, and the
//! kind's own members), so a client branches on `extensions.status` as it would on
//! the HTTP status.

use async_graphql::{Error, ErrorExtensionValues, Value};

use crate::problem::Problem;

/// The GraphQL error of `problem`.
pub(crate) fn error(problem: Problem) -> Error {
    let body = problem.body();
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("status", body.status);
    extensions.set("type", body.kind.clone());
    extensions.set("title", body.title.clone());
    extensions.set("detail", body.detail.clone());
    if let Some(field) = &body.field {
        extensions.set("field", field.clone());
    }
    for (name, value) in &body.extra {
        if let Ok(value) = Value::from_json(value.clone()) {
            extensions.set(name.clone(), value);
        }
    }
    Error {
        message: body.detail.clone(),
        source: None,
        extensions: Some(extensions),
    }
}

/// The GraphQL error of a library error.
pub(crate) fn store(err: gesta::Error) -> Error {
    error(Problem::from(err))
}

/// A 400 about argument `field`.
pub(crate) fn invalid(field: &str, detail: impl Into<String>) -> Error {
    error(Problem::invalid(Some(field.to_owned()), detail))
}

/// A 403.
pub(crate) fn forbidden(detail: impl Into<String>) -> Error {
    error(crate::auth::forbidden(detail))
}
