//! Servers starting at once on a fresh database, as replicas of a deployment do: Gesta's
//! schema and the application's migrations are made once, every server comes up, each
//! one writes, and all serve the same log. Repeated on a few fresh databases, with
//! random start offsets of a few milliseconds.

use std::time::Duration;

use gesta_testkit::Database;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::checks::check_numbering;
use crate::ledger::Shared;
use crate::server::Server;
use crate::wire::{Cmd, fetch_log, http_client, send};

const SERVERS: usize = 3;
const ATTEMPTS: usize = 3;

pub async fn run(db: Database, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let backend = db.backend();
    start_at_once(&db, 0, &mut rng).await;
    drop(db);
    for attempt in 1..ATTEMPTS {
        let db = backend.fresh().expect("provisioned before");
        start_at_once(&db, attempt, &mut rng).await;
    }
}

async fn start_at_once(db: &Database, attempt: usize, rng: &mut StdRng) {
    let name = db.backend().name();
    let mut starting = Vec::new();
    for i in 0..SERVERS {
        starting.push(Server::spawn(db.url(), &format!("{name} {attempt}.{i}")));
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..=5))).await;
    }
    let servers: Vec<Server> = starting.into_iter().map(|s| s.listening()).collect();
    let (client, ledger) = (http_client(), Shared::default());
    for (i, server) in servers.iter().enumerate() {
        let cmd = Cmd {
            key: format!("open-{i}"),
            name: "OpenAccount",
            body: json!({"account_id": format!("acct-{i}"), "owner": "o"}),
        };
        let outcome = send(&client, &server.base, &cmd).await;
        assert!(
            ledger.lock().record(&cmd, outcome),
            "{name} {attempt}.{i} cannot write"
        );
    }
    let first = fetch_log(&client, &servers[0].base).await;
    assert_eq!(first.len(), SERVERS);
    check_numbering(&first);
    for server in &servers[1..] {
        assert!(
            fetch_log(&client, &server.base).await == first,
            "servers disagree"
        );
    }
}
