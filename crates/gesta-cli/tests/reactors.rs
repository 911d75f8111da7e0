//! `gesta reactors list|retry|skip` against a store whose reactor runs in this (another)
//! process: the CLI lists checkpoints and parked events, a retry is delivered by the
//! running reactor, a skip removes parked events without delivery. On SQLite, and on
//! PostgreSQL and MySQL/MariaDB when `GESTA_TEST_POSTGRES_URL` / `GESTA_TEST_MYSQL_URL`
//! are set.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gesta::event::RecordedEvent;
use gesta::reactor::{Reactor, ReactorOptions};
use gesta::{LogQuery, Store};
use gesta_bank::commands::OpenAccount;
use gesta_testkit::Engine;

use crate::common::{gesta, on, sqlite_url, stdout};

/// A mailer that fails for the accounts in `failing` and records the others.
#[derive(Clone, Default)]
struct Mailer {
    failing: Arc<Mutex<HashSet<String>>>,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Mailer {
    fn reactor(&self) -> Reactor {
        let mailer = self.clone();
        let options = ReactorOptions::default()
            .retries(2, Duration::from_millis(1), Duration::from_millis(1))
            .checkpoint(1, Duration::from_millis(10))
            .lock_retry(Duration::from_millis(50));
        let filter = LogQuery::default().event_type("AccountOpened");
        Reactor::new("mailer", filter, move |event: RecordedEvent| {
            let mailer = mailer.clone();
            async move {
                let account = event.stream_id.as_str().to_owned();
                if mailer.failing.lock().unwrap().contains(&account) {
                    return Err(format!("mailbox of {account} is full").into());
                }
                mailer.sent.lock().unwrap().push(account);
                Ok(())
            }
        })
        .options(options)
    }
}

async fn open_accounts(store: &Store, ids: &[&str]) {
    for id in ids {
        let open = OpenAccount {
            account_id: (*id).to_owned(),
            owner: id.to_uppercase(),
        };
        store.dispatch(open).await.expect("open account");
    }
}

/// Waits until the store has exactly `positions` parked.
async fn until_parked(store: &Store, positions: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let parked = store.parked_events(None, 100).await.expect("parked");
        let found: Vec<u64> = parked.iter().map(|p| p.position.0).collect();
        if found == positions {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "parked {found:?}, want {positions:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn list_retry_and_skip(url: &str) {
    let mailer = Mailer::default();
    mailer
        .failing
        .lock()
        .unwrap()
        .extend(["account-bad".to_owned(), "account-worse".to_owned()]);
    let store = Store::builder(gesta_bank::app())
        .url(url)
        .reactor(mailer.reactor())
        .open()
        .await
        .expect("open");
    open_accounts(&store, &["a", "bad", "b", "worse"]).await;
    until_parked(&store, &[2, 4]).await;

    let list = stdout(&gesta(&["reactors", "list", "--db", url]));
    let mailer_line = list.lines().find(|l| l.starts_with("mailer")).expect(&list);
    let columns: Vec<&str> = mailer_line.split_whitespace().collect();
    assert_eq!(columns[1..5], ["4", "4", "0", "2"], "{list}");
    assert!(
        list.contains("AccountOpened  account-bad  attempts=2"),
        "{list}"
    );
    assert!(
        list.contains("error: mailbox of account-bad is full"),
        "{list}"
    );

    let json = stdout(&gesta(&[
        "reactors",
        "list",
        "--db",
        url,
        "--reactor",
        "mailer",
        "--json",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(doc["reactors"][0]["name"], "mailer");
    assert_eq!(doc["reactors"][0]["parked"], 2);
    assert_eq!(doc["parked"][1]["position"], 4);
    assert_eq!(doc["parked"][1]["stream"], "account-worse");

    mailer.failing.lock().unwrap().remove("account-bad");
    let retried = stdout(&gesta(&[
        "reactors",
        "retry",
        "--db",
        url,
        "--reactor",
        "mailer",
        "--position",
        "2",
    ]));
    assert!(
        retried.starts_with("1 parked event(s) of \"mailer\" marked for retry"),
        "{retried}"
    );
    until_parked(&store, &[4]).await;
    assert_eq!(
        *mailer.sent.lock().unwrap(),
        ["account-a", "account-b", "account-bad"]
    );

    let missing = gesta(&[
        "reactors",
        "skip",
        "--db",
        url,
        "--reactor",
        "mailer",
        "--position",
        "99",
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no parked event at position 99"));
    let unspecified = gesta(&["reactors", "skip", "--db", url, "--reactor", "mailer"]);
    assert!(
        !unspecified.status.success(),
        "skip without --position or --all"
    );

    let skipped = stdout(&gesta(&[
        "reactors",
        "skip",
        "--db",
        url,
        "--reactor",
        "mailer",
        "--all",
    ]));
    assert!(
        skipped.starts_with("1 parked event(s) of \"mailer\" skipped"),
        "{skipped}"
    );
    until_parked(&store, &[]).await;
    let list = stdout(&gesta(&["reactors", "list", "--db", url]));
    assert!(list.contains("no parked events"), "{list}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        mailer.sent.lock().unwrap().len(),
        3,
        "a skipped event was delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactors_list_retry_and_skip_on_sqlite() {
    on(Engine::Sqlite, list_retry_and_skip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactors_list_retry_and_skip_on_postgres() {
    on(Engine::Postgres, list_retry_and_skip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactors_list_retry_and_skip_on_mysql() {
    on(Engine::Mysql, list_retry_and_skip).await;
}

/// `gesta copy` carries the reactors' checkpoints and parked events: the reactor on the
/// copy goes on after the copied checkpoint and sends nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_carries_checkpoints_and_parked_events() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (sqlite_url(&dir, "source.db"), sqlite_url(&dir, "target.db"));
    let mailer = Mailer::default();
    mailer
        .failing
        .lock()
        .unwrap()
        .insert("account-bad".to_owned());
    let store = Store::builder(gesta_bank::app())
        .url(&source)
        .reactor(mailer.reactor())
        .open()
        .await
        .expect("open source");
    open_accounts(&store, &["a", "bad", "b"]).await;
    until_parked(&store, &[2]).await;
    store.stop_reactors().await;
    drop(store);

    stdout(&gesta(&[
        "copy", "--from", &source, "--to", &target, "--quiet",
    ]));
    let json = stdout(&gesta(&["reactors", "list", "--db", &target, "--json"]));
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(doc["reactors"][0]["checkpoint"], 3, "{doc}");
    assert_eq!(doc["parked"][0]["position"], 2, "{doc}");
    assert_eq!(doc["parked"][0]["error"], "mailbox of account-bad is full");

    let copy_mailer = Mailer::default();
    let store = Store::builder(gesta_bank::app())
        .url(&target)
        .reactor(copy_mailer.reactor())
        .open()
        .await
        .expect("open target");
    open_accounts(&store, &["c"]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while copy_mailer.sent.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "nothing sent on the copy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*copy_mailer.sent.lock().unwrap(), ["account-c"]);
}
