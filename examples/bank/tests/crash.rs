//! Crash test of the bank example (DESIGN.md section 1, durability).
//!
//! The real server binary runs on a SQLite file under concurrent load and is killed with
//! SIGKILL at a random moment, several times (and a few times during its very first
//! start). After each restart on the same file the log and the read model are checked
//! against every command the server acknowledged, and every command left in doubt by the
//! kill is retried with its idempotency key: it must either replay (it had committed) or
//! run now (it had not), never commit twice.
//!
//! A failure prints the seed; `CRASH_SEED=<seed>` repeats the same random choices (the
//! timing, and so what was acknowledged, cannot be repeated exactly).
//! `CRASH_ROUNDS=<n>` runs a longer soak.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const ACCOUNTS: usize = 20;
const INITIAL_DEPOSIT: i64 = 100_000;
/// Kill-and-restart rounds under load.
const ROUNDS: usize = 10;
/// Kills during the very first start (schema creation, migrations).
const STARTUP_KILLS: usize = 3;
const CLIENTS: usize = 32;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The server process. Dropping it kills (SIGKILL) and reaps it, also when a test panics.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `gesta-bank` on `db` and waits until it listens.
    fn start(db: &str) -> Server {
        let (mut server, address) = Server::spawn(db);
        let addr = address
            .recv_timeout(Duration::from_secs(30))
            .expect("the server prints `bank listening on http://ADDR`");
        server.base = format!("http://{addr}");
        server
    }

    /// Starts `gesta-bank` on `db`; the receiver yields the address once it listens.
    fn spawn(db: &str) -> (Server, Receiver<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gesta-bank"))
            .args(["--db", db, "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start gesta-bank");
        let stdout = child.stdout.take().expect("piped stdout");
        let (found, address) = std::sync::mpsc::channel();
        // Reads stdout to the end so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match line.strip_prefix("bank listening on http://") {
                    Some(rest) => {
                        let addr = rest.split_whitespace().next().unwrap_or_default();
                        let _ = found.send(addr.to_owned());
                    }
                    None => println!("[server] {line}"),
                }
            }
        });
        let base = String::new();
        (Server { child, base }, address)
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An event as the HTTP API returns it (the CloudEvents fields this test checks).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    subject: String,
    position: u64,
    streamversion: u64,
    commandid: Option<String>,
    correlationid: Option<String>,
    data: Value,
}

#[derive(Debug, Deserialize)]
struct CommandBody {
    command_id: String,
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct EventsPage {
    events: Vec<Event>,
    next_after: u64,
}

/// A command as sent: its key is both the `Idempotency-Key` and the `X-Correlation-Id`,
/// so its events can be found in the log even when its response was lost.
#[derive(Debug, Clone)]
struct Cmd {
    key: String,
    name: &'static str,
    body: Value,
}

/// What the client learnt about one command.
enum Outcome {
    /// 200: committed (or replayed, if `replayed`).
    Acked { replayed: bool, body: CommandBody },
    /// A definite refusal: nothing was committed.
    Refused(u16),
    /// No answer (connection dropped by the kill, refused, timed out), or a 5xx.
    InDoubt(String),
}

async fn send(client: &reqwest::Client, base: &str, cmd: &Cmd) -> Outcome {
    let sent = client
        .post(format!("{base}/commands/{}", cmd.name))
        .header("Idempotency-Key", &cmd.key)
        .header("X-Correlation-Id", &cmd.key)
        .json(&cmd.body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => return Outcome::InDoubt(e.to_string()),
    };
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    match status {
        200 => match response.json::<CommandBody>().await {
            Ok(body) => Outcome::Acked { replayed, body },
            Err(e) => Outcome::InDoubt(format!("200 with an unreadable body: {e}")),
        },
        500..=599 if status != 503 => Outcome::InDoubt(format!("server error {status}")),
        _ => Outcome::Refused(status),
    }
}

async fn get_json<T: DeserializeOwned>(client: &reqwest::Client, url: String) -> T {
    let response = client.get(&url).send().await;
    let response = response.and_then(reqwest::Response::error_for_status);
    let response = response.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response.json().await.expect("JSON body")
}

/// Everything the clients learnt, checked against the log after each restart.
#[derive(Default)]
struct Ledger {
    /// Acknowledged commands by key, with the events the server returned.
    acked: HashMap<String, Vec<Event>>,
    /// Keys of commands definitely refused (404, 422, 503) and never acknowledged.
    refused: HashSet<String>,
    /// Commands with no definite answer, retried after the restart.
    in_doubt: Vec<Cmd>,
    /// Accounts known to exist.
    accounts: Vec<String>,
    stats: Stats,
}

#[derive(Default, Debug)]
struct Stats {
    acked: usize,
    refused: usize,
    replayed_during_load: usize,
    in_doubt: usize,
    retried_replayed: usize,
    retried_executed: usize,
    retried_refused: usize,
}

impl Ledger {
    /// Records `outcome`; returns whether the command is acknowledged.
    fn record(&mut self, cmd: &Cmd, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Acked { replayed, body } => {
                self.ack(cmd, replayed, body.events);
                return true;
            }
            Outcome::Refused(status) => {
                // 404: unknown account, 422: insufficient funds, 503: overloaded.
                assert!([404, 422, 503].contains(&status), "{cmd:?} got {status}");
                let acked = self.acked.contains_key(&cmd.key);
                assert!(status == 503 || !acked, "acked {cmd:?}, retry got {status}");
                self.refused.insert(cmd.key.clone());
                self.stats.refused += 1;
            }
            Outcome::InDoubt(reason) => {
                assert!(!reason.starts_with("server error"), "{cmd:?}: {reason}");
                self.in_doubt.push(cmd.clone());
                self.stats.in_doubt += 1;
            }
        }
        false
    }

    /// An acknowledgement: a first execution, or a replay of an earlier one.
    fn ack(&mut self, cmd: &Cmd, replayed: bool, events: Vec<Event>) {
        assert!(!events.is_empty(), "{cmd:?} wrote no event");
        match self.acked.get(&cmd.key) {
            Some(first) if replayed => {
                assert_eq!(first, &events, "replay of {} differs", cmd.key);
                self.stats.replayed_during_load += 1;
            }
            Some(first) => panic!("{cmd:?} committed twice: {first:?}, then {events:?}"),
            None => {
                assert!(!replayed, "{} replayed but never acknowledged", cmd.key);
                let id = cmd.body["account_id"].as_str().unwrap_or_default();
                if cmd.name == "OpenAccount" && !self.accounts.iter().any(|a| a == id) {
                    self.accounts.push(id.to_owned());
                }
                self.acked.insert(cmd.key.clone(), events);
                self.stats.acked += 1;
            }
        }
    }
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Ledger>>);

impl Shared {
    /// The ledger; a panic elsewhere does not hide the first failure behind poisoning.
    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// One client: random commands until `stop`; now and then resends an acknowledged one.
async fn client_task(
    base: String,
    ledger: Shared,
    stop: Arc<AtomicBool>,
    mut rng: StdRng,
    prefix: String,
) {
    let client = http_client();
    let mut mine: Vec<Cmd> = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let cmd = if !mine.is_empty() && rng.random_bool(0.03) {
            mine[rng.random_range(0..mine.len())].clone()
        } else {
            let accounts = ledger.lock().accounts.clone();
            random_command(&mut rng, &accounts, format!("{prefix}-{n}"))
        };
        let outcome = send(&client, &base, &cmd).await;
        if ledger.lock().record(&cmd, outcome) {
            mine.push(cmd);
        }
    }
}

fn http_client() -> reqwest::Client {
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
    client.build().expect("reqwest client")
}

/// The whole log, read page by page over HTTP.
async fn fetch_log(client: &reqwest::Client, base: &str) -> Vec<Event> {
    let mut log = Vec::new();
    loop {
        let after = log.last().map_or(0, |e: &Event| e.position);
        let url = format!("{base}/events?after={after}&limit=1000");
        let page: EventsPage = get_json(client, url).await;
        if page.events.is_empty() {
            return log;
        }
        assert_eq!(
            Some(page.next_after),
            page.events.last().map(|e| e.position)
        );
        log.extend(page.events);
    }
}

/// Positions 1..=N, unique ids, stream versions 1..=n per stream.
fn check_numbering(log: &[Event]) {
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

/// Every acknowledged event is in the log, unchanged.
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
struct Replay {
    balances: BTreeMap<String, i64>,
    deposited: i64,
    withdrawn: i64,
}

impl Replay {
    /// Balances replayed from the log; no account is used before it is opened, none
    /// opened twice, and no balance ever goes negative.
    fn of(log: &[Event]) -> Replay {
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
async fn read_model(client: &reqwest::Client, base: &str, ids: &[String]) -> BTreeMap<String, i64> {
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

/// Checks the restarted server against the ledger; returns the log.
async fn verify(client: &reqwest::Client, base: &str, ledger: &Shared) -> Vec<Event> {
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
    assert_eq!(health["last_position"], json!(log.len()), "{health}");
    assert_eq!(health["durable"], json!(true), "{health}");
    ledger.lock().accounts = ids;
    log
}

/// Retries every in-doubt command with its key: it replays exactly what the log holds
/// for that key, or, if the log holds nothing, runs now or is refused now.
async fn retry_in_doubt(client: &reqwest::Client, base: &str, ledger: &Shared, log: &[Event]) {
    let in_doubt = std::mem::take(&mut ledger.lock().in_doubt);
    for cmd in in_doubt {
        let key = Some(cmd.key.as_str());
        let before: Vec<Event> = log
            .iter()
            .filter(|e| e.correlationid.as_deref() == key)
            .cloned()
            .collect();
        let outcome = send(client, base, &cmd).await;
        check_retry(&mut ledger.lock(), &cmd, before, outcome);
    }
}

fn check_retry(ledger: &mut Ledger, cmd: &Cmd, before: Vec<Event>, outcome: Outcome) {
    match outcome {
        Outcome::Acked { replayed, body } => {
            let id = Some(&body.command_id);
            assert!(body.events.iter().all(|e| e.commandid.as_ref() == id));
            if replayed {
                assert_eq!(
                    body.events, before,
                    "replay of {cmd:?} differs from the log"
                );
                ledger.stats.retried_replayed += 1;
            } else {
                assert!(before.is_empty(), "{cmd:?} committed twice: {before:?}");
                ledger.stats.retried_executed += 1;
            }
            if !ledger.acked.contains_key(&cmd.key) {
                ledger.ack(cmd, false, body.events);
            }
        }
        Outcome::Refused(status) => {
            assert!(
                before.is_empty(),
                "{cmd:?} had committed, retry got {status}"
            );
            ledger.refused.insert(cmd.key.clone());
            ledger.stats.retried_refused += 1;
        }
        Outcome::InDoubt(reason) => panic!("retry of {cmd:?} failed: {reason}"),
    }
}

/// Opens the accounts and deposits the initial money; all must succeed.
async fn set_up(client: &reqwest::Client, base: &str, ledger: &Shared) {
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

/// Runs `CLIENTS` clients against `server` and kills it at a random moment.
async fn load_and_kill(server: &mut Server, ledger: &Shared, rng: &mut StdRng, round: usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let task_rng = StdRng::seed_from_u64(rng.random());
            let (base, ledger, stop) = (server.base.clone(), ledger.clone(), stop.clone());
            tokio::spawn(client_task(
                base,
                ledger,
                stop,
                task_rng,
                format!("r{round}-t{t}"),
            ))
        })
        .collect();
    let delay = Duration::from_millis(rng.random_range(50..=400));
    tokio::time::sleep(delay).await;
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("client task panicked");
    }
    println!("round {round}: killed after {delay:?}");
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commands_survive_sigkill_and_retries_never_commit_twice() {
    let seed = env_number("CRASH_SEED").unwrap_or_else(|| rand::rng().random());
    println!("crash test seed {seed} (CRASH_SEED={seed} to reproduce)");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("bank.db").display());
    let client = http_client();
    let ledger = Shared::default();

    for _ in 0..STARTUP_KILLS {
        let (mut starting, _) = Server::spawn(&db);
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..=40))).await;
        starting.kill();
    }
    let mut server = Server::start(&db);
    set_up(&client, &server.base, &ledger).await;
    for round in 0..env_number("CRASH_ROUNDS").map_or(ROUNDS, |n| n as usize) {
        load_and_kill(&mut server, &ledger, &mut rng, round).await;
        server = Server::start(&db);
        let log = verify(&client, &server.base, &ledger).await;
        retry_in_doubt(&client, &server.base, &ledger, &log).await;
        println!("round {round}: {} events in the log", log.len());
    }
    let log = verify(&client, &server.base, &ledger).await;
    drop(server);

    let stats = &ledger.lock().stats;
    println!("{} events; {stats:?}; {:?}", log.len(), started.elapsed());
    assert!(stats.in_doubt > 0, "no kill hit a command in flight");
    let retried = stats.retried_replayed + stats.retried_executed + stats.retried_refused;
    assert_eq!(
        retried, stats.in_doubt,
        "every in-doubt command was retried"
    );
}
