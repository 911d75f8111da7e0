//! Decoding JSON input into typed values with errors that name the field.

use serde::de::DeserializeOwned;

mod schema;
pub use schema::Schema;

use crate::Error;

/// Decodes `json` into `T`. Syntax errors say where; data errors name the field path.
///
/// ```
/// #[derive(serde::Deserialize, Debug)]
/// struct Deposit { amount: u64 }
/// let err = gesta::json::decode::<Deposit>(br#"{"amount": "ten"}"#).unwrap_err();
/// assert!(err.to_string().starts_with("amount:"));
/// ```
pub fn decode<T: DeserializeOwned>(json: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
    de.end().map_err(|e| Error::InvalidInput {
        field: None,
        message: format!("malformed JSON: {e}"),
    })?;
    Ok(value)
}

fn path_error(err: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return Error::InvalidInput {
            field: None,
            message: format!("malformed JSON: {inner}"),
        };
    }
    let message = strip_location(&inner.to_string());
    // serde reports a missing field at the path of the object that lacks it.
    let field = match (path.as_str(), missing_field(&message)) {
        (".", missing) => missing,
        (_, Some(name)) => Some(format!("{path}.{name}")),
        (_, None) => Some(path),
    };
    Error::InvalidInput { field, message }
}

/// serde_json appends " at line L column C"; for data errors the path says more.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(idx) => message[..idx].to_owned(),
        None => message.to_owned(),
    }
}

/// The `name` of serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}
