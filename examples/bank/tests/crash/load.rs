//! The load: client tasks sending random bank commands with unique idempotency keys,
//! the accounts they start from, and retries of commands left in doubt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::ledger::Shared;
use crate::wire::{Cmd, Event, http_client, send};

const ACCOUNTS: usize = 20;
const INITIAL_DEPOSIT: i64 = 100_000;

/// Opens the accounts and deposits the initial money through `base`; all must succeed.
pub async fn set_up(client: &reqwest::Client, base: &str, ledger: &Shared) {
    for i in 0..ACCOUNTS {
        let id = format!("acct-{i:02}");
        let open = Cmd {
            key: format!("setup-open-{i}"),
            name: "OpenAccount",
            body: json!({"account_id": id, "owner": "crash"}),
        };
        let deposit = Cmd {
            key: format!("setup-deposit-{i}"),
            name: "Deposit",
            body: json!({"account_id": id, "amount": INITIAL_DEPOSIT}),
        };
        for cmd in [open, deposit] {
            let outcome = send(client, base, &cmd).await;
            assert!(ledger.lock().record(&cmd, outcome), "{cmd:?} failed");
        }
    }
}

/// Client tasks running until [`Load::stop`].
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<Vec<usize>>>,
}

impl Load {
    /// Starts `clients` clients, spread over `bases` (client `t` starts on base
    /// `t % n` and moves to the next one whenever a command is left in doubt). Keys are
    /// `{label}-t{t}-{n}`.
    pub fn start(
        bases: &[String],
        clients: usize,
        ledger: &Shared,
        rng: &mut StdRng,
        label: &str,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..clients)
            .map(|t| {
                let client = Client {
                    bases: bases.to_vec(),
                    current: t % bases.len(),
                    ledger: ledger.clone(),
                    stop: stop.clone(),
                    rng: StdRng::seed_from_u64(rng.random()),
                    prefix: format!("{label}-t{t}"),
                };
                tokio::spawn(client.run())
            })
            .collect();
        Load { stop, tasks }
    }

    /// Tells the clients to stop and waits for each one's last command; returns how
    /// many commands each base acknowledged.
    pub async fn stop(self) -> Vec<usize> {
        self.stop.store(true, Ordering::SeqCst);
        let mut acked = Vec::new();
        for task in self.tasks {
            let counts = task.await.expect("client task panicked");
            acked.resize(counts.len(), 0);
            acked.iter_mut().zip(counts).for_each(|(sum, n)| *sum += n);
        }
        acked
    }

    /// Lets the clients run for `duration`, then stops them.
    pub async fn run_for(self, duration: std::time::Duration) -> Vec<usize> {
        tokio::time::sleep(duration).await;
        self.stop().await
    }
}

/// One client: random commands until `stop`; now and then resends an acknowledged one.
struct Client {
    bases: Vec<String>,
    current: usize,
    ledger: Shared,
    stop: Arc<AtomicBool>,
    rng: StdRng,
    prefix: String,
}

impl Client {
    /// Runs until `stop`; returns how many commands each base acknowledged.
    async fn run(mut self) -> Vec<usize> {
        let client = http_client();
        let mut acked = vec![0; self.bases.len()];
        let mut mine: Vec<Cmd> = Vec::new();
        let mut n = 0;
        while !self.stop.load(Ordering::SeqCst) {
            n += 1;
            let cmd = if !mine.is_empty() && self.rng.random_bool(0.03) {
                mine[self.rng.random_range(0..mine.len())].clone()
            } else {
                let accounts = self.ledger.lock().accounts.clone();
                let key = format!("{}-{n}", self.prefix);
                random_command(&mut self.rng, &accounts, key)
            };
            let outcome = send(&client, &self.bases[self.current], &cmd).await;
            let in_doubt = matches!(outcome, crate::wire::Outcome::InDoubt(_));
            if self.ledger.lock().record(&cmd, outcome) {
                acked[self.current] += 1;
                mine.push(cmd);
            } else if in_doubt {
                self.current = (self.current + 1) % self.bases.len();
            }
        }
        acked
    }
}

/// A random bank command keyed `key`, over the accounts known so far.
fn random_command(rng: &mut StdRng, accounts: &[String], key: String) -> Cmd {
    let n = accounts.len();
    let first = rng.random_range(0..n);
    let from = accounts[first].clone();
    let to = accounts[(first + rng.random_range(1..n)) % n].clone();
    let amount = rng.random_range(1..=30_000);
    let (name, body) = match rng.random_range(0..100) {
        0..5 => (
            "OpenAccount",
            json!({"account_id": format!("acct-{key}"), "owner": "o"}),
        ),
        5..7 => ("Deposit", json!({"account_id": "ghost", "amount": amount})),
        7..35 => ("Deposit", json!({"account_id": from, "amount": amount})),
        35..50 => ("Withdraw", json!({"account_id": from, "amount": amount})),
        _ => (
            "Transfer",
            json!({"from": from, "to": to, "amount": amount}),
        ),
    };
    Cmd { key, name, body }
}

/// Retries every in-doubt command with its key, one by one, with no other load: it
/// replays exactly what `log` holds for that key, or, if the log holds nothing, runs
/// now or is refused now.
pub async fn retry_in_doubt(client: &reqwest::Client, base: &str, ledger: &Shared, log: &[Event]) {
    let in_doubt = std::mem::take(&mut ledger.lock().in_doubt);
    for cmd in in_doubt {
        let key = Some(cmd.key.as_str());
        let before: Vec<Event> = log
            .iter()
            .filter(|e| e.correlationid.as_deref() == key)
            .cloned()
            .collect();
        let outcome = send(client, base, &cmd).await;
        ledger.lock().record_retry(&cmd, before, outcome);
    }
}
