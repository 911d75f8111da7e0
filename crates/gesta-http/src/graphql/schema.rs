//! Builds the schema of an app: the types, the three root types, the limits.

use async_graphql::dynamic::Schema;

use super::{Collection, GraphqlOptions, SchemaError, event, mutation, query, subscription};

/// The executable schema of `app` with `collections`. The store and the caller are
/// request data (see `transport.rs`), so the same schema prints without a store.
pub(crate) fn build(
    app: &gesta::App,
    collections: &[Collection],
    options: &GraphqlOptions,
    store: Option<gesta::Store>,
) -> Result<Schema, SchemaError> {
    let mutation = mutation::object(app)?;
    let mut reserved: Vec<String> = [
        "Event",
        "CommandOutcome",
        "Query",
        "Mutation",
        "Subscription",
        "JSON",
    ]
    .map(String::from)
    .to_vec();
    if let Some((_, inputs)) = &mutation {
        reserved.extend(inputs.iter().map(|i| i.type_name().to_owned()));
    }
    let (query, rows) = query::object(collections, &reserved);
    let mut builder = Schema::build(
        "Query",
        mutation.as_ref().map(|_| "Mutation"),
        Some("Subscription"),
    )
    .register(event::json_scalar())
    .register(event::object())
    .register(event::outcome())
    .register(query)
    .register(subscription::object())
    .limit_depth(options.max_depth)
    .limit_complexity(options.max_complexity)
    .limit_directives(16);
    for row in rows {
        builder = builder.register(row);
    }
    if let Some((mutation, inputs)) = mutation {
        builder = builder.register(mutation);
        for input in inputs {
            builder = builder.register(input);
        }
    }
    if let Some(store) = store {
        builder = builder.data(store);
    }
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish().map_err(|e| SchemaError(e.to_string()))
}
