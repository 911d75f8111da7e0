//! The welcome-email reactor of the real `gesta-bank` server, on every backend:
//!
//! - killed with SIGKILL in the middle of a burst of account openings and restarted,
//!   it catches up and every opened account has its line in the outbox (a line may
//!   repeat, with the same event id: at least once);
//! - after clean runs (SIGTERM, restart, SIGTERM) no account has two lines;
//! - two servers over one database: only one runs the reactor; when it is killed, the
//!   other takes over.
//!
//! SQLite always runs (a temporary file); PostgreSQL and MySQL/MariaDB run on a fresh
//! schema or database when `GESTA_TEST_POSTGRES_URL` / `GESTA_TEST_MYSQL_URL` are set.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gesta_testkit::{Database, Engine};
use serde_json::{Value, json};
use tempfile::TempDir;

/// How long a server may take to listen, and the outbox to catch up.
const PATIENCE: Duration = Duration::from_secs(60);

macro_rules! on_every_backend {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            use gesta_testkit::Engine;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$test(Engine::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$test(Engine::Postgres).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() { super::$test(Engine::Mysql).await }
        }
    )+};
}

on_every_backend!(
    killed_mid_burst_then_restarted_every_account_gets_its_line,
    clean_runs_write_each_line_once,
    two_servers_run_the_reactor_once_and_the_survivor_takes_over,
);

/// A database and an outbox no other test uses.
struct Setup {
    db: Database,
    outbox: PathBuf,
    _dir: TempDir,
}

impl Setup {
    /// `None` when the backend is left out.
    fn new(backend: Engine) -> Option<Setup> {
        let db = backend.fresh()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let outbox = dir.path().join("outbox.txt");
        Some(Setup {
            db,
            outbox,
            _dir: dir,
        })
    }

    fn start(&self) -> Server {
        Server::start(self.db.url(), &self.outbox)
    }

    /// A server with an outbox of its own, `outbox-NAME.txt`.
    fn start_with_outbox(&self, name: &str) -> (Server, PathBuf) {
        let outbox = self.outbox.with_file_name(format!("outbox-{name}.txt"));
        (Server::start(self.db.url(), &outbox), outbox)
    }
}

/// A `gesta-bank` process; dropping it kills it.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db: &str, outbox: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gesta-bank"))
            .args(["--db", db, "--listen", "127.0.0.1:0", "--outbox"])
            .arg(outbox)
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
                if let Some(rest) = line.strip_prefix("bank listening on http://") {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(addr.to_owned());
                }
            }
        });
        let addr = address.recv_timeout(PATIENCE).expect("the server listens");
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-s", "TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -s TERM {pid}");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit after SIGTERM: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Opens `ids` with `workers` concurrent clients; the ids acknowledged with 200 (a
/// client stops at its first failure: the server may be gone).
async fn open_accounts(
    base: String,
    ids: Vec<String>,
    workers: usize,
    acked: Arc<AtomicUsize>,
) -> Vec<String> {
    let ids = Arc::new(Mutex::new(ids));
    let done = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (ids, done, acked, base) = (ids.clone(), done.clone(), acked.clone(), base.clone());
        tasks.spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let next = ids.lock().unwrap().pop();
                let Some(id) = next else { return };
                let body = json!({ "account_id": id, "owner": format!("Owner {id}") });
                let sent = client
                    .post(format!("{base}/commands/OpenAccount"))
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 200 => {
                        done.lock().unwrap().push(id);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(response) => panic!("opening {id}: {}", response.status()),
                    Err(_) => return,
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    done.lock().unwrap().clone()
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:04}")).collect()
}

/// Every `AccountOpened` event in the log: event id → account id.
async fn opened(base: &str) -> BTreeMap<String, String> {
    let (client, mut after, mut found) = (reqwest::Client::new(), 0_u64, BTreeMap::new());
    loop {
        let url = format!("{base}/events?type=AccountOpened&limit=1000&after={after}");
        let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            return found;
        }
        for event in &events {
            let id = event["id"].as_str().unwrap().to_owned();
            found.insert(id, event["data"]["account_id"].as_str().unwrap().to_owned());
        }
        after = page["next_after"].as_u64().unwrap();
    }
}

/// The outbox's lines as (event id, account id).
fn outbox_lines(outbox: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(outbox).unwrap_or_default();
    text.lines()
        .map(|line| {
            let mut words = line.split(' ');
            let event = words.next().unwrap_or_default().to_owned();
            (event, words.next().unwrap_or_default().to_owned())
        })
        .collect()
}

/// Waits until every account opened in the log has its line, then checks that every
/// line belongs to an opened account and that the reactor reports no lag. Returns the
/// lines.
async fn until_every_account_has_its_line(server: &Server, outbox: &Path) -> Vec<(String, String)> {
    let log = opened(&server.base).await;
    let deadline = Instant::now() + PATIENCE;
    let lines = loop {
        let lines = outbox_lines(outbox);
        let sent: BTreeSet<&String> = lines.iter().map(|(event, _)| event).collect();
        let missing = log.keys().filter(|e| !sent.contains(e)).count();
        if missing == 0 {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} accounts have no line",
            log.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (event, account) in &lines {
        assert_eq!(
            log.get(event),
            Some(account),
            "a line for no opened account: {event} {account}"
        );
    }
    let admin: Value = reqwest::get(format!("{}/admin/reactors", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let welcome = admin["reactors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "welcome-email")
        .cloned();
    let welcome = welcome.expect("the welcome reactor is listed");
    assert_eq!(
        (welcome["parked"].clone(), welcome["registered"].clone()),
        (0.into(), true.into()),
        "{admin}"
    );
    lines
}

async fn killed_mid_burst_then_restarted_every_account_gets_its_line(backend: Engine) {
    let Some(setup) = Setup::new(backend) else {
        return;
    };
    let mut server = setup.start();
    let acked = Arc::new(AtomicUsize::new(0));
    let burst = tokio::spawn(open_accounts(
        server.base.clone(),
        ids("k", 400),
        8,
        acked.clone(),
    ));
    let deadline = Instant::now() + PATIENCE;
    while acked.load(Ordering::SeqCst) < 150 {
        assert!(Instant::now() < deadline, "the burst stalled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    let acknowledged = burst.await.expect("burst");
    assert!(acknowledged.len() < 400, "the kill came after the burst");

    let server = setup.start();
    let lines = until_every_account_has_its_line(&server, &setup.outbox).await;
    let accounts: BTreeSet<&String> = lines.iter().map(|(_, account)| account).collect();
    for id in &acknowledged {
        assert!(
            accounts.contains(id),
            "acknowledged account {id} has no line"
        );
    }
    let repeated = lines.len() - accounts.len();
    println!(
        "{} accounts, {repeated} lines sent twice after the kill",
        accounts.len()
    );
    server.terminate();
}

async fn clean_runs_write_each_line_once(backend: Engine) {
    let Some(setup) = Setup::new(backend) else {
        return;
    };
    let server = setup.start();
    open_accounts(server.base.clone(), ids("c", 150), 8, Arc::default()).await;
    until_every_account_has_its_line(&server, &setup.outbox).await;
    server.terminate();

    let server = setup.start();
    open_accounts(server.base.clone(), ids("d", 30), 4, Arc::default()).await;
    let lines = until_every_account_has_its_line(&server, &setup.outbox).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.terminate();
    let lines_after = outbox_lines(&setup.outbox);
    assert_eq!(lines_after, lines, "lines written after catching up");
    let mut per_account: BTreeMap<&String, usize> = BTreeMap::new();
    for (_, account) in &lines {
        *per_account.entry(account).or_default() += 1;
    }
    assert_eq!(per_account.len(), 180);
    let twice: Vec<_> = per_account.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "accounts with two lines after clean runs: {twice:?}"
    );
}

async fn two_servers_run_the_reactor_once_and_the_survivor_takes_over(backend: Engine) {
    let Some(setup) = Setup::new(backend) else {
        return;
    };
    let (first, first_outbox) = setup.start_with_outbox("first");
    let (second, second_outbox) = setup.start_with_outbox("second");
    let half = ids("t", 60);
    let (a, b) = half.split_at(30);
    let opening = tokio::join!(
        open_accounts(first.base.clone(), a.to_vec(), 4, Arc::default()),
        open_accounts(second.base.clone(), b.to_vec(), 4, Arc::default()),
    );
    assert_eq!(opening.0.len() + opening.1.len(), 60);
    let deadline = Instant::now() + PATIENCE;
    let (ran, idle) = loop {
        let (one, two) = (outbox_lines(&first_outbox), outbox_lines(&second_outbox));
        if one.len() + two.len() >= 60 {
            break if one.is_empty() {
                (two, one)
            } else {
                (one, two)
            };
        }
        assert!(
            Instant::now() < deadline,
            "{} + {} lines",
            one.len(),
            two.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(idle.is_empty(), "both servers ran the reactor");
    assert_eq!(ran.len(), 60, "a line was sent twice");

    let (mut runner, survivor, survivor_outbox) = if outbox_lines(&first_outbox).is_empty() {
        (second, first, first_outbox)
    } else {
        (first, second, second_outbox)
    };
    runner.kill();
    let late = open_accounts(survivor.base.clone(), ids("u", 10), 2, Arc::default()).await;
    assert_eq!(late.len(), 10);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let taken_over = outbox_lines(&survivor_outbox);
        let accounts: BTreeSet<&String> = taken_over.iter().map(|(_, a)| a).collect();
        if late.iter().all(|id| accounts.contains(id)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the survivor did not take over: {taken_over:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    survivor.terminate();
}
