//! Request input checks shared by the routes: JSON bodies and query strings.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};

use crate::problem::Problem;

/// The body of a JSON request: checks the content type and the size limit.
pub(crate) fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !(mime.starts_with("application/") && mime.ends_with("+json"))
    {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!(
                "expected Content-Type: application/json, got {:?}",
                content_type
            ),
        ));
    }
    body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                status,
                "payload-too-large",
                "Payload too large",
                rejection.body_text(),
            )
        } else {
            Problem::invalid(None, rejection.body_text())
        }
    })
}

/// A header's value as text, refusing non-UTF-8 values.
pub(crate) fn header_text(headers: &HeaderMap, name: &str) -> Result<Option<String>, Problem> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(|v| Some(v.to_owned())).map_err(|_| {
            Problem::invalid(Some(name.to_owned()), "header value must be visible ASCII")
        }),
    }
}

/// Query-string pairs, with typed accessors that name the parameter on error.
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `raw`, refusing parameters not in `allowed`.
    pub(crate) fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, Problem> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((key, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(Problem::invalid(
                Some(key.clone()),
                format!("unknown query parameter; accepted: {}", allowed.join(", ")),
            ));
        }
        Ok(Query { pairs })
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The log filter of the `type`, `stream` and `category` parameters (each
    /// repeatable), checked by [`gesta::LogQuery::filtered`].
    pub(crate) fn log_filter(&self) -> Result<gesta::LogQuery, Problem> {
        Ok(gesta::LogQuery::filtered(
            self.all("type"),
            self.all("stream"),
            self.all("category"),
        )?)
    }

    /// The single unsigned integer `name` in `min..=max`, or `default` if absent.
    pub(crate) fn number(
        &self,
        name: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, Problem> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == name);
        let Some((_, value)) = values.next() else {
            return Ok(default);
        };
        if values.next().is_some() {
            return Err(Problem::invalid(
                Some(name.to_owned()),
                "given more than once",
            ));
        }
        match value.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(Problem::invalid(
                Some(name.to_owned()),
                format!("must be an integer from {min} to {max}, got {value:?}"),
            )),
        }
    }
}
