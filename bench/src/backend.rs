//! Which database a run measures, and a fresh database for every measurement.
//!
//! - SQLite: a file in a fresh temporary directory.
//! - PostgreSQL and MySQL/MariaDB: a fresh schema or database from `gesta-testkit`
//!   (the same the test suites use), dropped afterwards.

use std::time::Duration;

use anyhow::Context as _;
use gesta_testkit::{FreshDatabase, Server};
use mysql::prelude::Queryable;

use crate::Settings;
use crate::server::{self, RawConn};

/// The PostgreSQL URL used when `--backend postgres` is asked for without a URL.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The MySQL/MariaDB URL used when `--backend mysql` is asked for without a URL.
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

pub use gesta_testkit::Engine;

/// One backend to measure, with the server URL for the server backends.
#[derive(Debug, Clone)]
pub struct Target {
    /// Which database.
    pub backend: Engine,
    /// The server's base URL (empty for SQLite); fresh schemas/databases go there.
    pub url: String,
    /// Median round trip of `SELECT 1`, once measured (server backends).
    pub round_trip: Option<Duration>,
}

impl Target {
    /// A raw (driver-level, no Gesta) connection to the database `url` names.
    pub fn raw(&self, url: &str) -> anyhow::Result<Box<dyn RawConn>> {
        match self.backend {
            Engine::Sqlite => anyhow::bail!("SQLite has no server connection"),
            Engine::Postgres => Ok(Box::new(crate::pg::PgRaw::connect(url)?)),
            Engine::Mysql => Ok(Box::new(crate::my::MyRaw::connect(url)?)),
        }
    }

    /// The statements the server has executed, over all clients, if it counts them:
    /// MySQL/MariaDB's global `Questions`; on PostgreSQL the calls in
    /// `pg_stat_statements`, when the server preloads it
    /// (`shared_preload_libraries = 'pg_stat_statements'`; utility statements such as
    /// `BEGIN` and `SAVEPOINT` count too, as `track_utility` is on by default).
    pub fn server_statements(&self) -> Option<u64> {
        match self.backend {
            Engine::Sqlite => None,
            Engine::Mysql => {
                let mut conn = mysql_admin(&self.url).ok()?;
                let row: Option<(String, u64)> = conn
                    .query_first("SHOW GLOBAL STATUS LIKE 'Questions'")
                    .ok()?;
                row.map(|(_, n)| n)
            }
            // The synchronous client runs a runtime of its own: not on a runtime thread.
            Engine::Postgres => std::thread::scope(|scope| {
                scope
                    .spawn(|| pg_statements(&self.url))
                    .join()
                    .ok()
                    .flatten()
            }),
        }
    }

    /// What [`Target::server_statements`] counts, for the report.
    pub fn statement_counter(&self) -> &'static str {
        match self.backend {
            Engine::Postgres => "`pg_stat_statements`",
            _ => "global `Questions`",
        }
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
    /// The server schema or database, dropped on drop.
    _db: Option<FreshDatabase>,
}

impl Scratch {
    /// Creates a fresh database for `target`; `name` names the SQLite file.
    pub fn new(settings: &Settings, target: &Target, name: &str) -> anyhow::Result<Self> {
        match target.backend {
            Engine::Sqlite => {
                let dir = settings.tempdir()?;
                let path = dir.path().join(format!("{name}.db"));
                Ok(Scratch {
                    url: format!("sqlite://{}", path.display()),
                    path: Some(path),
                    _dir: Some(dir),
                    _db: None,
                })
            }
            Engine::Postgres => Scratch::on(Server::Postgres, &target.url),
            Engine::Mysql => Scratch::on(Server::Mysql, &target.url),
        }
    }

    fn on(server: Server, base: &str) -> anyhow::Result<Self> {
        let db = gesta_testkit::fresh_at(server, base).map_err(|why| {
            anyhow::anyhow!("a fresh {} database at {base}: {why}", server.name())
        })?;
        Ok(Scratch {
            url: db.url().to_owned(),
            path: None,
            _dir: None,
            _db: Some(db),
        })
    }
}

/// A connection to the MySQL server of `url`, without a default database.
/// The calls `pg_stat_statements` counted, over all clients (`None` without it).
fn pg_statements(url: &str) -> Option<u64> {
    let mut conn = postgres::Client::connect(url, postgres::NoTls).ok()?;
    let _ = conn.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    let row = conn
        .query_one(
            "SELECT COALESCE(SUM(calls), 0)::bigint FROM pg_stat_statements",
            &[],
        )
        .ok()?;
    u64::try_from(row.get::<_, i64>(0)).ok()
}

fn mysql_admin(url: &str) -> anyhow::Result<mysql::Conn> {
    let opts = mysql::Opts::from_url(url).with_context(|| format!("bad URL {url}"))?;
    mysql::Conn::new(mysql::OptsBuilder::from_opts(opts).db_name(None::<String>))
        .with_context(|| format!("connecting to MySQL at {url}"))
}
