//! The `Mutation` type: one field per command, run through the pipeline of
//! `POST /commands/{name}` (the caller's right to run it, the JSON Schema, the
//! handler, idempotency, the writer).

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, TypeRef,
};
use gesta::{App, Context};

use super::SchemaError;
use super::errors::{self, invalid};
use super::event::Outcome;
use super::inputs::{self, JSON, field_name, is_name};
use super::query::caller;
use crate::routes::write::detached;

/// The `Mutation` type of `app` and the input types it needs; `None` for an app
/// without commands.
pub(crate) fn object(app: &App) -> Result<Option<(Object, Vec<InputObject>)>, SchemaError> {
    let mut mutation = Object::new("Mutation");
    let mut types = Vec::new();
    let mut names: Vec<(String, String)> = Vec::new();
    for command in app.command_names() {
        let Some(field) = field_name(command) else {
            tracing::warn!(
                command,
                "not offered over GraphQL: its name is not a GraphQL name"
            );
            continue;
        };
        if let Some((_, other)) = names.iter().find(|(f, _)| *f == field) {
            return Err(SchemaError(format!(
                "commands {other:?} and {command:?} both map to the mutation {field:?}"
            )));
        }
        names.push((field.clone(), command.to_owned()));
        let schema = app.command_schema(command).unwrap_or_default();
        let expressible = schema
            .get("properties")
            .and_then(serde_json::Value::as_object)
            .is_none_or(|p| p.keys().all(|k| is_name(k)));
        let input = if expressible {
            inputs::command_input(command, &schema).map(|input| {
                types.extend(input.types);
                input.argument
            })
        } else {
            Some(TypeRef::named_nn(JSON))
        };
        mutation = mutation.field(run(command, &field, input));
    }
    if names.is_empty() {
        return Ok(None);
    }
    Ok(Some((mutation, types)))
}

/// The field running `command`.
fn run(command: &str, field: &str, input: Option<TypeRef>) -> Field {
    let name = command.to_owned();
    let mut field = Field::new(field, TypeRef::named("CommandOutcome"), move |ctx| {
        let name = name.clone();
        FieldFuture::new(async move {
            let (store, access) = caller(&ctx)?;
            if !access.may_run(&name) {
                return Err(errors::forbidden(format!("you may not run {name:?}")));
            }
            let body = match ctx.args.get("input") {
                Some(value) if !value.is_null() => value
                    .as_value()
                    .clone()
                    .into_json()
                    .map_err(|e| invalid("input", e.to_string()))?,
                _ => serde_json::json!({}),
            };
            let text = |arg: &str| -> Result<Option<String>, async_graphql::Error> {
                match ctx.args.get(arg) {
                    Some(value) if !value.is_null() => Ok(Some(value.string()?.to_owned())),
                    _ => Ok(None),
                }
            };
            let context = Context {
                idempotency_key: text("idempotencyKey")?,
                correlation_id: text("correlationId")?,
                principal: access.principal().cloned(),
                ..Context::default()
            };
            let json = serde_json::to_vec(&body).map_err(|e| invalid("input", e.to_string()))?;
            let store = store.clone();
            let outcome = detached(async move { store.dispatch_json(&name, &json, context).await })
                .await
                .map_err(errors::error)?;
            Ok(Some(FieldValue::owned_any(Outcome {
                command_id: outcome.command_id.to_string(),
                position: outcome.position.map(|p| p.0),
                replayed: outcome.replayed,
                events: outcome.events,
            })))
        })
    })
    .description(format!(
        "Runs the command `{command}` (as `POST /commands/{command}`)."
    ));
    if let Some(ty) = input {
        field = field.argument(InputValue::new("input", ty).description("The command's data."));
    }
    field
        .argument(
            InputValue::new("idempotencyKey", TypeRef::named(TypeRef::STRING)).description(
                "A retry with the same key returns the first outcome instead of running again.",
            ),
        )
        .argument(
            InputValue::new("correlationId", TypeRef::named(TypeRef::STRING))
                .description("Correlation id for the events' metadata."),
        )
}
