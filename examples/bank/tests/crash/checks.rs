//! Checks of a server's log and read model against each other and against the ledger.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use crate::ledger::{Ledger, Shared};
use crate::wire::{Event, fetch_log, get_json};

/// What `/healthz` must say about the last position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastPosition {
    /// The server committed the last batch or opened after it: it knows the end.
    Exact,
    /// Another process may have committed since this one last did.
    AtMost,
}

/// Checks a server against the ledger: numbering, acknowledged events, whole
/// commands, the read model against a replay of the log, money; returns the log.
pub async fn verify(
    client: &reqwest::Client,
    base: &str,
    ledger: &Shared,
    last: LastPosition,
) -> Vec<Event> {
    let log = fetch_log(client, base).await;
    check_numbering(&log);
    let replayed = {
        let ledger = ledger.lock();
        check_commands(&log, &ledger);
        check_acknowledged(&log, &ledger);
        Replay::of(&log)
    };
    let ids: Vec<String> = replayed.balances.keys().cloned().collect();
    let model = read_model(client, base, &ids).await;
    assert_eq!(model, replayed.balances, "read model differs from the log");
    let total: i64 = model.values().sum();
    let net = replayed.deposited - replayed.withdrawn;
    assert_eq!(total, net, "money not conserved");
    let health: Value = get_json(client, format!("{base}/healthz")).await;
    let known = health["last_position"].as_u64().expect("last_position");
    match last {
        LastPosition::Exact => assert_eq!(known, log.len() as u64, "{health}"),
        LastPosition::AtMost => assert!(known <= log.len() as u64, "{health}"),
    }
    assert_eq!(health["durable"], json!(true), "{health}");
    ledger.lock().accounts = ids;
    log
}

/// Positions 1..=N, unique ids, stream versions 1..=n per stream.
pub fn check_numbering(log: &[Event]) {
    let mut versions: HashMap<&str, u64> = HashMap::new();
    let mut ids = HashSet::new();
    for (i, event) in log.iter().enumerate() {
        assert_eq!(event.position, i as u64 + 1, "position gap: {event:?}");
        assert!(ids.insert(&event.id), "event id twice: {event:?}");
        let version = versions.entry(&event.subject).or_insert(0);
        *version += 1;
        assert_eq!(event.streamversion, *version, "version gap: {event:?}");
    }
}

/// Each command's events are contiguous and whole (a transfer is Sent then Received),
/// each key belongs to one command, and refused keys wrote nothing.
fn check_commands(log: &[Event], ledger: &Ledger) {
    let mut by_command: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    let mut command_of_key: HashMap<&str, &str> = HashMap::new();
    for event in log {
        let command = event.commandid.as_deref().expect("commandid");
        by_command.entry(command).or_default().push(event);
        let key = event.correlationid.as_deref().expect("correlationid");
        let first = command_of_key.entry(key).or_insert(command);
        assert_eq!(*first, command, "key {key} committed by two commands");
        assert!(!ledger.refused.contains(key), "refused {key} is in the log");
    }
    for (command, events) in by_command {
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let whole = match types.as_slice() {
            ["TransferSent", "TransferReceived"] => {
                events[1].position == events[0].position + 1 && events[0].data == events[1].data
            }
            [_] => true,
            _ => false,
        };
        assert!(whole, "command {command} is not whole: {events:?}");
    }
}

/// Every acknowledged event is in the log, unchanged (same id, position, version).
fn check_acknowledged(log: &[Event], ledger: &Ledger) {
    for (key, events) in &ledger.acked {
        for event in events {
            let logged = log.get(event.position as usize - 1);
            assert_eq!(logged, Some(event), "acknowledged event of {key} lost");
        }
    }
}

/// Money moved by the log.
#[derive(Default)]
pub struct Replay {
    pub balances: BTreeMap<String, i64>,
    deposited: i64,
    withdrawn: i64,
}

impl Replay {
    /// Balances replayed from the log; no account is used before it is opened, none
    /// opened twice, and no balance ever goes negative.
    pub fn of(log: &[Event]) -> Replay {
        let mut r = Replay::default();
        for e in log {
            let amount = || e.data["amount"].as_i64().expect("amount");
            match e.event_type.as_str() {
                "AccountOpened" => {
                    let id = e.data["account_id"].as_str().unwrap().to_owned();
                    assert!(r.balances.insert(id, 0).is_none(), "opened twice: {e:?}");
                }
                "Deposited" => {
                    r.deposited += amount();
                    r.add(e, "account_id", amount());
                }
                "Withdrawn" => {
                    r.withdrawn += amount();
                    r.add(e, "account_id", -amount());
                }
                "TransferSent" => r.add(e, "from", -amount()),
                "TransferReceived" => r.add(e, "to", amount()),
                other => panic!("unexpected event type {other}"),
            }
        }
        r
    }

    fn add(&mut self, e: &Event, field: &str, delta: i64) {
        let id = e.data[field].as_str().expect("account id");
        let balance = self.balances.get_mut(id);
        let balance = balance.unwrap_or_else(|| panic!("event on an unopened account: {e:?}"));
        *balance += delta;
        assert!(*balance >= 0, "negative balance after {e:?}");
    }
}

/// Balances in the read model, from `GET /accounts/{id}` (eight clients in parallel).
pub async fn read_model(
    client: &reqwest::Client,
    base: &str,
    ids: &[String],
) -> BTreeMap<String, i64> {
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in ids.chunks(ids.len().div_ceil(8).max(1)) {
        let (client, base, chunk) = (client.clone(), base.to_owned(), chunk.to_vec());
        tasks.spawn(async move {
            let mut found = Vec::new();
            for id in chunk {
                let account: Value = get_json(&client, format!("{base}/accounts/{id}")).await;
                found.push((id, account["balance"].as_i64().expect("balance")));
            }
            found
        });
    }
    tasks.join_all().await.into_iter().flatten().collect()
}
