//! The read routes of a JavaScript app's collections: `GET /collections/{name}` and
//! `GET /collections/{name}/{key}`, both taking `as_of`, their OpenAPI paths, and the
//! same reads as GraphQL queries ([`graphql`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use gesta::Store;
use gesta::sql::Params;
use gesta_http::Problem;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Collection;

#[derive(Clone)]
struct CollectionsState {
    store: Store,
    collections: Arc<HashMap<String, Collection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadQuery {
    as_of: Option<String>,
}

/// The routes, over `store`, for `collections`.
pub fn routes(store: Store, collections: &[Collection]) -> Router {
    let state = CollectionsState {
        store,
        collections: Arc::new(
            collections
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect(),
        ),
    };
    Router::new()
        .route("/collections/{name}", get(list))
        .route("/collections/{name}/{key}", get(one))
        .with_state(state)
}

impl CollectionsState {
    fn collection(&self, name: &str) -> Result<&Collection, Problem> {
        self.collections
            .get(name)
            .ok_or_else(|| Problem::not_found(format!("no collection named {name:?}")))
    }

    async fn rows(
        &self,
        collection: &Collection,
        sql: String,
        params: Params,
        query: Result<Query<ReadQuery>, QueryRejection>,
    ) -> Result<(u64, Vec<Value>), Problem> {
        let Query(query) = query
            .map_err(|e| Problem::invalid(None, format!("query string: {}", e.body_text())))?;
        let as_of = query
            .as_of
            .as_deref()
            .map(gesta_http::parse_as_of)
            .transpose()?;
        let (position, rows) = match as_of {
            Some(as_of) => {
                self.store
                    .at(as_of)
                    .query_with_position(&sql, params)
                    .await?
            }
            None => self.store.query_at(None, &sql, params).await?,
        };
        Ok((
            position.0,
            rows.iter().map(|row| collection.row_json(row)).collect(),
        ))
    }
}

async fn list(
    State(state): State<CollectionsState>,
    Path(name): Path<String>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let collection = state.collection(&name)?;
    let (position, rows) = state
        .rows(collection, collection.select_all(), Params::new(), query)
        .await?;
    Ok(Json(json!({"position": position, "rows": rows})))
}

async fn one(
    State(state): State<CollectionsState>,
    Path((name, key)): Path<(String, String)>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let collection = state.collection(&name)?;
    let Some(value) = collection.parse_key(&key) else {
        return Err(Problem::invalid(
            Some("key".into()),
            format!("{name}'s key {} is an integer", collection.key),
        ));
    };
    let params = Params::new().with("key", value);
    let (_, mut rows) = state
        .rows(
            collection,
            collection.select_one().to_owned(),
            params,
            query,
        )
        .await?;
    match rows.pop() {
        Some(row) => Ok(Json(row)),
        None => Err(Problem::not_found(format!("no row {key:?} in {name}"))),
    }
}

/// The OpenAPI paths and row schemas of the collections, to merge with
/// [`gesta_http::Api::openapi_json`].
pub fn openapi(collections: &[Collection]) -> Value {
    let problem = |description: &str| {
        json!({
            "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemBody"}}}
        })
    };
    let as_of = json!({
        "name": "as_of", "in": "query", "required": false,
        "description": "The collection right after the event at this position was applied (0 = empty store), or after the last event at or before this RFC 3339 time",
        "schema": {"type": "string"}
    });
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for c in collections {
        let row_name = format!("Collection_{}", c.name);
        let row_ref = json!({"$ref": format!("#/components/schemas/{row_name}")});
        schemas.insert(row_name, c.row_schema());
        let key_schema = match c.columns.get(&c.key) {
            Some(crate::ColumnType::Integer) => json!({"type": "integer"}),
            _ => json!({"type": "string"}),
        };
        paths.insert(
            format!("/collections/{}", c.name),
            json!({"get": {
                "operationId": format!("collection_{}", c.name),
                "summary": format!("Every row of {}, in key order", c.name),
                "tags": ["collections"],
                "parameters": [as_of],
                "responses": {
                    "200": {"description": "The rows, and the position they are at", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["position", "rows"],
                        "properties": {"position": {"type": "integer", "minimum": 0}, "rows": {"type": "array", "items": row_ref}}
                    }}}},
                    "400": problem("Bad as_of"),
                    "503": problem("The query ran past its time limit"),
                }
            }}),
        );
        paths.insert(
            format!("/collections/{}/{{key}}", c.name),
            json!({"get": {
                "operationId": format!("collection_{}_row", c.name),
                "summary": format!("One row of {}", c.name),
                "tags": ["collections"],
                "parameters": [{"name": "key", "in": "path", "required": true, "schema": key_schema}, as_of],
                "responses": {
                    "200": {"description": "The row", "content": {"application/json": {"schema": row_ref}}},
                    "400": problem("Bad key or as_of"),
                    "404": problem("No such row (at that point)"),
                    "503": problem("The query ran past its time limit"),
                }
            }}),
        );
    }
    json!({"paths": paths, "components": {"schemas": schemas}})
}

/// The collections as GraphQL queries (`venues`, `venue(id)`, both taking `asOf`), to
/// pass to [`gesta_http::Api::graphql_collections`]: the same reads as the routes.
pub fn graphql(collections: &[Collection]) -> Vec<gesta_http::graphql::Collection> {
    use gesta_http::graphql::ColumnKind;
    collections
        .iter()
        .map(|c| gesta_http::graphql::Collection {
            name: c.name.clone(),
            key: c.key.clone(),
            columns: c
                .columns
                .iter()
                .map(|(name, ty)| {
                    let kind = match ty {
                        crate::ColumnType::Text => ColumnKind::Text,
                        crate::ColumnType::Integer => ColumnKind::Integer,
                        crate::ColumnType::Real => ColumnKind::Real,
                        crate::ColumnType::Boolean => ColumnKind::Boolean,
                        crate::ColumnType::Json => ColumnKind::Json,
                    };
                    (name.clone(), kind)
                })
                .collect(),
            rows: Arc::new(GraphqlRows(c.clone())),
        })
        .collect()
}

/// A collection's rows for the GraphQL queries.
struct GraphqlRows(Collection);

impl GraphqlRows {
    async fn rows(
        &self,
        store: &Store,
        sql: String,
        params: Params,
        as_of: Option<gesta::history::AsOf>,
    ) -> Result<Vec<Value>, Problem> {
        let rows = store.query_at(as_of, &sql, params).await?.1;
        Ok(rows.iter().map(|row| self.0.row_json(row)).collect())
    }
}

impl gesta_http::graphql::CollectionRows for GraphqlRows {
    fn all(
        &self,
        store: Store,
        as_of: Option<gesta::history::AsOf>,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<Value>, Problem>> {
        let this = GraphqlRows(self.0.clone());
        Box::pin(async move {
            let sql = this.0.select_all();
            this.rows(&store, sql, Params::new(), as_of).await
        })
    }

    fn one(
        &self,
        store: Store,
        key: String,
        as_of: Option<gesta::history::AsOf>,
    ) -> futures_util::future::BoxFuture<'static, Result<Option<Value>, Problem>> {
        let this = GraphqlRows(self.0.clone());
        Box::pin(async move {
            let Some(value) = this.0.parse_key(&key) else {
                return Err(Problem::invalid(
                    Some(this.0.key.clone()),
                    format!("{}'s key {} is an integer", this.0.name, this.0.key),
                ));
            };
            let sql = this.0.select_one().to_owned();
            let mut rows = this
                .rows(&store, sql, Params::new().with("key", value), as_of)
                .await?;
            Ok(rows.pop())
        })
    }
}
