//! The `Query` type: `events`, `stream`, and each collection's two queries. Every
//! field applies the caller's read rights as `GET /events`, `GET /streams/{s}` and
//! `GET /collections/...` do.

use std::sync::Arc;

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, TypeRef,
};
use async_graphql::{Error, Value};
use gesta::Store;
use gesta::event::{Position, StreamId, StreamVersion};
use gesta::history::AsOf;

use super::errors::{self, invalid};
use super::event;
use super::inputs::{JSON, is_name, type_name};
use super::{Collection, ColumnKind};
use crate::auth::Access;

/// The most events one `events` or `stream` query returns.
pub(crate) const MAX_LIMIT: i64 = 1000;

/// The store and the caller of a request.
pub(crate) fn caller<'a>(ctx: &ResolverContext<'a>) -> Result<(&'a Store, &'a Access), Error> {
    let store = ctx.data::<Store>()?;
    // Fails closed: a request that reached a resolver without an Access (never, on
    // the routes of this module) is refused rather than treated as open.
    let access = ctx
        .data::<Access>()
        .map_err(|_| errors::forbidden("no caller for this request"))?;
    Ok((store, access))
}

/// An optional integer argument in `min..=max`.
fn int(
    ctx: &ResolverContext<'_>,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, Error> {
    match ctx.args.get(name) {
        None => Ok(default),
        Some(value) if value.is_null() => Ok(default),
        Some(value) => {
            let n = value
                .i64()
                .map_err(|_| invalid(name, "must be an integer"))?;
            if (min..=max).contains(&n) {
                Ok(n)
            } else {
                Err(invalid(
                    name,
                    format!("must be an integer from {min} to {max}, got {n}"),
                ))
            }
        }
    }
}

/// An optional list of strings argument.
fn strings(ctx: &ResolverContext<'_>, name: &str) -> Result<Vec<String>, Error> {
    match ctx.args.get(name) {
        None => Ok(Vec::new()),
        Some(value) if value.is_null() => Ok(Vec::new()),
        Some(value) => value
            .list()?
            .iter()
            .map(|item| Ok(item.string()?.to_owned()))
            .collect(),
    }
}

/// The optional `category` argument as a list.
pub(crate) fn categories(ctx: &ResolverContext<'_>) -> Result<Vec<String>, Error> {
    match ctx.args.get("category") {
        Some(value) if !value.is_null() => Ok(vec![value.string()?.to_owned()]),
        _ => Ok(Vec::new()),
    }
}

/// The `asOf` argument: a position or an RFC 3339 time, as in the REST API.
fn as_of(ctx: &ResolverContext<'_>) -> Result<Option<AsOf>, Error> {
    match ctx.args.get("asOf") {
        Some(value) if !value.is_null() => {
            let text = value.string()?;
            text.parse::<AsOf>()
                .map(Some)
                .map_err(|e| invalid("asOf", e.to_string()))
        }
        _ => Ok(None),
    }
}

fn as_of_argument() -> InputValue {
    InputValue::new("asOf", TypeRef::named(TypeRef::STRING)).description(
        "As the store stood right after the event at this position (0 = empty), or after \
         the last event at or before this RFC 3339 time.",
    )
}

/// `events(after, limit, types, category, asOf)`.
fn events() -> Field {
    Field::new(
        "events",
        TypeRef::List(Box::new(TypeRef::named_nn("Event"))),
        |ctx| {
            FieldFuture::new(async move {
                let (store, access) = caller(&ctx)?;
                let after = int(&ctx, "after", 0, 0, i64::MAX)?;
                let limit = int(&ctx, "limit", 100, 1, MAX_LIMIT)?;
                let mut log = gesta::LogQuery::filtered(
                    strings(&ctx, "types")?,
                    Vec::<String>::new(),
                    categories(&ctx)?,
                )
                .map_err(errors::store)?;
                log.after = Position(after as u64);
                log.limit = limit as usize;
                log.readable = access.readable();
                let upto = match as_of(&ctx)? {
                    Some(as_of) => Some(store.resolve(as_of).await.map_err(errors::store)?),
                    None => None,
                };
                let mut events = store.read_all(log).await.map_err(errors::store)?;
                if let Some(upto) = upto {
                    events.retain(|e| e.position <= upto);
                }
                Ok(Some(event::list(&events)))
            })
        },
    )
    .description(
        "The global log in position order, optionally by type and category; with \
         authentication only streams the caller may read. Pass the last position as \
         `after` for the next page.",
    )
    .argument(
        InputValue::new("after", TypeRef::named(TypeRef::INT))
            .description("Only events after this position (default 0)."),
    )
    .argument(
        InputValue::new("limit", TypeRef::named(TypeRef::INT))
            .description("At most this many, 1 to 1000 (default 100)."),
    )
    .argument(
        InputValue::new(
            "types",
            TypeRef::List(Box::new(TypeRef::named_nn(TypeRef::STRING))),
        )
        .description("Only these event types."),
    )
    .argument(
        InputValue::new("category", TypeRef::named(TypeRef::STRING))
            .description("Only streams of this category (the stream id before the first `-`)."),
    )
    .argument(as_of_argument())
}

/// `stream(name, fromVersion, limit, asOf)`.
fn stream() -> Field {
    Field::new("stream", TypeRef::List(Box::new(TypeRef::named_nn("Event"))), |ctx| {
        FieldFuture::new(async move {
            let (store, access) = caller(&ctx)?;
            let name = ctx.args.try_get("name")?.string()?.to_owned();
            let stream = StreamId::new(name).map_err(|e| invalid("name", e.to_string()))?;
            if !access.may_read(stream.as_str()) {
                return Err(errors::forbidden(format!(
                    "you may not read stream {:?}",
                    stream.as_str()
                )));
            }
            let from = int(&ctx, "fromVersion", 1, 0, i64::MAX)?;
            let limit = int(&ctx, "limit", 100, 1, MAX_LIMIT)?;
            let upto = match as_of(&ctx)? {
                Some(as_of) => Some(store.resolve(as_of).await.map_err(errors::store)?),
                None => None,
            };
            let mut events = store
                .read_stream(&stream, StreamVersion(from as u64), limit as usize)
                .await
                .map_err(errors::store)?;
            if let Some(upto) = upto {
                events.retain(|e| e.position <= upto);
            }
            Ok(Some(event::list(&events)))
        })
    })
    .description("One stream's events in stream order; an unknown stream is an error with status 404, as over REST.")
    .argument(InputValue::new("name", TypeRef::named_nn(TypeRef::STRING)).description("The stream id."))
    .argument(InputValue::new("fromVersion", TypeRef::named(TypeRef::INT)).description("First version to return (default 1)."))
    .argument(InputValue::new("limit", TypeRef::named(TypeRef::INT)).description("At most this many, 1 to 1000 (default 100)."))
    .argument(as_of_argument())
}

fn column_type(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Text => TypeRef::STRING,
        ColumnKind::Integer => TypeRef::INT,
        ColumnKind::Real => TypeRef::FLOAT,
        ColumnKind::Boolean => TypeRef::BOOLEAN,
        ColumnKind::Json => JSON,
    }
}

/// A row as its fields' resolvers see it.
struct Row(serde_json::Value);

/// `venues` → `venue`; `people` stays (then its one-row query is `peopleByKey`).
fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies").filter(|s| !s.is_empty()) {
        return format!("{stem}y");
    }
    if let Some(stem) = name
        .strip_suffix('s')
        .filter(|s| !s.is_empty() && !s.ends_with('s'))
    {
        return stem.to_owned();
    }
    format!("{name}ByKey")
}

/// The row type and the two query fields of `collection`, or `None` when its names
/// are not GraphQL names.
pub(crate) fn collection(
    collection: &Collection,
    taken: &[String],
) -> Option<(Object, Field, Field)> {
    if !is_name(&collection.name) || !is_name(&collection.key) {
        tracing::warn!(collection = %collection.name, "not offered over GraphQL: its name is not a GraphQL name");
        return None;
    }
    let one_name = singular(&collection.name);
    let mut row_type = type_name(&one_name.replace("ByKey", ""))?;
    if taken.contains(&row_type) {
        row_type = format!("{row_type}Row");
    }
    let mut object = Object::new(&row_type)
        .description(format!("A row of the collection `{}`.", collection.name));
    let mut key_kind = ColumnKind::Text;
    for (column, kind) in &collection.columns {
        if column == &collection.key {
            key_kind = *kind;
        }
        if !is_name(column) {
            continue;
        }
        let ty = if column == &collection.key {
            TypeRef::named_nn(column_type(*kind))
        } else {
            TypeRef::named(column_type(*kind))
        };
        let member = column.clone();
        object = object.field(Field::new(column, ty, move |ctx| {
            let member = member.clone();
            FieldFuture::new(async move {
                let row = ctx.parent_value.try_downcast_ref::<Row>()?;
                match row.0.get(&member) {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(value) => Ok(Some(FieldValue::value(Value::from_json(value.clone())?))),
                }
            })
        }));
    }
    let rows = Arc::clone(&collection.rows);
    let all = Field::new(
        &collection.name,
        TypeRef::List(Box::new(TypeRef::named_nn(&row_type))),
        move |ctx| {
            let rows = Arc::clone(&rows);
            FieldFuture::new(async move {
                let (store, _) = caller(&ctx)?;
                let as_of = as_of(&ctx)?;
                let all = rows
                    .all(store.clone(), as_of)
                    .await
                    .map_err(errors::error)?;
                Ok(Some(FieldValue::list(
                    all.into_iter().map(|r| FieldValue::owned_any(Row(r))),
                )))
            })
        },
    )
    .description(format!("Every row of `{}`, in key order.", collection.name))
    .argument(as_of_argument());
    let rows = Arc::clone(&collection.rows);
    let key = collection.key.clone();
    let one = Field::new(&one_name, TypeRef::named(&row_type), move |ctx| {
        let rows = Arc::clone(&rows);
        let key = key.clone();
        FieldFuture::new(async move {
            let (store, _) = caller(&ctx)?;
            let as_of = as_of(&ctx)?;
            let value = ctx.args.try_get(&key)?;
            let text = match value.as_value() {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(invalid(&key, "must be a string or an integer")),
            };
            let row = rows
                .one(store.clone(), text, as_of)
                .await
                .map_err(errors::error)?;
            Ok(row.map(|r| FieldValue::owned_any(Row(r))))
        })
    })
    .description(format!(
        "One row of `{}` by its key (null if there is none).",
        collection.name
    ))
    .argument(InputValue::new(
        &collection.key,
        TypeRef::named_nn(column_type(key_kind)),
    ))
    .argument(as_of_argument());
    Some((object, all, one))
}

/// The `Query` type, with `collections`' fields; the row types to register.
pub(crate) fn object(collections: &[Collection], reserved: &[String]) -> (Object, Vec<Object>) {
    let mut query = Object::new("Query").field(events()).field(stream());
    let mut types = Vec::new();
    let mut taken: Vec<String> = reserved.to_vec();
    let mut fields: Vec<String> = vec!["events".into(), "stream".into()];
    for c in collections {
        let Some((row, all, one)) = collection(c, &taken) else {
            continue;
        };
        if fields.contains(&c.name) || fields.contains(&singular(&c.name)) {
            tracing::warn!(collection = %c.name, "not offered over GraphQL: its query names are taken");
            continue;
        }
        fields.push(c.name.clone());
        fields.push(singular(&c.name));
        taken.push(row.type_name().to_owned());
        types.push(row);
        query = query.field(all).field(one);
    }
    (query, types)
}
