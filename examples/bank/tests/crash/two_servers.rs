//! Two `gesta-bank` processes over one database (DESIGN.md section 1, multi-process
//! writers). Each process has its own writer; every write transaction takes the
//! database's write lock first, so the processes take turns and positions stay
//! gap-free and in commit order.
//!
//! Both start on a fresh database (one after the other: starting at once is
//! `concurrent_start`'s subject). The accounts are opened through one; then clients
//! spread over both send commands, and afterwards both serve the same log and read
//! model. Under load again, one is frozen at a moment it holds the write lock and
//! killed with SIGKILL: the survivor must acknowledge its next command within
//! [`TAKEOVER_LIMIT`], keep serving the load, and hold every acknowledged event with
//! the ids and positions first returned. All the while a follower reads the log from
//! both, checking that positions follow commit order. Finally the killed one is
//! started again, serves the same log, and writes again.

use std::time::{Duration, Instant};

use gesta_testkit::Database;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::checks::{LastPosition, read_model, verify};
use crate::ledger::Shared;
use crate::load::{Load, retry_in_doubt, set_up};
use crate::server::Server;
use crate::tail::Tail;
use crate::wire::{Cmd, Event, Outcome, fetch_log, http_client, send};

const CLIENTS: usize = 32;
/// Load on both servers before the reads are compared.
const SHARED_LOAD: Duration = Duration::from_millis(1500);
/// Load on the survivor after the kill.
const SURVIVOR_LOAD: Duration = Duration::from_millis(1500);
/// How long the survivor may take to commit while the other is frozen without the lock.
const FROZEN_PROBE: Duration = Duration::from_secs(1);
/// How often the victim is frozen to catch it holding the write lock.
const FREEZE_ATTEMPTS: usize = 200;
/// How soon after the kill the survivor must acknowledge a command.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(5);

pub async fn run(db: Database, seed: u64) {
    let name = db.backend().name();
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let client = http_client();
    let ledger = Shared::default();
    let names = [format!("{name} a"), format!("{name} b")];
    let mut servers = names.clone().map(|n| Server::start(db.url(), &n));
    let bases = [servers[0].base.clone(), servers[1].base.clone()];
    set_up(&client, &bases[0], &ledger).await;

    let tail = Tail::start(&bases);
    let acked = Load::start(&bases, CLIENTS, &ledger, &mut rng, "both")
        .run_for(SHARED_LOAD)
        .await;
    println!("{name}: acknowledged by a and b while both ran: {acked:?}");
    assert!(
        acked.iter().all(|&n| n > 0),
        "both servers write: {acked:?}"
    );
    assert!(
        ledger.lock().in_doubt.is_empty(),
        "a command without an answer"
    );
    let log = verify(&client, &bases[0], &ledger, LastPosition::AtMost).await;
    assert_same_reads(&client, &bases, &log).await;

    let victim = rng.random_range(0..2);
    let survivor = &bases[1 - victim];
    let load = Load::start(&bases, CLIENTS, &ledger, &mut rng, "kill");
    let delay = Duration::from_millis(rng.random_range(200..=600));
    tokio::time::sleep(delay).await;
    let holding = freeze_holding_lock(&servers[victim], survivor, &ledger, &mut rng).await;
    let killed = Instant::now();
    servers[victim].kill();
    let takeover = first_ack(&client, survivor, &ledger)
        .await
        .duration_since(killed);
    let (dead, alive) = (&names[victim], &names[1 - victim]);
    println!("{name}: killed {dead} holding the write lock: {holding}");
    println!("{name}: {alive} acknowledged its next command {takeover:?} after the kill");
    assert!(holding, "{dead} was never caught holding the write lock");
    assert!(takeover <= TAKEOVER_LIMIT, "takeover took {takeover:?}");
    tokio::time::sleep(SURVIVOR_LOAD).await;
    let acked = load.stop().await;
    println!("{name}: acknowledged by a and b around the kill: {acked:?}");

    let followed = tail.stop().await;
    let log = verify(&client, survivor, &ledger, LastPosition::Exact).await;
    retry_in_doubt(&client, survivor, &ledger, &log).await;
    let log = verify(&client, survivor, &ledger, LastPosition::Exact).await;
    assert!(
        followed[..] == log[..followed.len()],
        "a follower saw another log"
    );
    println!("{name}: a follower saw {} events, in order", followed.len());

    servers[victim] = Server::start(db.url(), &names[victim]);
    let restarted = servers[victim].base.clone();
    let again = verify(&client, &restarted, &ledger, LastPosition::Exact).await;
    assert_eq!(again, log, "the restarted server serves another log");
    write_through(&client, &restarted, survivor, &ledger).await;
    let stats = &ledger.lock().stats;
    println!(
        "{name}: {} events; {stats:?}; {:?}",
        log.len() + 1,
        started.elapsed()
    );
}

/// Freezes `victim` (SIGSTOP) at a moment it holds the write lock, as far as can be
/// told: the survivor then cannot commit. Thaws it and tries again, up to
/// [`FREEZE_ATTEMPTS`] times; returns whether it was caught holding the lock (it stays
/// frozen either way).
async fn freeze_holding_lock(
    victim: &Server,
    survivor: &str,
    ledger: &Shared,
    rng: &mut StdRng,
) -> bool {
    let client = reqwest::Client::builder().timeout(FROZEN_PROBE);
    let client = client.build().expect("client");
    for attempt in 0..FREEZE_ATTEMPTS {
        victim.signal("STOP");
        let cmd = Cmd {
            key: format!("frozen-{attempt}"),
            name: "Deposit",
            body: json!({"account_id": "acct-00", "amount": 1}),
        };
        let outcome = send(&client, survivor, &cmd).await;
        let blocked = matches!(outcome, Outcome::InDoubt(_));
        ledger.lock().record(&cmd, outcome);
        if blocked {
            return true;
        }
        victim.signal("CONT");
        tokio::time::sleep(Duration::from_millis(rng.random_range(1..=20))).await;
    }
    victim.signal("STOP");
    false
}

/// Sends commands to `base` until one is acknowledged; returns when.
async fn first_ack(client: &reqwest::Client, base: &str, ledger: &Shared) -> Instant {
    let start = Instant::now();
    for attempt in 0.. {
        let cmd = Cmd {
            key: format!("takeover-{attempt}"),
            name: "Deposit",
            body: json!({"account_id": "acct-00", "amount": 1}),
        };
        let outcome = send(client, base, &cmd).await;
        if ledger.lock().record(&cmd, outcome) {
            break;
        }
        assert!(
            start.elapsed() < 6 * TAKEOVER_LIMIT,
            "the survivor never acknowledged a command"
        );
    }
    Instant::now()
}

/// Both servers serve the same log and the same balances.
async fn assert_same_reads(client: &reqwest::Client, bases: &[String; 2], log: &[Event]) {
    let other = fetch_log(client, &bases[1]).await;
    assert!(other == log, "a and b serve different logs");
    let ids: Vec<String> = crate::checks::Replay::of(log)
        .balances
        .into_keys()
        .collect();
    let a = read_model(client, &bases[0], &ids).await;
    let b = read_model(client, &bases[1], &ids).await;
    assert_eq!(a, b, "a and b serve different balances");
}

/// A command through `writer` appears at the end of the log `reader` serves.
async fn write_through(client: &reqwest::Client, writer: &str, reader: &str, ledger: &Shared) {
    let cmd = Cmd {
        key: "after-restart".to_owned(),
        name: "Deposit",
        body: json!({"account_id": "acct-01", "amount": 1}),
    };
    let outcome = send(client, writer, &cmd).await;
    assert!(
        ledger.lock().record(&cmd, outcome),
        "the restarted server cannot write"
    );
    let log = verify(client, reader, ledger, LastPosition::AtMost).await;
    let last = log.last().and_then(|e| e.correlationid.as_deref());
    assert_eq!(last, Some("after-restart"));
}
