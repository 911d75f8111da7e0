//! One server under load, killed with SIGKILL at a random moment, several times (and a
//! few times during its very first start). After each restart on the same database the
//! log and the read model are checked against every command the server acknowledged,
//! and every command left in doubt by the kill is retried with its idempotency key: it
//! must either replay (it had committed) or run now (it had not), never commit twice.
//! On a server backend the Gesta process is killed, not the database.

use std::time::{Duration, Instant};

use gesta_testkit::Database;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::checks::{LastPosition, verify};
use crate::ledger::Shared;
use crate::load::{Load, retry_in_doubt, set_up};
use crate::server::Server;
use crate::wire::http_client;

/// Kill-and-restart rounds under load (`CRASH_ROUNDS` for a longer soak).
const ROUNDS: usize = 10;
/// Kills during the very first start (schema creation, migrations).
const STARTUP_KILLS: usize = 3;
const CLIENTS: usize = 32;

pub async fn run(db: Database, seed: u64) {
    let name = db.backend().name();
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let client = http_client();
    let ledger = Shared::default();

    for _ in 0..STARTUP_KILLS {
        let starting = Server::spawn(db.url(), name);
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..=40))).await;
        drop(starting.into_server());
    }
    let mut server = Server::start(db.url(), name);
    set_up(&client, &server.base, &ledger).await;
    let rounds = crate::env_number("CRASH_ROUNDS").map_or(ROUNDS, |n| n as usize);
    for round in 0..rounds {
        load_and_kill(&mut server, &ledger, &mut rng, round).await;
        server = Server::start(db.url(), name);
        let log = verify(&client, &server.base, &ledger, LastPosition::Exact).await;
        retry_in_doubt(&client, &server.base, &ledger, &log).await;
        println!("{name} round {round}: {} events in the log", log.len());
    }
    let log = verify(&client, &server.base, &ledger, LastPosition::Exact).await;
    drop(server);

    let stats = &ledger.lock().stats;
    println!(
        "{name}: {} events; {stats:?}; {:?}",
        log.len(),
        started.elapsed()
    );
    assert!(stats.in_doubt > 0, "no kill hit a command in flight");
    let retried = stats.retried_replayed + stats.retried_executed + stats.retried_refused;
    assert_eq!(
        retried, stats.in_doubt,
        "every in-doubt command was retried"
    );
}

/// Runs `CLIENTS` clients against `server` and kills it at a random moment.
async fn load_and_kill(server: &mut Server, ledger: &Shared, rng: &mut StdRng, round: usize) {
    let bases = [server.base.clone()];
    let load = Load::start(&bases, CLIENTS, ledger, rng, &format!("r{round}"));
    let delay = Duration::from_millis(rng.random_range(50..=400));
    tokio::time::sleep(delay).await;
    server.kill();
    load.stop().await;
    println!("round {round}: killed after {delay:?}");
}
