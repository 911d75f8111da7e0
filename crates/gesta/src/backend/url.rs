//! Parsing database URLs.

use super::sqlite::SqliteConfig;

/// A parsed database URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DbUrl {
    /// `sqlite://path`, `sqlite:path` or `sqlite::memory:`, with `?synchronous=` and
    /// `?unsafe_durability=true` options.
    Sqlite(SqliteConfig),
    /// `postgres://user@host:port/db` (or `postgresql://`), with `?unsafe_durability=true`.
    Postgres(ServerConfig),
    /// `mysql://user:pass@host:port/db` (or `mariadb://`), with `?unsafe_durability=true`.
    Mysql(ServerConfig),
}

/// Settings of a database server, from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The URL for the driver, with Gesta's own options removed.
    pub url: String,
    /// Whether settings that can lose acknowledged commits are accepted.
    pub allow_unsafe_durability: bool,
}

impl ServerConfig {
    /// Splits Gesta's own options (`unsafe_durability`) off `url`.
    fn parse(url: &str) -> Self {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut allow_unsafe_durability = false;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("unsafe_durability", value)) => allow_unsafe_durability = value == "true",
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        ServerConfig {
            url,
            allow_unsafe_durability,
        }
    }

    /// The URL with any password replaced by `***`, for logs.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return self.url.clone();
        };
        let Some((userinfo, host)) = rest.split_once('@') else {
            return self.url.clone();
        };
        match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => self.url.clone(),
        }
    }
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
    /// let DbUrl::Postgres(pg) = DbUrl::parse("postgres://u:secret@h/db?unsafe_durability=true").unwrap()
    /// else { unreachable!() };
    /// assert!(pg.allow_unsafe_durability);
    /// assert_eq!(pg.redacted(), "postgres://u:***@h/db");
    /// ```
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let err = |reason: &str| UrlError {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(ServerConfig::parse(url)));
        }
        if let Some(rest) = url.strip_prefix("mariadb://") {
            return Ok(DbUrl::Mysql(ServerConfig::parse(&format!(
                "mysql://{rest}"
            ))));
        }
        if url.starts_with("mysql://") {
            return Ok(DbUrl::Mysql(ServerConfig::parse(url)));
        }
        let Some(rest) = url.strip_prefix("sqlite:") else {
            return Err(err(
                "unsupported scheme; use sqlite://FILE, sqlite::memory:, postgres://... or mysql://...",
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
