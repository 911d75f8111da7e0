//! The database a test's store lives in, and the `on_every_backend!` macro that runs
//! each test body on every backend.
//!
//! SQLite always runs (a file in a temporary directory, so that a second process and
//! a restarted store see the same log). PostgreSQL and MySQL/MariaDB get a fresh
//! schema or database from `gesta-testkit` when `GESTA_TEST_POSTGRES_URL` /
//! `GESTA_TEST_MYSQL_URL` are set; unset, the kit says the backend is left out (under
//! `CI=true` it fails instead).

use std::future::Future;

use gesta::{App, Store, StoreBuilder};
use gesta_testkit::{FreshDatabase, Server};
use tempfile::TempDir;

/// Instantiates each test body `$test` (an `async fn(Database)` in the calling module)
/// once per backend, as `$test::sqlite`, `$test::postgres` and `$test::mysql`.
macro_rules! on_every_backend {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            on_every_backend!(@on $test, sqlite, Sqlite);
            on_every_backend!(@on $test, postgres, Postgres);
            on_every_backend!(@on $test, mysql, Mysql);
        }
    )+};
    (@on $test:ident, $backend:ident, $kind:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $backend() {
            $crate::backend::run($crate::backend::Kind::$kind, super::$test).await;
        }
    };
}

/// The backends the tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

impl Kind {
    /// The backend's name, as in the test names.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }
}

/// A fresh, empty database no other test uses; removed when dropped.
pub struct Database {
    pub kind: Kind,
    /// The URL a store opens it with (also in a child process).
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
    fn provision(kind: Kind) -> Option<Database> {
        let server = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("fanout.db").display());
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

    /// A builder for the tests' store on this database.
    pub fn builder(&self) -> StoreBuilder {
        builder(&self.url)
    }
}

/// A builder for the tests' store on the database at `url`.
pub fn builder(url: &str) -> StoreBuilder {
    Store::builder(App::new("fanout")).url(url)
}

/// Runs `test` on a fresh database of `kind`, unless the backend is left out.
pub async fn run<F, Fut>(kind: Kind, test: F)
where
    F: FnOnce(Database) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(db) = Database::provision(kind) {
        test(db).await;
    }
}
