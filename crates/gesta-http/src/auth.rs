//! Authentication and the route-level rules of authorization.
//!
//! With [`crate::Api::security`] every request but `GET /healthz` and
//! `GET /openapi.json` must carry `Authorization: Bearer <token>` (an API key or a
//! JWT; `/subscribe` and `/ws` also take `?access_token=`, since browsers cannot set
//! headers on an `EventSource` or a WebSocket). A missing or bad token is a 401 with
//! `WWW-Authenticate: Bearer`. The admin routes (`/admin/*`, `/metrics`, direct appends
//! with `POST /streams/{s}`) need an admin (403 otherwise); the others check the
//! caller's rights themselves through [`Access`]: which commands it may run, which
//! streams it may read.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gesta::{Principal, Readable};
use gesta_auth::{AuthError, Caller, Security};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::problem::Problem;

/// Who is calling and what it may do, for route handlers (the application's own
/// routes too). On a server without authentication everyone may do everything.
///
/// ```
/// use gesta_http::Access;
/// async fn account(access: Access) -> String {
///     if access.may_read("account-42") { "balance".into() } else { "no".into() }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Access(Option<Arc<Caller>>);

impl Access {
    /// Everyone, everything (no authentication configured).
    pub fn open() -> Self {
        Access(None)
    }

    /// The rights of an authenticated caller.
    pub(crate) fn of(caller: Arc<Caller>) -> Self {
        Access(Some(caller))
    }

    /// What the authentication middleware left in a request's extensions.
    pub fn from_extensions(extensions: &axum::http::Extensions) -> Self {
        Access(extensions.get::<Arc<Caller>>().cloned())
    }

    /// The authenticated caller, if the server authenticates.
    pub fn caller(&self) -> Option<&Caller> {
        self.0.as_deref()
    }

    /// The principal, if the server authenticates.
    pub fn principal(&self) -> Option<&Principal> {
        self.0.as_ref().map(|c| &c.principal)
    }

    /// Whether the caller may run the command `name`.
    pub fn may_run(&self, name: &str) -> bool {
        self.0.as_ref().is_none_or(|c| c.rights.may_run(name))
    }

    /// Whether the caller may read the stream `stream`.
    pub fn may_read(&self, stream: &str) -> bool {
        self.0.as_ref().is_none_or(|c| c.rights.may_read(stream))
    }

    /// Whether the caller may use the admin routes.
    pub fn is_admin(&self) -> bool {
        self.0.as_ref().is_none_or(|c| c.rights.admin)
    }

    /// The streams the caller may read, as a filter for the log.
    pub fn readable(&self) -> Readable {
        match &self.0 {
            Some(caller) if !caller.rights.admin => caller.rights.read.clone(),
            _ => Readable::All,
        }
    }

    /// A 403 unless the caller may read `stream`.
    pub fn require_read(&self, stream: &str) -> Result<(), Problem> {
        if self.may_read(stream) {
            Ok(())
        } else {
            Err(forbidden(format!("you may not read stream {stream:?}")))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Access::from_extensions(&parts.extensions))
    }
}

/// A 403 problem.
pub(crate) fn forbidden(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
}

/// How a route is guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// Open to anyone.
    Public,
    /// Any authenticated caller; the route checks the rest.
    Caller,
    /// Admins only.
    Admin,
}

fn guard(method: &Method, path: &str) -> Guard {
    match path {
        "/healthz" | "/openapi.json" => Guard::Public,
        _ if crate::console::is_console_path(path) => Guard::Public,
        "/metrics" => Guard::Admin,
        _ if path.starts_with("/admin/") || path == "/admin" => Guard::Admin,
        _ if path.starts_with("/streams/") && method == Method::POST => Guard::Admin,
        _ => Guard::Caller,
    }
}

/// Requests refused at the door, by reason (`/metrics`:
/// `gesta_http_refused_requests_total{reason}`).
#[derive(Clone, Default)]
pub(crate) struct Refusals(Family<Reason, Counter>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Reason {
    reason: &'static str,
}

impl Refusals {
    /// Registers the counter.
    pub(crate) fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "http_refused_requests",
            "Requests refused before reaching a route: unauthenticated (401), not an admin (403), rate limited (429)",
            self.0.clone(),
        );
    }

    /// Counts one refusal.
    pub(crate) fn count(&self, reason: &'static str) {
        self.0.get_or_create(&Reason { reason }).inc();
    }
}

/// What the middleware needs.
#[derive(Clone)]
pub(crate) struct Door {
    pub(crate) security: Arc<Security>,
    pub(crate) refusals: Refusals,
}

/// The middleware: authenticates, applies the route guard, and leaves the [`Caller`]
/// in the request's extensions for [`Access`].
pub(crate) async fn authenticate(
    State(door): State<Door>,
    request: Request,
    next: Next,
) -> Response {
    let Door { security, refusals } = door;
    let (parts, body) = request.into_parts();
    match check(&security, &refusals, &parts).await {
        Ok(None) => next.run(Request::from_parts(parts, body)).await,
        Ok(Some(caller)) => {
            let mut request = Request::from_parts(parts, body);
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refusal) => {
            crate::drain(body).await;
            refusal
        }
    }
}

/// The caller of a request (`None` on a public route), or the response refusing it.
async fn check(
    security: &Security,
    refusals: &Refusals,
    parts: &Parts,
) -> Result<Option<Arc<Caller>>, Response> {
    let guard = guard(&parts.method, parts.uri.path());
    if guard == Guard::Public {
        return Ok(None);
    }
    let Some(token) = token(parts) else {
        if deferred(parts) {
            // The GraphQL WebSocket authenticates in its `connection_init` message.
            return Ok(None);
        }
        refusals.count("unauthenticated");
        return Err(unauthorized(&AuthError::Missing, false));
    };
    let caller = match security.authenticate(&token).await {
        Ok(caller) => caller,
        Err(err) if err.is_unauthorized() => {
            refusals.count("unauthenticated");
            tracing::debug!(reason = %err, "refused a bearer token");
            return Err(unauthorized(&err, true));
        }
        Err(err) => {
            tracing::error!(error = %err, "authenticating a request failed");
            let problem = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "credentials could not be checked now; retry",
            );
            return Err(problem.retry_after(1).into_response());
        }
    };
    if guard == Guard::Admin && !caller.rights.admin {
        refusals.count("not_admin");
        return Err(forbidden("this route is for admins").into_response());
    }
    Ok(Some(caller))
}

/// The bearer token: the `Authorization` header, or `access_token` in the query of the
/// live routes.
fn token(request: &Parts) -> Option<String> {
    if let Some(value) = request.headers.get(header::AUTHORIZATION) {
        let text = value.to_str().ok()?.trim();
        let (scheme, token) = text.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    let path = request.uri.path();
    if path != "/subscribe" && path != "/ws" && path != "/graphql" {
        return None;
    }
    form_urlencoded::parse(request.uri.query()?.as_bytes())
        .find(|(name, _)| name == "access_token")
        .map(|(_, value)| value.into_owned())
}

/// Whether the request is a WebSocket handshake to `/graphql`, which may come without
/// a token: browsers cannot set headers on a WebSocket, and `graphql-transport-ws`
/// clients send the token in `connection_init` instead, where the GraphQL route
/// checks it before running anything.
fn deferred(request: &Parts) -> bool {
    request.method == Method::GET
        && request.uri.path() == "/graphql"
        && request
            .headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// A 401 with the challenge of RFC 6750.
fn unauthorized(err: &AuthError, token_given: bool) -> Response {
    let mut response = Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
        err.to_string(),
    )
    .into_response();
    let challenge = if token_given {
        "Bearer realm=\"gesta\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"gesta\""
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_guarded_by_path() {
        let get = Method::GET;
        assert_eq!(guard(&get, "/healthz"), Guard::Public);
        assert_eq!(guard(&get, "/openapi.json"), Guard::Public);
        assert_eq!(guard(&get, "/metrics"), Guard::Admin);
        assert_eq!(guard(&get, "/admin/reactors"), Guard::Admin);
        assert_eq!(guard(&Method::POST, "/streams/a-1"), Guard::Admin);
        assert_eq!(guard(&get, "/streams/a-1"), Guard::Caller);
        assert_eq!(guard(&get, "/administrator"), Guard::Caller);
        assert_eq!(guard(&get, "/events"), Guard::Caller);
    }
}
