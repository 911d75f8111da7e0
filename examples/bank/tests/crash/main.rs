//! Crash tests of the bank example server over HTTP (DESIGN.md section 1: durability
//! and multi-process writers), each scenario on every backend:
//!
//! - [`sigkill`]: one server killed with SIGKILL under load, again and again;
//! - [`two_servers`]: two servers over one database, one of them killed under load;
//! - [`concurrent_start`]: several servers starting at once on a fresh database.
//!
//! SQLite always runs (a temporary file); PostgreSQL and MySQL/MariaDB run on a fresh
//! schema or database when `GESTA_TEST_POSTGRES_URL` / `GESTA_TEST_MYSQL_URL` are set
//! (a [`Database`] from `gesta_testkit::Engine::fresh`). A server whose variable is
//! unset is left out (the kit says so); under `CI=true` that is a failure, as is a
//! server that is named but cannot be reached.
//!
//! Each test prints its seed; `CRASH_SEED=<seed>` repeats the same random choices (the
//! timing, and so what was acknowledged, cannot be repeated exactly).
//! `CRASH_ROUNDS=<n>` runs a longer soak of [`sigkill`].

mod checks;
mod concurrent_start;
mod ledger;
mod load;
mod server;
mod sigkill;
mod tail;
mod two_servers;
mod wire;

use std::future::Future;

use gesta_testkit::{Database, Engine};
use rand::Rng;

/// Instantiates each scenario (`$scenario::run(Database, seed)`) once per backend, as
/// `$test::sqlite`, `$test::postgres`, `$test::mysql`.
macro_rules! on_every_backend {
    ($($test:ident => $scenario:ident),+ $(,)?) => {$(
        mod $test {
            on_every_backend!(@on $scenario, sqlite, Sqlite);
            on_every_backend!(@on $scenario, postgres, Postgres);
            on_every_backend!(@on $scenario, mysql, Mysql);
        }
    )+};
    (@on $scenario:ident, $backend:ident, $kind:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $backend() {
            let backend = gesta_testkit::Engine::$kind;
            $crate::run(stringify!($scenario), backend, $crate::$scenario::run).await;
        }
    };
}

on_every_backend!(
    acknowledged_commands_survive_sigkill_and_retries_never_commit_twice => sigkill,
    two_servers_over_one_database_take_turns_and_survive_sigkill_of_one => two_servers,
    servers_starting_at_once_on_a_fresh_database_all_come_up => concurrent_start,
);

/// Runs `scenario` on a fresh database of `backend`, unless the backend is left out.
async fn run<F, Fut>(name: &str, backend: Engine, scenario: F)
where
    F: FnOnce(Database, u64) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = backend.fresh() else {
        return;
    };
    let seed = env_number("CRASH_SEED").unwrap_or_else(|| rand::rng().random());
    println!(
        "{name} on {}: seed {seed} (CRASH_SEED={seed} to reproduce)",
        backend.name()
    );
    scenario(database, seed).await;
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}
