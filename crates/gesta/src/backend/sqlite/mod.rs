//! The embedded SQLite backend (rusqlite, bundled SQLite, WAL mode).

mod connection;

use std::path::PathBuf;

use rusqlite::OpenFlags;

use super::{Backend, Connection, Dialect, Durability, Role};
use crate::sql::{Placeholder, SqlError};
use connection::SqliteConnection;

static DIALECT: Dialect = Dialect {
    name: "sqlite",
    placeholder: Placeholder::QuestionNumbered,
    schema: &[include_str!("schema.sql")],
    begin: &["BEGIN IMMEDIATE"],
    finish_batch: None,
    open_batch: None,
    upsert_streams_suffix: "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version",
    notify_commit: None,
    record_migration: "INSERT INTO gesta_migrations (name, applied_at) VALUES (:name, :applied_at) \
                       ON CONFLICT (name) DO NOTHING",
    begin_read_only: &["PRAGMA query_only = ON", "BEGIN"],
    end_read_only: Some("PRAGMA query_only = OFF"),
    primary_key: "SELECT name FROM pragma_table_info(:table) WHERE pk > 0 ORDER BY pk",
    command_positions: "SELECT MIN(position), MAX(position) FROM events \
                        WHERE json_extract(metadata, '$.command_id') = :command_id",
};

/// Settings of a SQLite store, from its URL.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file, or `:memory:`.
    pub path: String,
    /// `PRAGMA synchronous` value; `FULL` unless the URL says otherwise.
    pub synchronous: String,
    /// Whether a `synchronous` below `FULL` is accepted (`?unsafe_durability=true`).
    pub allow_unsafe_durability: bool,
}

impl SqliteConfig {
    /// Defaults for `path`: `synchronous=FULL`, unsafe settings refused.
    pub fn new(path: &str) -> Self {
        SqliteConfig {
            path: path.to_owned(),
            synchronous: "FULL".to_owned(),
            allow_unsafe_durability: false,
        }
    }

    fn is_memory(&self) -> bool {
        self.path == ":memory:"
    }
}

/// A SQLite database file (or an in-memory database).
#[derive(Debug)]
pub struct SqliteBackend {
    config: SqliteConfig,
}

impl SqliteBackend {
    /// Checks the settings: `synchronous` below `FULL` needs `unsafe_durability=true`.
    pub fn new(config: SqliteConfig) -> Result<Self, crate::Error> {
        let safe = matches!(config.synchronous.as_str(), "FULL" | "EXTRA");
        if !safe && !config.allow_unsafe_durability {
            return Err(crate::Error::UnsafeDurability(format!(
                "SQLite synchronous={} can lose acknowledged commits on power loss; \
                 add unsafe_durability=true to the URL to accept that",
                config.synchronous
            )));
        }
        Ok(SqliteBackend { config })
    }
}

impl Backend for SqliteBackend {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    fn connect(&self, role: Role) -> Result<Box<dyn Connection>, SqlError> {
        let path = PathBuf::from(&self.config.path);
        let flags = match role {
            Role::Writer => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            Role::Reader => OpenFlags::SQLITE_OPEN_READ_ONLY,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = SqliteConnection::open(&path, flags, &self.config.synchronous)?;
        Ok(Box::new(conn))
    }

    fn scratch(&self) -> Result<Box<dyn Connection>, SqlError> {
        Ok(Box::new(SqliteConnection::open_scratch()?))
    }

    fn supports_readers(&self) -> bool {
        !self.config.is_memory()
    }

    fn durability(&self) -> Durability {
        if self.config.is_memory() {
            return Durability {
                durable: false,
                detail: "in-memory SQLite: nothing survives a restart".to_owned(),
            };
        }
        let durable = matches!(self.config.synchronous.as_str(), "FULL" | "EXTRA");
        Durability {
            durable,
            detail: format!("SQLite WAL, synchronous={}", self.config.synchronous),
        }
    }

    fn describe(&self) -> String {
        format!("sqlite://{}", self.config.path)
    }

    fn named_lock(&self, name: &str) -> Result<Box<dyn super::NamedLock>, SqlError> {
        if self.config.is_memory() {
            return Ok(Box::new(super::lock::Uncontended));
        }
        Ok(Box::new(super::lock::FileLock::beside(
            &self.config.path,
            name,
        )))
    }
}
