//! Fresh PostgreSQL databases for the conformance suite.

/// Creates a fresh schema or database on the server at `base_url` and returns a URL
/// that a store opens it with.
pub fn fresh_database(base_url: &str) -> Result<String, String> {
    Err(format!("cannot provision PostgreSQL at {base_url} yet"))
}
