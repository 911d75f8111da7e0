//! GraphQL at `/graphql`: the same commands, log and read models as the REST routes,
//! through the same pipeline (validation, principal and policy, idempotency, the
//! writer).
//!
//! The schema is built from the app when the router is: one mutation per command
//! (`deposit(input: DepositInput!, idempotencyKey: String): CommandOutcome!`, its input
//! type derived from the command's JSON Schema), the queries `events` and `stream`, a
//! JavaScript app's collections (`venues`, `venue(id)`), and the subscription
//! `events(after, types, category)` over WebSocket (`graphql-transport-ws`, as the
//! `graphql-ws` npm client speaks it, on the same path). A rejection is a GraphQL error
//! whose `extensions` carry the problem the REST route would have answered (`status`,
//! `type`, `title`, `detail`, `field`).
//!
//! Authorization is the REST API's: a POST needs the bearer token the REST routes
//! need; a WebSocket may instead send it in `connection_init` (`{"Authorization":
//! "Bearer ..."}` or `{"token": "..."}`); each field checks the caller's rights as the
//! matching route does. Depth and complexity are capped ([`GraphqlOptions`]).
//!
//! ```
//! let app = gesta::App::new("empty");
//! let sdl = gesta_http::graphql::sdl(&app, &[]).unwrap();
//! assert!(sdl.contains("type Event"));
//! ```

mod errors;
mod event;
mod inputs;
mod mutation;
mod query;
mod schema;
mod subscription;
mod transport;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use gesta::history::AsOf;

use crate::problem::Problem;

pub(crate) use transport::routes;

/// Limits of the GraphQL endpoint.
#[derive(Debug, Clone)]
pub struct GraphqlOptions {
    /// The deepest selection accepted (default 10).
    pub max_depth: usize,
    /// The largest complexity (one per field selected) accepted (default 1000).
    pub max_complexity: usize,
    /// Whether `__schema` and `__type` answer (default true).
    pub introspection: bool,
}

impl Default for GraphqlOptions {
    fn default() -> Self {
        GraphqlOptions {
            max_depth: 10,
            max_complexity: 1000,
            introspection: true,
        }
    }
}

/// The GraphQL flags every Gesta server takes.
#[derive(Debug, Clone, clap::Args)]
pub struct GraphqlArgs {
    /// Do not serve /graphql.
    #[arg(long, env = "GESTA_NO_GRAPHQL")]
    pub no_graphql: bool,
    /// The deepest GraphQL selection accepted.
    #[arg(long, default_value_t = 10, env = "GESTA_GRAPHQL_MAX_DEPTH")]
    pub graphql_max_depth: usize,
    /// The largest GraphQL query complexity accepted (one per field selected).
    #[arg(long, default_value_t = 1000, env = "GESTA_GRAPHQL_MAX_COMPLEXITY")]
    pub graphql_max_complexity: usize,
    /// Refuse GraphQL introspection (`__schema`, `__type`).
    #[arg(long, env = "GESTA_GRAPHQL_NO_INTROSPECTION")]
    pub graphql_no_introspection: bool,
}

impl GraphqlArgs {
    /// `api` with GraphQL as these flags ask.
    pub fn apply(&self, api: crate::Api) -> crate::Api {
        if self.no_graphql {
            return api.without_graphql();
        }
        api.graphql(GraphqlOptions {
            max_depth: self.graphql_max_depth.max(1),
            max_complexity: self.graphql_max_complexity.max(1),
            introspection: !self.graphql_no_introspection,
        })
    }
}

/// The GraphQL type of a collection's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `String`.
    Text,
    /// `Int` (64-bit).
    Integer,
    /// `Float`.
    Real,
    /// `Boolean`.
    Boolean,
    /// The `JSON` scalar.
    Json,
}

/// Reads a collection's rows for the GraphQL queries (a JavaScript app's collections
/// implement it; see `gesta_js::http::graphql`).
pub trait CollectionRows: Send + Sync {
    /// Every row, in key order, as of `as_of` (now if `None`), as JSON objects whose
    /// members are the columns.
    fn all(
        &self,
        store: gesta::Store,
        as_of: Option<AsOf>,
    ) -> BoxFuture<'static, Result<Vec<serde_json::Value>, Problem>>;

    /// The row with key `key` (the text of the key; a bad integer is a 400).
    fn one(
        &self,
        store: gesta::Store,
        key: String,
        as_of: Option<AsOf>,
    ) -> BoxFuture<'static, Result<Option<serde_json::Value>, Problem>>;
}

/// A read-model table offered as two queries: `<name>` (every row) and
/// `<singular>(<key>)` (one row).
#[derive(Clone)]
pub struct Collection {
    /// The collection's name (`venues`).
    pub name: String,
    /// The key column (`id`).
    pub key: String,
    /// The columns and their types, the key among them.
    pub columns: Vec<(String, ColumnKind)>,
    /// Where the rows come from.
    pub rows: Arc<dyn CollectionRows>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .field("key", &self.key)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

/// A schema that could not be built (two commands or collections mapping to one
/// GraphQL name, say).
#[derive(Debug, thiserror::Error)]
#[error("GraphQL schema: {0}")]
pub struct SchemaError(pub String);

/// The schema of `app` with `collections`, in GraphQL's schema language: what
/// `gesta schema graphql` prints and `/graphql/schema.graphql` serves.
pub fn sdl(app: &gesta::App, collections: &[Collection]) -> Result<String, SchemaError> {
    let schema = schema::build(app, collections, &GraphqlOptions::default(), None)?;
    Ok(schema.sdl())
}
