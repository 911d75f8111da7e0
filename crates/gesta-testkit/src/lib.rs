//! Test support shared by Gesta's test suites: a fresh database per test on the
//! server backends (and on any [`Engine`], SQLite included), and the rule that CI
//! never skips a backend silently.
//!
//! The servers come from `GESTA_TEST_POSTGRES_URL` and `GESTA_TEST_MYSQL_URL`. When a
//! variable is unset the backend is left out (and [`fresh`] says so on stderr, once);
//! under `CI=true` that is a failure instead.
//!
//! ```no_run
//! if let Some(db) = gesta_testkit::fresh(gesta_testkit::Server::Postgres) {
//!     // open a store on db.url(); the schema is dropped with `db`
//! }
//! ```
//!
//! Suites that run one body on every backend take a [`Database`] from
//! [`Engine::fresh`]: SQLite is a file in a temporary directory, so that a second
//! process or a reopened store sees the same log.

mod engine;
mod mysql;
mod postgres;
pub mod schemathesis;

use std::io::Write;
use std::sync::Once;

pub use engine::{Database, Engine};

/// A database server the suites can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// PostgreSQL, from `GESTA_TEST_POSTGRES_URL`.
    Postgres,
    /// MySQL or MariaDB, from `GESTA_TEST_MYSQL_URL`.
    Mysql,
}

impl Server {
    /// Both servers.
    pub const ALL: [Server; 2] = [Server::Postgres, Server::Mysql];

    /// The environment variable that names the server.
    pub fn env_var(self) -> &'static str {
        match self {
            Server::Postgres => "GESTA_TEST_POSTGRES_URL",
            Server::Mysql => "GESTA_TEST_MYSQL_URL",
        }
    }

    /// `postgres` or `mysql`.
    pub fn name(self) -> &'static str {
        match self {
            Server::Postgres => "postgres",
            Server::Mysql => "mysql",
        }
    }

    /// The server's URL, if its variable is set.
    pub fn base_url(self) -> Option<String> {
        std::env::var(self.env_var())
            .ok()
            .filter(|url| !url.is_empty())
    }
}

/// A database (PostgreSQL: a schema) no other test uses; dropped when this is dropped.
#[derive(Debug)]
pub struct FreshDatabase {
    server: Server,
    base: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    /// The URL a store opens this database with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server it lives on.
    pub fn server(&self) -> Server {
        self.server
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (server, base, name) = (self.server, self.base.clone(), self.name.clone());
        // The PostgreSQL client blocks on a runtime of its own: use a plain thread.
        let _ = std::thread::spawn(move || match server {
            Server::Postgres => postgres::drop_schema(&base, &name),
            Server::Mysql => mysql::drop_database(&base, &name),
        })
        .join();
    }
}

/// A fresh database on `server`, or `None` when its variable is unset.
///
/// # Panics
/// Under `CI=true` when the variable is unset or the server cannot be reached, and
/// whenever a server that is named cannot be reached.
pub fn fresh(server: Server) -> Option<FreshDatabase> {
    let Some(base) = server.base_url() else {
        left_out(server);
        return None;
    };
    match fresh_at(server, &base) {
        Ok(db) => Some(db),
        Err(why) => panic!("{} at {base} is set but unusable: {why}", server.name()),
    }
}

/// A fresh database on the `server` at `base` (for tools such as the benchmark that
/// take their server URL from elsewhere than the test variables).
pub fn fresh_at(server: Server, base: &str) -> Result<FreshDatabase, String> {
    let owned = base.to_owned();
    // The PostgreSQL client blocks on a runtime of its own: use a plain thread.
    let (name, url) = std::thread::spawn(move || match server {
        Server::Postgres => postgres::create_schema(&owned),
        Server::Mysql => mysql::create_database(&owned),
    })
    .join()
    .unwrap_or_else(|_| Err("provisioning panicked".to_owned()))?;
    Ok(FreshDatabase {
        server,
        base: base.to_owned(),
        name,
        url,
    })
}

/// Whether tests run under CI (`CI=true`), where no backend may be left out.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn left_out(server: Server) {
    if in_ci() {
        panic!(
            "{} must be set under CI=true: CI runs every backend",
            server.env_var()
        );
    }
    static ONCE: [Once; 2] = [Once::new(), Once::new()];
    ONCE[server as usize].call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "backend {} left out: set {} to run it",
            server.name(),
            server.env_var()
        );
    });
}
