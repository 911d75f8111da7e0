//! The read routes of a JavaScript app's collections: `GET /collections/{name}` and
//! `GET /collections/{name}/{key}`, both taking `as_of`, and their OpenAPI paths.

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
