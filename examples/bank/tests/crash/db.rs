//! The database a scenario runs on: a SQLite file in a temporary directory, or a fresh
//! PostgreSQL schema or MySQL/MariaDB database from `gesta_testkit` on the server that
//! `GESTA_TEST_POSTGRES_URL` / `GESTA_TEST_MYSQL_URL` names. A server whose variable is
//! unset is left out (the kit says so); under `CI=true` that is a failure, as is a
//! server that is named but cannot be reached.

use gesta_testkit::{FreshDatabase, Server};
use tempfile::TempDir;

/// The backends a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }
}

/// A fresh, empty database no other test uses; removed when dropped (after the
/// servers on it: they are dropped first, being made later).
pub struct Database {
    pub kind: Kind,
    /// The URL a server opens it with (`--db`).
    pub url: String,
    _made: Made,
}

/// What to remove: held only to be dropped.
enum Made {
    Dir { _dir: TempDir },
    Server { _db: FreshDatabase },
}

impl Database {
    /// A fresh database of `kind`, or `None` when the backend is left out.
    pub fn provision(kind: Kind) -> Option<Database> {
        let server = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("bank.db").display());
                let _made = Made::Dir { _dir: dir };
                return Some(Database { kind, url, _made });
            }
            Kind::Postgres => Server::Postgres,
            Kind::Mysql => Server::Mysql,
        };
        let fresh = gesta_testkit::fresh(server)?;
        let url = fresh.url().to_owned();
        let _made = Made::Server { _db: fresh };
        Some(Database { kind, url, _made })
    }
}
