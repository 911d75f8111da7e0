//! The `Event` object: an event's CloudEvents attributes as fields, and the
//! `CommandOutcome` of a mutation.

use async_graphql::Value;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, TypeRef};
use gesta::event::RecordedEvent;

use super::inputs::JSON;

/// An event as the resolvers of its fields see it: its CloudEvents JSON.
pub(crate) struct EventNode(pub(crate) serde_json::Map<String, serde_json::Value>);

impl EventNode {
    /// The node of `event`.
    pub(crate) fn of(event: &RecordedEvent) -> Self {
        match serde_json::to_value(event.to_cloudevent()) {
            Ok(serde_json::Value::Object(map)) => EventNode(map),
            _ => EventNode(serde_json::Map::new()),
        }
    }

    /// The node of an event's CloudEvents JSON text (what subscriptions share).
    pub(crate) fn parse(json: &str) -> Self {
        EventNode(serde_json::from_str(json).unwrap_or_default())
    }
}

/// The field value of `events`, a list of `Event`.
pub(crate) fn list(events: &[RecordedEvent]) -> FieldValue<'static> {
    FieldValue::list(
        events
            .iter()
            .map(|e| FieldValue::owned_any(EventNode::of(e))),
    )
}

/// `(GraphQL field, CloudEvents attribute, type, description)` of `Event`.
const FIELDS: &[(&str, &str, &str, &str)] = &[
    ("id", "id", "ID!", "The event id (a UUID)."),
    ("type", "type", "String!", "The event type."),
    ("subject", "subject", "String!", "The stream id."),
    ("source", "source", "String!", "`/streams/{stream}`."),
    ("time", "time", "String!", "Commit time, RFC 3339."),
    (
        "position",
        "position",
        "Int!",
        "Global position in the log.",
    ),
    (
        "streamVersion",
        "streamversion",
        "Int!",
        "Version within the stream.",
    ),
    ("data", "data", "JSON", "The payload."),
    ("metadata", "metadata", "JSON!", "The full metadata object."),
    (
        "commandId",
        "commandid",
        "String",
        "The command that wrote the event.",
    ),
    (
        "correlationId",
        "correlationid",
        "String",
        "Correlation id.",
    ),
    ("causationId", "causationid", "String", "Causation id."),
    (
        "principal",
        "principal",
        "String",
        "The authenticated principal whose request wrote the event.",
    ),
];

fn type_ref(text: &str) -> TypeRef {
    match text.strip_suffix('!') {
        Some(name) => TypeRef::named_nn(name),
        None => TypeRef::named(text),
    }
}

/// The `Event` type.
pub(crate) fn object() -> Object {
    let mut object = Object::new("Event").description(
        "A committed event: its CloudEvents 1.0 attributes, with `position` and `streamVersion`.",
    );
    for &(field, attribute, ty, description) in FIELDS {
        let resolver = Field::new(field, type_ref(ty), move |ctx| {
            FieldFuture::new(async move {
                let node = ctx.parent_value.try_downcast_ref::<EventNode>()?;
                let value = match node.0.get(attribute) {
                    None | Some(serde_json::Value::Null) => return Ok(None),
                    Some(value) => Value::from_json(value.clone())?,
                };
                Ok(Some(FieldValue::value(value)))
            })
        });
        object = object.field(resolver.description(description));
    }
    object
}

/// What a mutation answers.
pub(crate) struct Outcome {
    pub(crate) command_id: String,
    pub(crate) position: Option<u64>,
    pub(crate) replayed: bool,
    pub(crate) events: Vec<RecordedEvent>,
}

/// The `CommandOutcome` type.
pub(crate) fn outcome() -> Object {
    let field = |name: &'static str, ty: TypeRef, description: &'static str| {
        Field::new(name, ty, move |ctx| {
            FieldFuture::new(async move {
                let outcome = ctx.parent_value.try_downcast_ref::<Outcome>()?;
                Ok(match name {
                    "commandId" => Some(FieldValue::value(outcome.command_id.clone())),
                    "position" => outcome.position.map(FieldValue::value),
                    "replayed" => Some(FieldValue::value(outcome.replayed)),
                    _ => Some(list(&outcome.events)),
                })
            })
        })
        .description(description)
    };
    Object::new("CommandOutcome")
        .description("What a command did: the same as the body of `POST /commands/{name}`.")
        .field(field(
            "commandId",
            TypeRef::named_nn(TypeRef::STRING),
            "The command's id (the first run's, for a retry).",
        ))
        .field(field(
            "position",
            TypeRef::named(TypeRef::INT),
            "Position of the last event written (null if none).",
        ))
        .field(field(
            "replayed",
            TypeRef::named_nn(TypeRef::BOOLEAN),
            "Whether this is the stored outcome of an earlier request with the same idempotency key.",
        ))
        .field(field(
            "events",
            TypeRef::named_nn_list_nn("Event"),
            "The events written, in order.",
        ))
}

/// The `JSON` scalar.
pub(crate) fn json_scalar() -> async_graphql::dynamic::Scalar {
    async_graphql::dynamic::Scalar::new(JSON)
        .description("Any JSON value.")
        .specified_by_url("https://www.rfc-editor.org/rfc/rfc8259")
}
