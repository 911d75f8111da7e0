//! Commands given as JSON and checked against a JSON Schema, for applications that
//! are not written in Rust (a JavaScript module under `gesta serve --app`).

use serde_json::Value;

use crate::Error;

/// A compiled JSON Schema that answers with the first failing field.
///
/// ```
/// let schema = gesta::json::Schema::new(serde_json::json!({
///     "type": "object", "required": ["id"],
///     "properties": {"id": {"type": "string"}, "copies": {"type": "integer", "minimum": 1}}
/// })).unwrap();
/// let err = schema.check(&serde_json::json!({"id": "b1", "copies": 0})).unwrap_err();
/// assert!(matches!(err, gesta::Error::InvalidInput { field: Some(f), .. } if f == "copies"));
/// let err = schema.check(&serde_json::json!({})).unwrap_err();
/// assert!(matches!(err, gesta::Error::InvalidInput { field: Some(f), .. } if f == "id"));
/// ```
pub struct Schema {
    document: Value,
    validator: jsonschema::Validator,
}

impl Schema {
    /// Compiles `document`; an invalid schema is a typed error naming what is wrong.
    pub fn new(document: Value) -> Result<Self, Error> {
        let validator =
            jsonschema::validator_for(&document).map_err(|err| Error::InvalidInput {
                field: Some("schema".to_owned()),
                message: format!("not a valid JSON Schema: {err}"),
            })?;
        Ok(Schema {
            document,
            validator,
        })
    }

    /// The schema as given.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Checks `value`: the first error names the field (`copies`, `items[0].id`).
    pub fn check(&self, value: &Value) -> Result<(), Error> {
        let Some(err) = self.validator.iter_errors(value).next() else {
            return Ok(());
        };
        let mut path = field_path(err.instance_path().as_str());
        let child = match err.kind() {
            jsonschema::error::ValidationErrorKind::Required { property } => {
                property.as_str().map(str::to_owned)
            }
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                unexpected.first().cloned()
            }
            _ => None,
        };
        if let Some(child) = child {
            path = if path.is_empty() {
                child
            } else {
                format!("{path}.{child}")
            };
        }
        Err(Error::InvalidInput {
            field: (!path.is_empty()).then_some(path),
            message: err.to_string(),
        })
    }
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Schema").field(&self.document).finish()
    }
}

/// A JSON Pointer (`/items/0/id`) as a field path (`items[0].id`).
fn field_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push('[');
            path.push_str(&segment);
            path.push(']');
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment);
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(field_path(""), "");
        assert_eq!(field_path("/items/0/id"), "items[0].id");
        assert_eq!(field_path("/a~1b"), "a/b");
    }

    #[test]
    fn unexpected_properties_are_named() {
        let schema = Schema::new(json!({"type": "object", "additionalProperties": false,
            "properties": {"id": {"type": "string"}}}))
        .unwrap();
        let err = schema.check(&json!({"id": "x", "extra": 1})).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { field: Some(f), .. } if f == "extra"));
        assert!(schema.check(&json!({"id": "x"})).is_ok());
    }

    #[test]
    fn a_bad_schema_is_an_error() {
        assert!(Schema::new(json!({"type": 12})).is_err());
    }
}
