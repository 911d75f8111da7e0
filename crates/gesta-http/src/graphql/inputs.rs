//! GraphQL input types from the JSON Schemas of the commands (the same schemas the
//! OpenAPI document shows), and GraphQL names from command and column names.
//!
//! A property maps to `String`, `Int` (64-bit, as the schemas' integers are), `Float`,
//! `Boolean`, a list, or a nested input object; anything GraphQL's type system cannot
//! say (unions, maps, free-form objects) becomes the `JSON` scalar. Whatever the
//! GraphQL layer lets through is checked again against the JSON Schema by the command
//! pipeline, so the mapping can only be looser than the schema, never stricter.

use std::collections::BTreeMap;

use async_graphql::dynamic::{InputObject, InputValue, TypeRef};
use serde_json::Value;

/// The name of the scalar that carries any JSON value.
pub(crate) const JSON: &str = "JSON";

/// Whether `name` is a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`, not starting `__`).
pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !name.starts_with("__")
}

/// `OpenAccount` → `openAccount`, `open_account` → `openAccount`; `None` when the
/// name has characters GraphQL names cannot hold.
pub(crate) fn field_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for (i, c) in name.chars().enumerate() {
        match c {
            '_' | '-' | '.' if i > 0 => upper = true,
            c if c.is_ascii_alphanumeric() => {
                if out.is_empty() {
                    out.push(c.to_ascii_lowercase());
                } else if upper {
                    out.push(c.to_ascii_uppercase());
                } else {
                    out.push(c);
                }
                upper = false;
            }
            _ => return None,
        }
    }
    is_name(&out).then_some(out)
}

/// `open-account` / `open_account` / `openAccount` → `OpenAccount`.
pub(crate) fn type_name(name: &str) -> Option<String> {
    let field = field_name(name)?;
    let mut chars = field.chars();
    let first = chars.next()?.to_ascii_uppercase();
    Some(std::iter::once(first).chain(chars).collect())
}

/// The input object types a command's schema needs: the command's own
/// (`<Command>Input`) first, then the nested ones. `None` when the command takes no
/// fields (its mutation then has no `input` argument).
pub(crate) struct CommandInput {
    /// The types to register.
    pub(crate) types: Vec<InputObject>,
    /// The `input` argument's type.
    pub(crate) argument: TypeRef,
}

/// The input types of command `command` with JSON Schema `schema`.
pub(crate) fn command_input(command: &str, schema: &Value) -> Option<CommandInput> {
    let root_name = format!("{}Input", type_name(command)?);
    let mut builder = Builder {
        root: schema,
        types: BTreeMap::new(),
        order: Vec::new(),
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    if properties.is_none_or(|p| p.is_empty()) {
        return None;
    }
    let required = builder.object(&root_name, schema);
    let argument = if required {
        TypeRef::named_nn(&root_name)
    } else {
        TypeRef::named(&root_name)
    };
    let mut types = Vec::new();
    for name in builder.order {
        if let Some(ty) = builder.types.remove(&name) {
            types.push(ty);
        }
    }
    Some(CommandInput { types, argument })
}

struct Builder<'a> {
    root: &'a Value,
    types: BTreeMap<String, InputObject>,
    order: Vec<String>,
}

impl<'a> Builder<'a> {
    /// Registers input object `name` for object schema `schema`; whether any of its
    /// fields is required.
    fn object(&mut self, name: &str, schema: &'a Value) -> bool {
        if self.types.contains_key(name) || self.order.iter().any(|n| n == name) {
            return true;
        }
        self.order.push(name.to_owned());
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut object = InputObject::new(name);
        if let Some(description) = schema.get("description").and_then(Value::as_str) {
            object = object.description(description);
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (field, property) in properties.into_iter().flatten() {
            if !is_name(field) {
                continue;
            }
            let parent = name.strip_suffix("Input").unwrap_or(name);
            let hint = format!("{parent}{}Input", type_name(field).unwrap_or_default());
            let (base, nullable) = self.type_of(property, &hint);
            let ty = if required.contains(&field.as_str()) && !nullable {
                TypeRef::NonNull(Box::new(base))
            } else {
                base
            };
            let mut value = InputValue::new(field, ty);
            if let Some(description) = property.get("description").and_then(Value::as_str) {
                value = value.description(description);
            }
            object = object.field(value);
        }
        self.types.insert(name.to_owned(), object);
        !required.is_empty()
    }

    /// The (nullable) GraphQL type of `schema`, and whether the schema allows null.
    fn type_of(&mut self, schema: &'a Value, hint: &str) -> (TypeRef, bool) {
        let schema = self.resolve(schema);
        let (kind, nullable) = match schema.get("type") {
            Some(Value::String(kind)) => (Some(kind.as_str()), false),
            Some(Value::Array(kinds)) => {
                let kinds: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
                let nullable = kinds.contains(&"null");
                let rest: Vec<&str> = kinds.into_iter().filter(|k| *k != "null").collect();
                match rest.as_slice() {
                    [one] => (Some(*one), nullable),
                    _ => (None, nullable),
                }
            }
            _ => (None, false),
        };
        let ty = match kind {
            Some("string") => TypeRef::named(TypeRef::STRING),
            Some("integer") => TypeRef::named(TypeRef::INT),
            Some("number") => TypeRef::named(TypeRef::FLOAT),
            Some("boolean") => TypeRef::named(TypeRef::BOOLEAN),
            Some("array") => match schema.get("items") {
                Some(items) if items.is_object() => {
                    let (item, item_nullable) = self.type_of(items, hint);
                    let item = if item_nullable {
                        item
                    } else {
                        TypeRef::NonNull(Box::new(item))
                    };
                    TypeRef::List(Box::new(item))
                }
                _ => TypeRef::named(JSON),
            },
            Some("object")
                if schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|p| !p.is_empty() && p.keys().all(|k| is_name(k))) =>
            {
                let name = match schema
                    .get("title")
                    .and_then(Value::as_str)
                    .and_then(type_name)
                {
                    Some(title) if title != hint => format!("{title}Input"),
                    _ => hint.to_owned(),
                };
                self.object(&name, schema);
                TypeRef::named(name)
            }
            _ => TypeRef::named(JSON),
        };
        (ty, nullable)
    }

    /// Follows a local `$ref` (`#/$defs/X`, `#/definitions/X`) to its schema.
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let mut schema = schema;
        for _ in 0..8 {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let Some(pointer) = reference.strip_prefix('#') else {
                break;
            };
            match self.root.pointer(pointer) {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_graphql_conventions() {
        assert_eq!(field_name("OpenAccount").as_deref(), Some("openAccount"));
        assert_eq!(field_name("open_account").as_deref(), Some("openAccount"));
        assert_eq!(field_name("book-seat").as_deref(), Some("bookSeat"));
        assert_eq!(type_name("book-seat").as_deref(), Some("BookSeat"));
        assert_eq!(type_name("venues").as_deref(), Some("Venues"));
        assert_eq!(field_name("é"), None);
        assert_eq!(field_name("9lives"), None);
        assert!(is_name("from_account") && !is_name("__type") && !is_name("a b"));
    }

    #[test]
    fn commands_without_fields_take_no_input() {
        let schema = serde_json::json!({"type": "object", "properties": {}});
        assert!(command_input("Ping", &schema).is_none());
    }

    #[test]
    fn nested_objects_and_refs_become_input_types() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["to", "lines"],
            "properties": {
                "to": {"$ref": "#/$defs/Address"},
                "lines": {"type": "array", "items": {"type": "string"}},
                "note": {"type": ["string", "null"]},
                "extra": {"type": "object"}
            },
            "$defs": {"Address": {"title": "Address", "type": "object", "properties": {"city": {"type": "string"}}}}
        });
        let input = command_input("SendLetter", &schema).unwrap();
        let names: Vec<&str> = input.types.iter().map(InputObject::type_name).collect();
        assert_eq!(names, ["SendLetterInput", "AddressInput"]);
        assert_eq!(input.argument.to_string(), "SendLetterInput!");
    }
}
