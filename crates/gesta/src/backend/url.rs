//! Parsing database URLs.

use super::sqlite::SqliteConfig;

/// A parsed database URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DbUrl {
    /// `sqlite://path`, `sqlite:path` or `sqlite::memory:`, with `?synchronous=` and
    /// `?unsafe_durability=true` options.
    Sqlite(SqliteConfig),
}

/// Why a database URL was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid database URL {url:?}: {reason}")]
pub struct UrlError {
    /// The URL given.
    pub url: String,
    /// What is wrong.
    pub reason: String,
}

impl DbUrl {
    /// Parses `url`.
    ///
    /// ```
    /// use gesta::backend::DbUrl;
    /// assert!(DbUrl::parse("sqlite::memory:").is_ok());
    /// assert!(DbUrl::parse("sqlite://bank.db").is_ok());
    /// assert!(DbUrl::parse("oracle://x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let err = |reason: &str| UrlError {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(rest) = url.strip_prefix("sqlite:") else {
            return Err(err(
                "unsupported scheme; use sqlite://FILE or sqlite::memory:",
            ));
        };
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(err("no file name; use sqlite://FILE or sqlite::memory:"));
        }
        let mut config = SqliteConfig::new(path);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "synchronous" => config.synchronous = value.to_ascii_uppercase(),
                "unsafe_durability" => config.allow_unsafe_durability = value == "true",
                _ => return Err(err(&format!("unknown option {key:?}"))),
            }
        }
        if !["OFF", "NORMAL", "FULL", "EXTRA"].contains(&config.synchronous.as_str()) {
            return Err(err("synchronous must be off, normal, full or extra"));
        }
        Ok(DbUrl::Sqlite(config))
    }
}
