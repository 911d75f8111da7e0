//! `GET /openapi.json`: the OpenAPI document, generated from the route annotations.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::ApiState;

/// Gesta's own routes; applications merge theirs in.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gesta",
        description = "Event-sourced data store: commands, the log, read models"
    ),
    paths(
        super::commands::run,
        super::streams::append,
        super::streams::read,
        super::events::list,
        super::subscribe::subscribe,
        super::subscribe::websocket,
        super::reactors::reactors,
        super::reactors::retry,
        super::reactors::skip,
        super::projections::projections,
        super::projections::rebuild,
        super::history::query,
        super::history::snapshots,
        super::history::take_snapshot,
        super::history::diff,
        super::history::revert,
        super::history::command,
        super::status::status,
        super::erase::erase,
        super::read_models::list,
        super::read_models::one,
        super::read_models::rebuild,
        super::health::health,
        super::metrics::metrics,
        document,
    ),
    components(schemas(crate::problem::ProblemBody, crate::wire::CloudEventDoc))
)]
pub(crate) struct GestaApi;

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document")), tag = "operations")]
pub(crate) async fn document(State(state): State<ApiState>) -> Json<Value> {
    Json((*state.openapi).clone())
}

/// The finished document: `doc` with one `POST /commands/{Name}` path per command of
/// `app`, each with the command's own request schema, and `extra` (paths and
/// component schemas given as JSON) merged in.
pub(crate) fn finish(doc: &utoipa::openapi::OpenApi, app: &gesta::App, extra: &[Value]) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    let generic = doc
        .pointer("/paths/~1commands~1{name}/post")
        .cloned()
        .unwrap_or_else(|| json!({}));
    for name in app.command_names() {
        let mut schema = app
            .command_schema(name)
            .unwrap_or_else(|| json!({"type": "object"}));
        hoist_definitions(&mut doc, &mut schema);
        let mut operation = generic.clone();
        if let Some(params) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            params.retain(|p| p.get("in").and_then(Value::as_str) != Some("path"));
        }
        operation["operationId"] = json!(format!("command_{name}"));
        operation["summary"] = json!(format!("Run the command {name}"));
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": schema}},
        });
        insert(
            &mut doc,
            &["paths", &format!("/commands/{name}"), "post"],
            operation,
        );
    }
    for part in extra {
        for section in ["paths", "components"] {
            let Some(items) = part.get(section).and_then(Value::as_object) else {
                continue;
            };
            for (key, value) in items {
                if section == "components" {
                    if let Some(inner) = value.as_object() {
                        for (name, item) in inner {
                            insert(&mut doc, &["components", key, name], item.clone());
                        }
                    }
                } else {
                    insert(&mut doc, &["paths", key], value.clone());
                }
            }
        }
    }
    doc
}

/// Declares bearer authentication on every operation but the public ones
/// (`/healthz`, `/openapi.json`) and documents what it answers: 401 without valid
/// credentials, 403 for what the caller's rights do not cover, 429 over a rate limit.
pub(crate) fn secure(doc: &mut Value, rate_limited: bool) {
    insert(
        doc,
        &["components", "securitySchemes", "bearer"],
        json!({
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `gesta keys add`, or a JWT when the server accepts them",
        }),
    );
    let problem = |description: &str| {
        json!({
            "description": description,
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/ProblemBody"}
            }},
        })
    };
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let public = path == "/healthz" || path == "/openapi.json";
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            if public {
                operation["security"] = json!([]);
                continue;
            }
            operation["security"] = json!([{"bearer": []}]);
            let responses = &mut operation["responses"];
            responses["401"] = problem("No valid credentials (`WWW-Authenticate: Bearer`)");
            responses["403"] = problem("The caller's rights do not cover this");
            if rate_limited {
                responses["429"] = problem("Over the rate limit; see Retry-After");
            }
        }
    }
}

/// Moves a JSON Schema's `$defs` (or `definitions`) into the document's component
/// schemas and points its references there, so that they resolve in OpenAPI.
fn hoist_definitions(doc: &mut Value, schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    object.remove("$schema");
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = object.remove(key) {
            for (name, def) in defs {
                insert(doc, &["components", "schemas", &name], def);
            }
        }
    }
    rewrite_refs(schema);
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        for def in schemas.values_mut() {
            rewrite_refs(def);
        }
    }
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == "$ref" {
                    if let Value::String(target) = item {
                        for prefix in ["#/$defs/", "#/definitions/"] {
                            if let Some(name) = target.strip_prefix(prefix) {
                                *target = format!("#/components/schemas/{name}");
                            }
                        }
                    }
                } else {
                    rewrite_refs(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// Sets `doc[path...] = value`, creating objects on the way.
fn insert(doc: &mut Value, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *doc = value;
        return;
    };
    if !doc.is_object() {
        *doc = json!({});
    }
    if let Some(map) = doc.as_object_mut() {
        let slot = map.entry((*first).to_owned()).or_insert_with(|| json!({}));
        insert(slot, rest, value);
    }
}
