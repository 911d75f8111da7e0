//! The MySQL/MariaDB backend (the synchronous `mysql` driver, InnoDB, utf8mb4).
//!
//! - Writer lease: every write transaction starts with `START TRANSACTION` and
//!   `SELECT ... FROM gesta_lease WHERE id = 1 FOR UPDATE`; the writer's session runs in
//!   READ COMMITTED, so once it holds the row lock `MAX(position)` sees every commit
//!   and writers in several processes take turns with gap-free positions.
//! - Readers run in REPEATABLE READ, read only: one snapshot per read transaction.
//! - Sessions use `utf8mb4` with a binary collation, UTC, strict mode and the ANSI
//!   spellings SQLite and PostgreSQL share (`"quoted"` identifiers, `||` concatenation,
//!   backslashes as plain characters), so application SQL runs unchanged.
//! - DDL is not transactional here: each DDL statement of a migration commits at once.
//! - Deadlines: `KILL QUERY` from a watchdog thread (see `watchdog`).

mod connection;
mod deadline;
mod error;
mod value;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use mysql::consts::CapabilityFlags;
use mysql::prelude::Queryable;
use mysql::{Conn, DEFAULT_STMT_CACHE_SIZE, Opts, OptsBuilder};

use super::{Backend, Connection, Dialect, Durability, Role, ServerConfig, UrlError};
use crate::sql::{Placeholder, SqlError, SqlErrorKind};
use connection::MysqlConnection;

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;
/// How long connecting may take before it fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema as written for MariaDB; MySQL gets its own binary NO PAD collation.
const SCHEMA: &str = include_str!("schema.sql");
const BEGIN: &[&str] = &[
    "START TRANSACTION",
    "SELECT id FROM gesta_lease WHERE id = 1 FOR UPDATE",
];
/// `GET_LOCK` for a name (see [`super::NamedLock`]) without waiting; 1 when taken. The
/// server's lock name is a hash of the database and the name (at most 64 characters).
const LOCK_ACQUIRE: &str = "SELECT COALESCE(GET_LOCK(CONCAT('gesta:', \
    SHA1(CONCAT(COALESCE(DATABASE(), ''), ':', ?))), 0), 0)";
/// 1 while this session holds that lock.
const LOCK_CHECK: &str = "SELECT COALESCE(IS_USED_LOCK(CONCAT('gesta:', \
    SHA1(CONCAT(COALESCE(DATABASE(), ''), ':', ?)))) = CONNECTION_ID(), 0)";
/// [`BEGIN`] and the head of the log in one round trip.
const OPEN_BATCH: &str = "START TRANSACTION; SELECT id FROM gesta_lease WHERE id = 1 FOR UPDATE; \
                          SELECT MAX(position) FROM events";
const RECORD_MIGRATION: &str = "INSERT INTO gesta_migrations (name, applied_at) \
     VALUES (:name, :applied_at) ON DUPLICATE KEY UPDATE name = name";

static MARIADB_DIALECT: Dialect = Dialect {
    name: "mysql",
    placeholder: Placeholder::Question,
    schema: &[SCHEMA],
    begin: BEGIN,
    finish_batch: None,
    open_batch: Some(OPEN_BATCH),
    upsert_streams_suffix: "ON DUPLICATE KEY UPDATE version = VALUES(version)",
    notify_commit: None,
    record_migration: RECORD_MIGRATION,
    begin_read_only: &["START TRANSACTION READ ONLY"],
    end_read_only: None,
    primary_key: "SELECT column_name FROM information_schema.key_column_usage \
                  WHERE table_schema = DATABASE() AND table_name = :table \
                  AND constraint_name = 'PRIMARY' ORDER BY ordinal_position",
    command_positions: "SELECT MIN(position), MAX(position) FROM events \
                        WHERE JSON_UNQUOTE(JSON_EXTRACT(metadata, '$.command_id')) COLLATE utf8mb4_bin = :command_id",
};

static MYSQL_SCHEMA_TEXT: LazyLock<String> =
    LazyLock::new(|| SCHEMA.replace("utf8mb4_nopad_bin", "utf8mb4_0900_bin"));
static MYSQL_SCHEMA: LazyLock<[&'static str; 1]> = LazyLock::new(|| [MYSQL_SCHEMA_TEXT.as_str()]);
static MYSQL_DIALECT: LazyLock<Dialect> = LazyLock::new(|| Dialect {
    schema: &*MYSQL_SCHEMA,
    ..MARIADB_DIALECT
});

/// Session settings shared by every connection; ends with the connection's id.
macro_rules! session_init {
    ($collation:literal, $transactions:literal) => {
        concat!(
            "SET NAMES utf8mb4 COLLATE ",
            $collation,
            "; SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,\
             ANSI_QUOTES,PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES', time_zone = '+00:00'",
            "; SET SESSION TRANSACTION ",
            $transactions,
            "; SELECT CONNECTION_ID()"
        )
    };
}

/// Which server the URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// MariaDB 10.2.3 or later.
    MariaDb,
    /// MySQL 8.0.16 or later.
    MySql,
}

impl Flavor {
    fn dialect(self) -> &'static Dialect {
        match self {
            Flavor::MariaDb => &MARIADB_DIALECT,
            Flavor::MySql => &MYSQL_DIALECT,
        }
    }

    /// The statements that set a new session up for `role`.
    fn session_init(self, role: Role) -> &'static str {
        match (self, role) {
            (Flavor::MariaDb, Role::Writer) => {
                session_init!("utf8mb4_nopad_bin", "ISOLATION LEVEL READ COMMITTED")
            }
            (Flavor::MariaDb, Role::Reader) => session_init!(
                "utf8mb4_nopad_bin",
                "ISOLATION LEVEL REPEATABLE READ, READ ONLY"
            ),
            (Flavor::MySql, Role::Writer) => {
                session_init!("utf8mb4_0900_bin", "ISOLATION LEVEL READ COMMITTED")
            }
            (Flavor::MySql, Role::Reader) => session_init!(
                "utf8mb4_0900_bin",
                "ISOLATION LEVEL REPEATABLE READ, READ ONLY"
            ),
        }
    }
}

/// What every connection of one backend is opened with.
#[derive(Debug)]
pub(crate) struct Settings {
    opts: Opts,
    flavor: Flavor,
}

/// A MySQL or MariaDB database.
#[derive(Debug)]
pub struct MysqlBackend {
    config: ServerConfig,
    settings: Arc<Settings>,
    durability: Durability,
}

impl MysqlBackend {
    /// Connects once to check the server: its version, that the URL names a database,
    /// and that commits are durable (`innodb_flush_log_at_trx_commit=1`, and
    /// `sync_binlog=1` when the binary log is on) unless `unsafe_durability=true`.
    pub fn new(config: ServerConfig) -> Result<Self, crate::Error> {
        let url_err = |reason: String| {
            crate::Error::Url(UrlError {
                url: config.redacted(),
                reason,
            })
        };
        let opts = Opts::from_url(&config.url).map_err(|e| url_err(e.to_string()))?;
        let mut builder = OptsBuilder::from_opts(opts.clone())
            .additional_capabilities(CapabilityFlags::CLIENT_FOUND_ROWS);
        if opts.get_stmt_cache_size() == DEFAULT_STMT_CACHE_SIZE {
            builder = builder.stmt_cache_size(STATEMENT_CACHE);
        }
        if opts.get_tcp_connect_timeout().is_none() {
            builder = builder.tcp_connect_timeout(Some(CONNECT_TIMEOUT));
        }
        let opts = Opts::from(builder);
        let server = ServerFacts::read(&opts)?;
        if server.database.is_none() {
            return Err(url_err(
                "name a database: mysql://user:password@host:3306/DATABASE".into(),
            ));
        }
        let flavor = server.flavor()?;
        server.warn_about_collation();
        let durability = server.durability();
        if !durability.durable && !config.allow_unsafe_durability {
            return Err(crate::Error::UnsafeDurability(format!(
                "{} can lose acknowledged commits on a crash; set innodb_flush_log_at_trx_commit=1 \
                 (and sync_binlog=1 with the binary log on), or add unsafe_durability=true to \
                 the URL to accept that",
                durability.detail
            )));
        }
        Ok(MysqlBackend {
            config,
            settings: Arc::new(Settings { opts, flavor }),
            durability,
        })
    }
}

impl Backend for MysqlBackend {
    fn dialect(&self) -> &'static Dialect {
        self.settings.flavor.dialect()
    }

    fn connect(&self, role: Role) -> Result<Box<dyn Connection>, SqlError> {
        let conn = MysqlConnection::open(Arc::clone(&self.settings), role)?;
        Ok(Box::new(conn))
    }

    fn scratch(&self) -> Result<Box<dyn Connection>, SqlError> {
        let name = super::scratch::name();
        super::scratch::open(
            self.connect(Role::Writer)?,
            name.clone(),
            &format!("CREATE DATABASE {name}; USE {name}"),
            format!("DROP DATABASE IF EXISTS {name}"),
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
}

/// The server settings Gesta checks at start.
#[derive(Debug)]
struct ServerFacts {
    version: String,
    flush_log_at_trx_commit: i64,
    log_bin: bool,
    sync_binlog: i64,
    database: Option<String>,
    collation: Option<String>,
}

impl ServerFacts {
    fn read(opts: &Opts) -> Result<Self, crate::Error> {
        let mut conn = Conn::new(opts.clone()).map_err(error::map_err)?;
        let row: Option<mysql::Row> = conn
            .query_first(
                "SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@log_bin, @@sync_binlog, \
                 DATABASE(), @@collation_database",
            )
            .map_err(error::map_err)?;
        let row = row.ok_or_else(|| SqlError::new(SqlErrorKind::Other, "no server settings"))?;
        let get_int = |idx: usize| row.get::<Option<i64>, _>(idx).flatten().unwrap_or(0);
        Ok(ServerFacts {
            version: row.get::<String, _>(0).unwrap_or_default(),
            flush_log_at_trx_commit: get_int(1),
            log_bin: get_int(2) == 1,
            sync_binlog: get_int(3),
            database: row.get::<Option<String>, _>(4).flatten(),
            collation: row.get::<Option<String>, _>(5).flatten(),
        })
    }

    /// MariaDB or MySQL, refusing versions without enforced CHECK constraints,
    /// recursive CTEs and binary NO PAD collations.
    fn flavor(&self) -> Result<Flavor, crate::Error> {
        let mut numbers = self
            .version
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let mut next = || numbers.next().unwrap_or(0);
        let version = (next(), next(), next());
        let (flavor, minimum) = if self.version.contains("MariaDB") {
            (Flavor::MariaDb, (10, 2, 3))
        } else {
            (Flavor::MySql, (8, 0, 16))
        };
        if version < minimum {
            return Err(crate::Error::Database(SqlError::new(
                SqlErrorKind::Other,
                format!(
                    "server version {} is too old for Gesta: it needs MariaDB 10.2.3+ or MySQL 8.0.16+",
                    self.version
                ),
            )));
        }
        Ok(flavor)
    }

    fn durability(&self) -> Durability {
        let flush_ok = self.flush_log_at_trx_commit == 1;
        let binlog_ok = !self.log_bin || self.sync_binlog == 1;
        let binlog = if self.log_bin {
            format!("binary log on, sync_binlog={}", self.sync_binlog)
        } else {
            "binary log off".to_owned()
        };
        Durability {
            durable: flush_ok && binlog_ok,
            detail: format!(
                "{}: innodb_flush_log_at_trx_commit={}, {binlog}",
                self.version, self.flush_log_at_trx_commit
            ),
        }
    }

    /// Application tables take the database's default collation; a case-insensitive
    /// one makes them compare text unlike SQLite and PostgreSQL.
    fn warn_about_collation(&self) {
        if let Some(collation) = &self.collation {
            if !collation.ends_with("_bin") {
                tracing::warn!(
                    collation = %collation,
                    "the database's default collation is not binary: application tables will \
                     compare text case-insensitively; create the database with CHARACTER SET \
                     utf8mb4 COLLATE utf8mb4_nopad_bin (MariaDB) or utf8mb4_0900_bin (MySQL)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(version: &str, flush: i64, log_bin: bool, sync_binlog: i64) -> ServerFacts {
        ServerFacts {
            version: version.to_owned(),
            flush_log_at_trx_commit: flush,
            log_bin,
            sync_binlog,
            database: Some("db".into()),
            collation: None,
        }
    }

    #[test]
    fn durable_only_with_flush_at_commit_and_a_synced_binlog() {
        let maria = "10.11.19-MariaDB-0+deb12u1";
        assert!(facts(maria, 1, false, 0).durability().durable);
        assert!(facts(maria, 1, true, 1).durability().durable);
        let lazy = facts(maria, 2, false, 0).durability();
        assert!(!lazy.durable);
        assert!(
            lazy.detail.contains("innodb_flush_log_at_trx_commit=2"),
            "{}",
            lazy.detail
        );
        let binlog = facts(maria, 1, true, 0).durability();
        assert!(!binlog.durable);
        assert!(binlog.detail.contains("sync_binlog=0"), "{}", binlog.detail);
    }

    #[test]
    fn flavors_and_minimum_versions() {
        let flavor = |v: &str| facts(v, 1, false, 0).flavor().ok();
        assert_eq!(flavor("10.11.19-MariaDB-0+deb12u1"), Some(Flavor::MariaDb));
        assert_eq!(flavor("8.0.36"), Some(Flavor::MySql));
        assert_eq!(flavor("8.4.0-commercial"), Some(Flavor::MySql));
        assert_eq!(flavor("10.1.48-MariaDB"), None);
        assert_eq!(flavor("5.7.44-log"), None);
        assert_eq!(flavor("8.0.15"), None);
    }

    #[test]
    fn mysql_gets_its_own_binary_collation() {
        assert!(MARIADB_DIALECT.schema[0].contains("utf8mb4_nopad_bin"));
        let mysql = Flavor::MySql.dialect().schema[0];
        assert!(mysql.contains("utf8mb4_0900_bin") && !mysql.contains("nopad"));
    }
}
