//! The PostgreSQL backend (the synchronous `postgres` client; `jsonb`, `uuid`, prepared
//! statements cached per connection).
//!
//! URLs are the driver's (`postgres://user:pass@host:port/db?...`), plus Gesta's
//! `unsafe_durability=true`. A store can live in its own schema:
//! `?options=-c%20search_path%3Dmy_schema` (the schema must exist).
//!
//! The writer takes a transaction-scoped advisory lock right after `BEGIN`, keyed by
//! the `events` table the connection sees, so writers in several processes over one
//! log take turns and positions stay gap-free and in commit order, while stores in
//! other schemas of the same database do not wait for each other. The lock is the
//! two-key form: 1734702964 ("gest" in ASCII) and the table's OID; `schema.sql` takes
//! the same class with a hash of the schema name while it creates the tables.

mod connection;
mod deadline;
mod error;
mod notify;
mod numeric;
#[cfg(test)]
mod tests;
mod value;

use std::str::FromStr;
use std::time::Duration;

use postgres::{Config, NoTls};

use super::{Backend, Connection, Dialect, Durability, Role, ServerConfig, UrlError};
use crate::sql::{Placeholder, SqlError};
use connection::PgConnection;
use error::map_err;

/// The log's write lock, held until the transaction ends.
const WRITE_LOCK: &str = "SELECT pg_advisory_xact_lock(1734702964, 'events'::regclass::oid::int4)";

/// The end of a batch in one statement (see [`Dialect::finish_batch`]): data-modifying
/// CTEs run once and to completion whether or not the final `SELECT` reads them, and
/// the text is the same for any number of rows, so it stays prepared.
const FINISH_BATCH: &str = "WITH e AS (\
    INSERT INTO events (position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) \
    SELECT position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at \
    FROM json_to_recordset($1::json) AS r(position bigint, stream_id text, stream_version bigint, \
        event_id uuid, event_type text, data jsonb, metadata jsonb, recorded_at bigint)), \
  s AS (\
    INSERT INTO streams (stream_id, version) \
    SELECT stream_id, version FROM json_to_recordset($2::json) AS r(stream_id text, version bigint) \
    ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version), \
  c AS (\
    UPDATE checkpoints SET position = $3, updated_at = $4 \
    WHERE name IN (SELECT json_array_elements_text($5::json))) \
  SELECT pg_notify('gesta_commits', '')";

static DIALECT: Dialect = Dialect {
    name: "postgres",
    placeholder: Placeholder::DollarNumbered,
    schema: &[include_str!("schema.sql")],
    begin: &["BEGIN", WRITE_LOCK],
    finish_batch: Some(FINISH_BATCH),
    open_batch: Some(
        "BEGIN; SELECT pg_advisory_xact_lock(1734702964, 'events'::regclass::oid::int4); \
         SELECT MAX(position) FROM events",
    ),
    upsert_streams_suffix: "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version",
    notify_commit: Some(notify::NOTIFY),
    record_migration: "INSERT INTO gesta_migrations (name, applied_at) VALUES (:name, :applied_at) \
                       ON CONFLICT (name) DO NOTHING",
    begin_read_only: &["BEGIN READ ONLY"],
    end_read_only: None,
    primary_key: "SELECT a.attname::text FROM pg_index i \
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                  WHERE i.indrelid = CAST(:table AS text)::regclass AND i.indisprimary \
                  ORDER BY array_position(i.indkey::int2[], a.attnum)",
    command_positions: "SELECT MIN(position), MAX(position) FROM events \
                        WHERE metadata->>'command_id' = :command_id",
};

/// Takes the session-level advisory lock for a name (see [`super::NamedLock`]), keyed
/// by a 64-bit hash of the schema and the name; 1 when taken.
const LOCK_ACQUIRE: &str = "SELECT CASE WHEN pg_try_advisory_lock(hashtextextended(\
    'gesta:' || COALESCE(current_schema(), '') || ':' || $1, 0)) THEN 1 ELSE 0 END";
/// 1 while this session holds that lock.
const LOCK_CHECK: &str = "WITH k AS (SELECT hashtextextended(\
    'gesta:' || COALESCE(current_schema(), '') || ':' || $1, 0) AS key) \
    SELECT COUNT(*) FROM pg_locks, k WHERE locktype = 'advisory' AND granted \
    AND pid = pg_backend_pid() AND objsubid = 1 \
    AND classid::bigint = ((k.key >> 32) & 4294967295) AND objid::bigint = (k.key & 4294967295)";

/// How long connecting may take unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL database.
pub struct PgBackend {
    config: ServerConfig,
    pg: Config,
    durability: Durability,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend")
            .field("url", &self.config.redacted())
            .field("durability", &self.durability)
            .finish()
    }
}

impl PgBackend {
    /// Connects once to check the server's settings: `synchronous_commit=off` or
    /// `fsync=off` make an acknowledged commit a lie, and are refused unless the URL
    /// says `unsafe_durability=true`.
    pub fn new(config: ServerConfig) -> Result<Self, crate::Error> {
        let mut pg = Config::from_str(&config.url).map_err(|e| {
            crate::Error::Url(UrlError {
                url: config.redacted(),
                reason: map_err(e).message,
            })
        })?;
        if pg.get_application_name().is_none() {
            pg.application_name("gesta");
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(CONNECT_TIMEOUT);
        }
        // The sync client blocks on a runtime of its own, which cannot happen on an
        // async worker thread (`Store::open` calls this from async code).
        let checked = std::thread::scope(|s| s.spawn(|| settings(&pg)).join());
        let (synchronous_commit, fsync) = checked.map_err(|_| {
            crate::Error::Database(SqlError::new(
                crate::sql::SqlErrorKind::Other,
                "checking the PostgreSQL settings panicked",
            ))
        })??;
        let durable = synchronous_commit != "off" && fsync != "off";
        let detail = format!("PostgreSQL synchronous_commit={synchronous_commit}, fsync={fsync}");
        if !durable && !config.allow_unsafe_durability {
            return Err(crate::Error::UnsafeDurability(format!(
                "{detail} can lose acknowledged commits on a crash; \
                 add unsafe_durability=true to the URL to accept that"
            )));
        }
        Ok(PgBackend {
            config,
            pg,
            durability: Durability { durable, detail },
        })
    }
}

/// `synchronous_commit` and `fsync` as the store's connections see them.
fn settings(pg: &Config) -> Result<(String, String), SqlError> {
    let mut client = pg.connect(NoTls).map_err(map_err)?;
    let row = client
        .query_one(
            "SELECT current_setting('synchronous_commit'), current_setting('fsync')",
            &[],
        )
        .map_err(map_err)?;
    let synchronous_commit: String = row.try_get(0).map_err(map_err)?;
    let fsync: String = row.try_get(1).map_err(map_err)?;
    Ok((synchronous_commit, fsync))
}

impl Backend for PgBackend {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    fn connect(&self, role: Role) -> Result<Box<dyn Connection>, SqlError> {
        Ok(Box::new(PgConnection::open(&self.pg, role)?))
    }

    fn scratch(&self) -> Result<Box<dyn Connection>, SqlError> {
        let name = super::scratch::name();
        super::scratch::open(
            self.connect(Role::Writer)?,
            name.clone(),
            &format!("CREATE SCHEMA {name}; SET search_path TO {name}"),
            format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
        )
    }

    fn supports_readers(&self) -> bool {
        true
    }

    fn durability(&self) -> Durability {
        self.durability.clone()
    }

    fn describe(&self) -> String {
        self.config.redacted()
    }

    fn named_lock(&self, name: &str) -> Result<Box<dyn super::NamedLock>, SqlError> {
        let conn = self.connect(Role::Writer)?;
        let lock = super::lock::SessionLock::new(conn, LOCK_ACQUIRE, LOCK_CHECK, name);
        Ok(Box::new(lock))
    }

    fn watch_commits(&self, signal: tokio::sync::watch::Sender<u64>) -> bool {
        notify::spawn_listener(self.pg.clone(), signal)
    }
}
