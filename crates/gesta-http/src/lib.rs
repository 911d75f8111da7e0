//! The HTTP API of a Gesta store (DESIGN.md section 3), on axum.
//!
//! # Layout
//!
//! - [`Api`]: builds the router: Gesta's routes plus the application's own.
//! - `routes/`: one module per group of routes (`commands`, `streams`, `events`, `subscribe`,
//!   `health`, `metrics`, `openapi`, `admin`, `projections`).
//! - `console`: `/console`, the web console's embedded page and assets.
//! - [`graphql`]: `/graphql`, the same commands and reads as a GraphQL schema.
//! - [`Problem`]: RFC 9457 error bodies, and the one place errors become statuses.
//! - [`wire`]: request and response bodies.
//! - [`serve`]: runs a router on a TCP listener until shutdown.
//!
//! ```no_run
//! # async fn run(store: gesta::Store) -> std::io::Result<()> {
//! let router = gesta_http::Api::new(store).into_router();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! gesta_http::serve(listener, router, std::future::pending()).await
//! # }
//! ```

pub mod archival;
mod auth;
mod console;
pub mod graphql;
mod input;
mod limits;
mod problem;
mod routes;
pub mod security;
mod serve;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use gesta::Store;
use prometheus_client::registry::Registry;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

pub use archival::ArchiveArgs;
pub use auth::Access;
/// The HTTP status type [`Problem::new`] takes.
pub use axum::http::StatusCode;
pub use console::ConsoleArgs;
pub use problem::{Problem, ProblemBody};
use routes::ApiState;
pub use routes::history::parse_as_of;
pub use security::SecurityArgs;
pub use serve::{LivePriority, ServeOptions, serve, serve_with};

/// The default largest request body: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Builds the HTTP router of a store.
pub struct Api {
    store: Store,
    app_routes: Router,
    openapi: utoipa::openapi::OpenApi,
    openapi_json: Vec<serde_json::Value>,
    body_limit: usize,
    live: routes::subscribe::Live,
    security: Option<Arc<gesta_auth::Security>>,
    rate_limit: Option<std::num::NonZeroU32>,
    cors: Vec<axum::http::HeaderValue>,
    graphql: Option<graphql::GraphqlOptions>,
    graphql_collections: Vec<graphql::Collection>,
    console: bool,
}

impl Api {
    /// Gesta's routes over `store`.
    pub fn new(store: Store) -> Self {
        Api {
            store,
            app_routes: Router::new(),
            openapi: routes::openapi::GestaApi::openapi(),
            openapi_json: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            live: routes::subscribe::Live::default(),
            security: None,
            rate_limit: None,
            cors: Vec::new(),
            graphql: Some(graphql::GraphqlOptions::default()),
            graphql_collections: Vec::new(),
            console: true,
        }
    }

    /// Adds the application's own routes (read-model queries), with their state applied.
    pub fn routes(mut self, router: Router) -> Self {
        self.app_routes = self.app_routes.merge(router);
        self
    }

    /// Merges the application's OpenAPI paths into `/openapi.json`.
    pub fn openapi(mut self, doc: utoipa::openapi::OpenApi) -> Self {
        self.openapi.merge(doc);
        self
    }

    /// Merges paths and component schemas given as JSON (`{"paths": {...},
    /// "components": {"schemas": {...}}}`) into `/openapi.json`, for routes whose
    /// schemas are only known at run time (a JavaScript app's collections).
    pub fn openapi_json(mut self, doc: serde_json::Value) -> Self {
        self.openapi_json.push(doc);
        self
    }

    /// The largest request body accepted (413 beyond it).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How often idle `/subscribe` streams send a keep-alive comment and `/ws`
    /// sockets a ping (default 15 s).
    pub fn keep_alive(mut self, every: std::time::Duration) -> Self {
        self.live.keep_alive = every;
        self
    }

    /// The shortest time between two writes to one `/subscribe` or `/ws` client
    /// (default 5 ms). A client's first event after a quiet spell goes out at once;
    /// while events keep coming, those that commit within the interval go out together
    /// in one write, which costs the server far less than a write per commit. Zero
    /// writes every batch as soon as it commits.
    pub fn flush_interval(mut self, interval: std::time::Duration) -> Self {
        self.live.flush_interval = interval;
        self
    }

    /// Requires a bearer token on every route but `/healthz` and `/openapi.json`, and
    /// applies `security`'s policy (see [`Access`]).
    pub fn security(mut self, security: Arc<gesta_auth::Security>) -> Self {
        self.security = Some(security);
        self
    }

    /// At most `per_second` requests a second per caller (its principal, or its IP
    /// address without authentication), in bursts of as many: beyond, `429` with
    /// `Retry-After`. `/healthz` is exempt.
    pub fn rate_limit(mut self, per_second: std::num::NonZeroU32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// At most `limit` open `/subscribe` and `/ws` streams per caller (`429` beyond).
    pub fn subscriber_limit(mut self, limit: usize) -> Self {
        self.live.subscribers = limits::Subscribers::new(limit);
        self
    }

    /// Lets browser pages from `origin` (e.g. `https://app.example`) call the API
    /// (CORS), with the `Authorization` and `Idempotency-Key` headers.
    pub fn cors_origin(mut self, origin: axum::http::HeaderValue) -> Self {
        self.cors.push(origin);
        self
    }

    /// Serves GraphQL at `/graphql` with these limits (on by default, with
    /// [`graphql::GraphqlOptions::default`]).
    pub fn graphql(mut self, options: graphql::GraphqlOptions) -> Self {
        self.graphql = Some(options);
        self
    }

    /// Does not serve `/graphql`.
    pub fn without_graphql(mut self) -> Self {
        self.graphql = None;
        self
    }

    /// Offers `collections` as GraphQL queries (a JavaScript app's collections).
    pub fn graphql_collections(mut self, collections: Vec<graphql::Collection>) -> Self {
        self.graphql_collections.extend(collections);
        self
    }

    /// Does not serve the web console at `/console` (served by default).
    pub fn without_console(mut self) -> Self {
        self.console = false;
        self
    }

    /// The finished router.
    pub fn into_router(self) -> Router {
        let mut registry = Registry::with_prefix("gesta");
        self.store.metrics().register(&mut registry);
        let lag = routes::metrics::Lag::default();
        lag.register(&mut registry);
        let refusals = auth::Refusals::default();
        refusals.register(&mut registry);
        let mut openapi =
            routes::openapi::finish(&self.openapi, self.store.app(), &self.openapi_json);
        if self.security.is_some() {
            routes::openapi::secure(&mut openapi, self.rate_limit.is_some());
        }
        let state = ApiState {
            store: self.store,
            registry: Arc::new(registry),
            openapi: Arc::new(openapi),
            lag,
            subscribers: self.live.subscribers.clone(),
            started: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        let graphql = self.graphql.as_ref().and_then(|options| {
            let routes = graphql::routes(
                &state.store,
                &self.graphql_collections,
                options,
                self.security.clone(),
                self.live.subscribers.clone(),
                self.live.keep_alive,
            );
            match routes {
                Ok(routes) => Some(routes),
                Err(err) => {
                    tracing::error!(error = %err, "/graphql is not served");
                    None
                }
            }
        });
        let router = Router::new()
            .route("/commands/{name}", post(routes::commands::run))
            .route(
                "/streams/{stream}",
                post(routes::streams::append).get(routes::streams::read),
            )
            .route("/events", get(routes::events::list))
            .merge(routes::subscribe::routes(self.live))
            .merge(routes::reactors::routes())
            .merge(routes::projections::routes())
            .merge(routes::history::routes())
            .merge(routes::erase::routes())
            .merge(routes::read_models::routes())
            .route("/admin/status", get(routes::status::status))
            .route("/healthz", get(routes::health::health))
            .route("/metrics", get(routes::metrics::metrics))
            .route("/openapi.json", get(routes::openapi::document))
            .with_state(state)
            .merge(self.app_routes)
            .merge(graphql.unwrap_or_default())
            .merge(if self.console {
                console::routes()
            } else {
                Router::new()
            })
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed);
        let router = match self.rate_limit {
            Some(per_second) => router.layer(axum::middleware::from_fn_with_state(
                limits::RateLimit::new(per_second, refusals.clone()),
                limits::rate_limit,
            )),
            None => router,
        };
        let router = match self.security {
            Some(security) => router.layer(axum::middleware::from_fn_with_state(
                auth::Door { security, refusals },
                auth::authenticate,
            )),
            None => router,
        };
        let router = if self.cors.is_empty() {
            router
        } else {
            router.layer(cors(self.cors))
        };
        router
            .layer(DefaultBodyLimit::max(self.body_limit))
            .layer(TraceLayer::new_for_http().make_span_with(request_span))
    }
}

/// The span of one request: method and path, never the query string, which may
/// carry an `access_token`.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    )
}

/// The most of a refused request's body read before answering.
const DRAINED: usize = 64 * 1024;

/// Reads what the client sends of a request that is refused without its body, up to
/// [`DRAINED`] bytes. A client that sends its body after its headers (Python's
/// `http.client` does) would otherwise find the connection closed under it, and
/// Linux resets a socket closed with unread data: the client then gets no answer at
/// all instead of the 4xx.
pub(crate) async fn drain(body: axum::body::Body) {
    let _ = axum::body::to_bytes(body, DRAINED).await;
}

/// CORS for `origins`: the methods and headers of the API, and the response headers
/// clients read.
fn cors(origins: Vec<axum::http::HeaderValue>) -> tower_http::cors::CorsLayer {
    use axum::http::{Method, header};
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-correlation-id"),
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

async fn not_found(body: axum::body::Body) -> Problem {
    drain(body).await;
    Problem::not_found("no such route")
}

async fn method_not_allowed(body: axum::body::Body) -> Problem {
    drain(body).await;
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this route does not accept that method",
    )
}
