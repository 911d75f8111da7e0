//! The boundary between the write path and a database.
//!
//! A backend knows its dialect (placeholders, DDL, upserts), opens connections and
//! classifies errors. Everything else (batching, positions, expected versions,
//! idempotency, reducers) lives once, above it, in the writer (`src/writer/`).
//! Adding a database is a new module here plus the conformance suite passing.
//!
//! SQLite is always built in; the server backends are cargo features, both on by
//! default (`postgres`, `mysql`), so an embedded user can leave their drivers out
//! (`default-features = false`). A URL naming a backend left out is refused with an
//! error that says which feature to turn on.

mod lock;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
mod scratch;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod session_lock;
pub mod sqlite;
mod url;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

pub use lock::NamedLock;
pub use url::{DbUrl, ServerConfig, UrlError};

use crate::sql::{Placeholder, RowRef, SqlError, Value};

/// What a connection is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The single writer connection.
    Writer,
    /// A connection for reads only.
    Reader,
}

/// Dialect facts the shared write path needs. SQL in here uses `:name` placeholders.
#[derive(Debug)]
pub struct Dialect {
    /// Short name: `sqlite`, `postgres`, `mysql`.
    pub name: &'static str,
    /// How positional placeholders are written.
    pub placeholder: Placeholder,
    /// DDL creating Gesta's own tables, one statement per entry, idempotent.
    pub schema: &'static [&'static str],
    /// Statements that start the writer's transaction and take the write lock, so that
    /// writers in several processes take turns and positions follow commit order.
    pub begin: &'static [&'static str],
    /// One multi-statement text that does what `begin` does and then selects the
    /// log's last position (`MAX(position)`, NULL when empty), sent as one round trip
    /// by the writer at the start of each batch ([`Connection::batch_value`]); `None`
    /// where round trips cost nothing (SQLite) and `begin` runs as it is.
    pub open_batch: Option<&'static str>,
    /// One statement that ends a batch in one round trip: inserts the events still
    /// buffered (`$1`, a JSON array of objects with the `events` columns), upserts the
    /// stream versions (`$2`, objects with `stream_id` and `version`), moves the
    /// checkpoints named in `$5` (a JSON array of names) to position `$3` at time `$4`,
    /// and announces the commit as [`Dialect::notify_commit`] does. `None`: the writer
    /// sends those as separate statements.
    pub finish_batch: Option<&'static str>,
    /// Ends a multi-row `INSERT INTO streams (stream_id, version) VALUES ...` so that
    /// existing rows take the new version.
    pub upsert_streams_suffix: &'static str,
    /// Run in every write transaction that appended events, so that other processes
    /// hear of the commit (PostgreSQL: `NOTIFY`); `None` where they poll instead.
    pub notify_commit: Option<&'static str>,
    /// Records a migration name in `gesta_migrations` unless present (`:name`, `:applied_at`).
    pub record_migration: &'static str,
    /// Statements that open a transaction in which nothing can be written (queries
    /// from outside, `POST /admin/query`).
    pub begin_read_only: &'static [&'static str],
    /// Run after such a transaction ends, to make the connection writable again.
    pub end_read_only: Option<&'static str>,
    /// The primary-key columns of table `:table`, in key order (one column per row).
    pub primary_key: &'static str,
    /// The first and last position of the events of command `:command_id` (the
    /// `command_id` in their metadata); two NULLs when it has none.
    pub command_positions: &'static str,
}

/// Whether acknowledged commits survive a crash with the current settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    /// `true` when every acknowledged commit is durable.
    pub durable: bool,
    /// What the setting is, for `/healthz` and the log.
    pub detail: String,
}

/// A database Gesta can store a log in.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The dialect of this backend.
    fn dialect(&self) -> &'static Dialect;
    /// Opens a connection for `role`.
    fn connect(&self, role: Role) -> Result<Box<dyn Connection>, SqlError>;
    /// Opens a scratch place (ADR 007): a connection on which unqualified table names
    /// resolve to a namespace of its own, empty when opened and dropped with the
    /// connection (SQLite: a database in memory; PostgreSQL: a schema; MySQL: a
    /// database). History materializes read models there.
    fn scratch(&self) -> Result<Box<dyn Connection>, SqlError>;
    /// Whether separate reader connections see committed data (false for in-memory SQLite,
    /// whose reads then go through the writer).
    fn supports_readers(&self) -> bool;
    /// The durability the settings give.
    fn durability(&self) -> Durability;
    /// The URL without secrets, for logs.
    fn describe(&self) -> String;
    /// A handle on the lock `name`, which one process (one handle) holds at a time and
    /// which is released when its holder's connection or process ends (reactors).
    fn named_lock(&self, name: &str) -> Result<Box<dyn NamedLock>, SqlError>;
    /// Starts bumping `signal` whenever any process commits to this database, if the
    /// database can push that (PostgreSQL `LISTEN`); returns whether it does. The
    /// listener stops once every receiver of `signal` is gone. Without it, subscribers
    /// notice other processes' commits by polling.
    fn watch_commits(&self, signal: tokio::sync::watch::Sender<u64>) -> bool {
        drop(signal);
        false
    }
}

/// One open database connection, used from one thread at a time.
pub trait Connection: Send {
    /// Runs one statement with positional `params`; returns the rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError>;
    /// Runs several statements without parameters.
    fn execute_batch(&mut self, sql: &str) -> Result<(), SqlError>;
    /// Runs a query, calling `each` for every row.
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowRef) -> Result<(), SqlError>,
    ) -> Result<Vec<String>, SqlError>;
    /// Runs several statements without parameters in one round trip and returns the
    /// first column of the last row any of them returned, as text (`None` for no row
    /// or SQL NULL). Backends without it answer an error (the writer only calls it
    /// where the dialect's [`Dialect::open_batch`] is set).
    fn batch_value(&mut self, sql: &str) -> Result<Option<String>, SqlError> {
        let _ = sql;
        Err(SqlError::new(
            crate::sql::SqlErrorKind::Other,
            "this backend cannot return a value from a batch of statements",
        ))
    }
    /// Statements still running after `deadline` are interrupted (`None` clears it).
    fn set_deadline(&mut self, deadline: Option<Instant>);
    /// On a scratch place of a server backend, the schema (PostgreSQL) or database
    /// (MySQL) its tables live in: other connections to the same database can name
    /// `namespace.table` to read them. `None` for every other connection.
    fn scratch_namespace(&self) -> Option<&str> {
        None
    }
}

/// Opens the backend a URL names (`sqlite://file.db`, `sqlite::memory:`,
/// `postgres://...`, `mysql://...`). Server backends connect once to check settings.
pub fn open(url: &str) -> Result<Arc<dyn Backend>, crate::Error> {
    match DbUrl::parse(url)? {
        DbUrl::Sqlite(config) => Ok(Arc::new(sqlite::SqliteBackend::new(config)?)),
        #[cfg(feature = "postgres")]
        DbUrl::Postgres(config) => Ok(Arc::new(postgres::PgBackend::new(config)?)),
        #[cfg(feature = "mysql")]
        DbUrl::Mysql(config) => Ok(Arc::new(mysql::MysqlBackend::new(config)?)),
        #[cfg(not(all(feature = "postgres", feature = "mysql")))]
        #[allow(unreachable_patterns)]
        other => Err(left_out(&other).into()),
    }
}

/// The error for a URL whose backend this build leaves out.
#[cfg(not(all(feature = "postgres", feature = "mysql")))]
fn left_out(parsed: &DbUrl) -> UrlError {
    let (feature, config) = match parsed {
        DbUrl::Postgres(config) => ("postgres", Some(config)),
        DbUrl::Mysql(config) => ("mysql", Some(config)),
        DbUrl::Sqlite(_) => ("sqlite", None),
    };
    UrlError {
        url: config.map(ServerConfig::redacted).unwrap_or_default(),
        reason: format!(
            "this build of Gesta leaves out the {feature} backend; turn on the cargo feature `{feature}` of the gesta crate"
        ),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(not(feature = "postgres"))]
    #[test]
    fn a_postgres_url_without_the_feature_is_refused_naming_it() {
        let err = super::open("postgres://u:secret@127.0.0.1/db").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("cargo feature `postgres`"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    #[cfg(not(feature = "mysql"))]
    #[test]
    fn a_mysql_url_without_the_feature_is_refused_naming_it() {
        let err = super::open("mariadb://root@127.0.0.1/db").unwrap_err();
        assert!(err.to_string().contains("cargo feature `mysql`"), "{err}");
    }

    #[test]
    fn sqlite_is_always_built_in() {
        assert!(super::open("sqlite::memory:").is_ok());
    }
}
