//! The backends under test and the `conformance!` macro that runs each test body
//! against every one of them.
//!
//! Adding a backend is one line in `conformance!` plus a [`Kind`] variant that says
//! how to provision it. Server backends get a fresh schema or database per test from
//! `gesta-testkit` (`GESTA_TEST_POSTGRES_URL`, `GESTA_TEST_MYSQL_URL`); when a variable
//! is unset the backend is left out and the suite says so on stderr, except under
//! `CI=true`, where that fails the test.

use std::future::Future;
use std::io::Write;
use std::sync::Once;

use gesta::{Store, StoreBuilder, StoreOptions};
use gesta_testkit::{Database, Server};

/// Instantiates each test body `$test` (an `async fn(TestDb)` in the calling module)
/// once per backend, as `$test::sqlite_memory`, `$test::sqlite_file`, ...
macro_rules! conformance {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            conformance!(@on $test, sqlite_memory, SqliteMemory);
            conformance!(@on $test, sqlite_file, SqliteFile);
            conformance!(@on $test, postgres, Postgres);
            conformance!(@on $test, mysql, Mysql);
        }
    )+};
    (@on $test:ident, $backend:ident, $kind:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $backend() {
            $crate::harness::run($crate::harness::Kind::$kind, super::$test).await;
        }
    };
}

/// A backend the suite knows how to provision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `sqlite::memory:`: a fresh database per store.
    SqliteMemory,
    /// A SQLite file in a fresh temporary directory (from `gesta-testkit`).
    SqliteFile,
    /// PostgreSQL from `GESTA_TEST_POSTGRES_URL`.
    Postgres,
    /// MySQL/MariaDB from `GESTA_TEST_MYSQL_URL`.
    Mysql,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::SqliteMemory => "sqlite_memory",
            Kind::SqliteFile => "sqlite_file",
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }
}

/// One provisioned backend: a database URL no other test uses.
#[derive(Debug)]
pub struct TestDb {
    kind: Kind,
    url: String,
    /// The SQLite file or server database behind `url`; `None` for `sqlite::memory:`.
    _db: Option<Database>,
}

impl TestDb {
    /// A fresh database of `kind`, or why it is left out.
    fn provision(kind: Kind) -> Result<TestDb, String> {
        let backend = match kind {
            Kind::SqliteMemory => {
                let url = "sqlite::memory:".to_owned();
                return Ok(TestDb {
                    kind,
                    url,
                    _db: None,
                });
            }
            Kind::SqliteFile => gesta_testkit::Engine::Sqlite,
            Kind::Postgres => gesta_testkit::Engine::Postgres,
            Kind::Mysql => gesta_testkit::Engine::Mysql,
        };
        let db = backend.fresh().ok_or_else(|| {
            let var = backend.server().map_or("its variable", Server::env_var);
            format!("set {var} to run it")
        })?;
        let url = db.url().to_owned();
        Ok(TestDb {
            kind,
            url,
            _db: Some(db),
        })
    }

    /// The backend's name, as in the test names.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// Whether a store opened again on [`TestDb::url`] sees what an earlier one wrote.
    pub fn survives_reopen(&self) -> bool {
        self.kind != Kind::SqliteMemory
    }

    /// A builder for another application on this backend's database.
    pub fn builder_for(&self, app: gesta::App) -> StoreBuilder {
        Store::builder(app).url(&self.url)
    }

    /// A builder for the suite's app on this backend.
    pub fn builder(&self) -> StoreBuilder {
        Store::builder(crate::app::app()).url(&self.url)
    }

    /// Opens the suite's app with default options.
    pub async fn open(&self) -> Store {
        self.open_with(StoreOptions::default()).await
    }

    /// Opens the suite's app with `options`.
    pub async fn open_with(&self, options: StoreOptions) -> Store {
        self.builder()
            .options(options)
            .open()
            .await
            .unwrap_or_else(|e| panic!("cannot open {} ({}): {e}", self.name(), self.url))
    }

    /// Says on stderr that this test does not apply to this backend.
    pub fn not_applicable(&self, test: &str, why: &str) {
        say(&format!(
            "conformance: {test} left out on {}: {why}",
            self.name()
        ));
    }
}

/// Runs `test` on a fresh backend of `kind`, or reports that the backend is left out.
pub async fn run<F, Fut>(kind: Kind, test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    match TestDb::provision(kind) {
        Ok(backend) => test(backend).await,
        Err(why) => left_out(kind, &why),
    }
}

/// Reports a backend that could not be provisioned.
fn left_out(kind: Kind, why: &str) {
    static ONCE: [Once; 4] = [const { Once::new() }; 4];
    ONCE[kind as usize].call_once(|| {
        say(&format!(
            "conformance: backend {} left out: {why}",
            kind.name()
        ));
    });
}

/// Writes to the real stderr: `eprintln!` output of passing tests is captured.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
