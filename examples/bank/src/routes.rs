//! The bank's own query route: `GET /accounts/{id}`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use gesta::{Store, params};
use gesta_http::{Access, Problem};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// An account as `GET /accounts/{id}` returns it.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema, PartialEq, Eq)]
pub struct Account {
    /// The account id.
    pub id: String,
    /// Its owner.
    pub owner: String,
    /// Balance in cents.
    pub balance: i64,
}

/// The query parameters of `GET /accounts/{id}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountQuery {
    as_of: Option<String>,
}

/// Read one account from the read model, now or as of a point in history.
#[utoipa::path(
    get,
    path = "/accounts/{id}",
    params(
        ("id" = String, Path, description = "The account id"),
        ("as_of" = Option<String>, Query, description = "The account right after the event at this position was applied (0 = empty store), or after the last event at or before this RFC 3339 time"),
    ),
    responses(
        (status = 200, body = Account),
        (status = 400, description = "Bad as_of", body = gesta_http::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not read this account", body = gesta_http::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such account (at that point)", body = gesta_http::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "bank"
)]
async fn account(
    State(store): State<Store>,
    Path(id): Path<String>,
    access: Access,
    query: Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Account>, Problem> {
    let Query(query) =
        query.map_err(|e| Problem::invalid(None, format!("query string: {}", e.body_text())))?;
    // Whoever may read the account's stream may read the account (a customer: its own).
    access.require_read(&crate::commands::stream(&id))?;
    let sql = "SELECT id, owner, balance FROM accounts WHERE id = :id";
    let params = params! { "id" => id.as_str() };
    let rows = match query.as_of.as_deref() {
        None => store.query(sql, params).await?,
        Some(as_of) => {
            let as_of = gesta_http::parse_as_of(as_of)?;
            store.at(as_of).query(sql, params).await?
        }
    };
    let row = rows
        .first()
        .ok_or_else(|| Problem::not_found(format!("account {id:?} does not exist")))?;
    let account = Account {
        id: row.get("id").map_err(gesta::Error::from)?,
        owner: row.get("owner").map_err(gesta::Error::from)?,
        balance: row.get("balance").map_err(gesta::Error::from)?,
    };
    Ok(Json(account))
}

/// The OpenAPI paths of the bank's routes.
#[derive(OpenApi)]
#[openapi(paths(account), components(schemas(Account)))]
pub struct BankApi;

/// The bank's routes, with `store` as their state.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/accounts/{id}", get(account))
        .with_state(store)
}

/// The full HTTP API, to be finished (security, limits) and turned into a router.
pub fn builder(store: Store) -> gesta_http::Api {
    gesta_http::Api::new(store.clone())
        .routes(router(store))
        .openapi(BankApi::openapi())
}

/// The full HTTP API: Gesta's routes plus the bank's, open to anyone.
pub fn api(store: Store) -> Router {
    builder(store).into_router()
}

/// The full HTTP API, with authentication and the policy of `security`.
pub fn secured_api(store: Store, security: std::sync::Arc<gesta_auth::Security>) -> Router {
    builder(store).security(security).into_router()
}
