//! Which database a run measures, and a fresh database for every measurement.
//!
//! - SQLite: a file in a fresh temporary directory.
//! - PostgreSQL: a fresh schema `gesta_b_<uuid v7>` in the database of the base URL,
//!   reached with `?options=-c%20search_path%3D<schema>`; dropped afterwards.
//! - MySQL/MariaDB: a fresh database `gesta_b_<pid>_<n>` with a binary NO PAD
//!   collation; dropped afterwards.
//!
//! Leftovers of interrupted runs (schemas older than an hour, databases of processes
//! that are gone) are dropped the first time a run provisions one.

use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use mysql::prelude::Queryable;
use uuid::Uuid;

use crate::Settings;
use crate::server::{self, RawConn};

/// The PostgreSQL URL used when `--backend postgres` is asked for without a URL.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The MySQL/MariaDB URL used when `--backend mysql` is asked for without a URL.
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// The prefix of every schema or database the harness creates on a server.
const PREFIX: &str = "gesta_b_";
/// PostgreSQL schemas older than this are leftovers of earlier runs.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// A database Gesta supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Embedded SQLite (a file per measurement).
    Sqlite,
    /// PostgreSQL (a schema per measurement).
    #[value(alias = "postgresql", alias = "pg")]
    Postgres,
    /// MySQL or MariaDB (a database per measurement).
    #[value(alias = "mariadb")]
    Mysql,
}

impl Backend {
    /// The name used in headings.
    pub fn title(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Mysql => "MySQL/MariaDB",
        }
    }
}

/// One backend to measure, with the server URL for the server backends.
#[derive(Debug, Clone)]
pub struct Target {
    /// Which database.
    pub backend: Backend,
    /// The server's base URL (empty for SQLite); fresh schemas/databases go there.
    pub url: String,
    /// Median round trip of `SELECT 1`, once measured (server backends).
    pub round_trip: Option<Duration>,
}

impl Target {
    /// A raw (driver-level, no Gesta) connection to the database `url` names.
    pub fn raw(&self, url: &str) -> anyhow::Result<Box<dyn RawConn>> {
        match self.backend {
            Backend::Sqlite => anyhow::bail!("SQLite has no server connection"),
            Backend::Postgres => Ok(Box::new(crate::pg::PgRaw::connect(url)?)),
            Backend::Mysql => Ok(Box::new(crate::my::MyRaw::connect(url)?)),
        }
    }

    /// The statements the server has executed, over all clients, if it counts them
    /// (MySQL/MariaDB's global `Questions`).
    pub fn server_statements(&self) -> Option<u64> {
        if self.backend != Backend::Mysql {
            return None;
        }
        let mut conn = mysql_admin(&self.url).ok()?;
        let row: Option<(String, u64)> = conn
            .query_first("SHOW GLOBAL STATUS LIKE 'Questions'")
            .ok()?;
        row.map(|(_, n)| n)
    }

    /// A line describing the server and its durability settings.
    pub fn describe(&self) -> anyhow::Result<String> {
        self.raw(&self.url)?.describe()
    }

    /// Median round trip of a prepared `SELECT 1`, over `n` runs.
    pub fn round_trip(&self, n: usize) -> anyhow::Result<Duration> {
        let mut conn = self.raw(&self.url)?;
        server::median_round_trip(conn.as_mut(), n)
    }
}

/// A fresh, empty database for one measurement, dropped with this value.
#[derive(Debug)]
pub struct Scratch {
    /// The URL a store or a raw connection opens it with.
    pub url: String,
    /// The SQLite file, for SQLite.
    pub path: Option<std::path::PathBuf>,
    /// The SQLite file's directory, removed on drop.
    _dir: Option<tempfile::TempDir>,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Nothing,
    PgSchema { admin: String, schema: String },
    MyDatabase { admin: String, name: String },
}

impl Scratch {
    /// Creates a fresh database for `target`; `name` names the SQLite file.
    pub fn new(settings: &Settings, target: &Target, name: &str) -> anyhow::Result<Self> {
        match target.backend {
            Backend::Sqlite => {
                let dir = settings.tempdir()?;
                let path = dir.path().join(format!("{name}.db"));
                Ok(Scratch {
                    url: format!("sqlite://{}", path.display()),
                    path: Some(path),
                    _dir: Some(dir),
                    cleanup: Cleanup::Nothing,
                })
            }
            Backend::Postgres => off_runtime(|| pg_schema(&target.url)),
            Backend::Mysql => off_runtime(|| my_database(&target.url)),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let dropped = match &self.cleanup {
            Cleanup::Nothing => return,
            Cleanup::PgSchema { admin, schema } => off_runtime(|| {
                let mut client = postgres::Client::connect(admin, postgres::NoTls)?;
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
                anyhow::Ok(())
            }),
            Cleanup::MyDatabase { admin, name } => off_runtime(|| {
                mysql_admin(admin)?.query_drop(format!("DROP DATABASE IF EXISTS {name}"))?;
                anyhow::Ok(())
            }),
        };
        if let Err(err) = dropped {
            eprintln!("  warning: could not drop {}: {err:#}", self.url);
        }
    }
}

/// Runs `f` on a thread of its own: the synchronous `postgres` client cannot run on a
/// thread inside a tokio runtime, and drops may happen there.
fn off_runtime<T: Send>(f: impl FnOnce() -> anyhow::Result<T> + Send) -> anyhow::Result<T> {
    std::thread::scope(|s| s.spawn(f).join())
        .map_err(|_| anyhow::anyhow!("provisioning a database panicked"))?
}

/// `CREATE SCHEMA gesta_b_<uuid v7>` and a URL whose search_path points there.
fn pg_schema(base: &str) -> anyhow::Result<Scratch> {
    let mut client = postgres::Client::connect(base, postgres::NoTls)
        .with_context(|| format!("connecting to PostgreSQL at {base}"))?;
    static CLEANUP: Once = Once::new();
    CLEANUP.call_once(|| drop_stale_schemas(&mut client));
    let schema = format!("{PREFIX}{}", Uuid::now_v7().simple());
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .with_context(|| format!("creating schema {schema}"))?;
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok(Scratch {
        url: format!("{base}{separator}options=-c%20search_path%3D{schema}"),
        path: None,
        _dir: None,
        cleanup: Cleanup::PgSchema {
            admin: base.to_owned(),
            schema,
        },
    })
}

/// Drops `gesta_b_*` schemas made more than [`STALE_AFTER`] ago (best effort).
fn drop_stale_schemas(client: &mut postgres::Client) {
    let Ok(rows) = client.query(
        "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)",
        &[&PREFIX],
    ) else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    for row in rows {
        let name: String = row.get(0);
        let made = name
            .strip_prefix(PREFIX)
            .and_then(|id| Uuid::parse_str(id).ok())
            .and_then(|id| id.get_timestamp())
            .map(|ts| {
                let (secs, nanos) = ts.to_unix();
                Duration::new(secs, nanos)
            });
        if made.is_some_and(|made| now.saturating_sub(made) > STALE_AFTER) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
        }
    }
}

/// A connection to the MySQL server of `url`, without a default database.
fn mysql_admin(url: &str) -> anyhow::Result<mysql::Conn> {
    let opts = mysql::Opts::from_url(url).with_context(|| format!("bad URL {url}"))?;
    mysql::Conn::new(mysql::OptsBuilder::from_opts(opts).db_name(None::<String>))
        .with_context(|| format!("connecting to MySQL at {url}"))
}

/// `CREATE DATABASE gesta_b_<pid>_<n>` with a binary NO PAD collation.
fn my_database(base: &str) -> anyhow::Result<Scratch> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static CLEANUP: Once = Once::new();
    let mut conn = mysql_admin(base)?;
    CLEANUP.call_once(|| drop_orphans(&mut conn));
    let version: String = conn.query_first("SELECT VERSION()")?.unwrap_or_default();
    let collation = if version.contains("MariaDB") {
        "utf8mb4_nopad_bin"
    } else {
        "utf8mb4_0900_bin"
    };
    let name = format!(
        "{PREFIX}{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    conn.query_drop(format!(
        "DROP DATABASE IF EXISTS {name}; \
         CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE {collation}"
    ))
    .with_context(|| format!("creating database {name}"))?;
    Ok(Scratch {
        url: with_database(base, &name),
        path: None,
        _dir: None,
        cleanup: Cleanup::MyDatabase {
            admin: base.to_owned(),
            name,
        },
    })
}

/// Drops `gesta_b_<pid>_*` databases whose process is gone (Linux: no `/proc/<pid>`).
fn drop_orphans(conn: &mut mysql::Conn) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let names: Vec<String> = conn
        .query(format!("SHOW DATABASES LIKE '{PREFIX}%'"))
        .unwrap_or_default();
    for name in names {
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS {name}"));
        }
    }
}

/// `base` with its database path replaced by `name` (query options kept).
fn with_database(base: &str, name: &str) -> String {
    let (base, query) = match base.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (base, String::new()),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("mysql", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{name}{query}")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_path_is_replaced() {
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/test", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            with_database("mysql://u:p@h/test?prefer_socket=false", "x"),
            "mysql://u:p@h/x?prefer_socket=false"
        );
        assert_eq!(with_database("mysql://h:3306", "x"), "mysql://h:3306/x");
    }
}
