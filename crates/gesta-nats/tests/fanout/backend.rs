//! The `on_every_backend!` macro that runs each test body on every backend, and the
//! store the tests open.
//!
//! The database comes from `gesta_testkit::Engine::fresh`: SQLite always runs (a file
//! in a temporary directory, so that a second process and a restarted store see the
//! same log); PostgreSQL and MySQL/MariaDB get a fresh schema or database when
//! `GESTA_TEST_POSTGRES_URL` / `GESTA_TEST_MYSQL_URL` are set; unset, the kit says the
//! backend is left out (under `CI=true` it fails instead).

use std::future::Future;

use gesta::{App, Store, StoreBuilder};
use gesta_testkit::{Database, Engine};

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
            $crate::backend::run(gesta_testkit::Engine::$kind, super::$test).await;
        }
    };
}

/// A builder for the tests' store on the database at `url`.
pub fn builder(url: &str) -> StoreBuilder {
    Store::builder(App::new("fanout")).url(url)
}

/// Runs `test` on a fresh database of `backend`, unless the backend is left out.
pub async fn run<F, Fut>(backend: Engine, test: F)
where
    F: FnOnce(Database) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(db) = backend.fresh() {
        test(db).await;
    }
}
