//! `gesta events --follow`: the binary tails a store file that this test process
//! writes to, printing each event committed after it started.

mod common;

use std::process::Stdio;
use std::time::Duration;

use gesta::Store;
use gesta_bank::commands::{Deposit, OpenAccount};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::common::sqlite_url;

const WAIT: Duration = Duration::from_secs(5);

/// A bank store file with accounts `a` and `b` and a deposit: 3 events.
async fn bank(dir: &tempfile::TempDir) -> (String, Store) {
    let url = sqlite_url(dir, "bank.db");
    let store = Store::open(&url, gesta_bank::app()).await.expect("open");
    open_account(&store, "a").await;
    open_account(&store, "b").await;
    deposit(&store, "a", 100).await;
    (url, store)
}

async fn open_account(store: &Store, id: &str) {
    let open = OpenAccount {
        account_id: id.into(),
        owner: id.to_uppercase(),
    };
    store.dispatch(open).await.expect("open account");
}

async fn deposit(store: &Store, id: &str, amount: u64) {
    let deposit = Deposit {
        account_id: id.into(),
        amount,
    };
    store.dispatch(deposit).await.expect("deposit");
}

/// `gesta events ARGS`, its stdout read line by line.
fn gesta(args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gesta"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run gesta");
    let stdout = child.stdout.take().expect("stdout");
    (child, BufReader::new(stdout).lines())
}

/// The next `n` lines, failing after [`WAIT`] per line.
async fn lines(out: &mut Lines<BufReader<ChildStdout>>, n: usize) -> Vec<String> {
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        let line = tokio::time::timeout(WAIT, out.next_line())
            .await
            .unwrap_or_else(|_| panic!("only {lines:?} within 5 s each"))
            .expect("read stdout")
            .unwrap_or_else(|| panic!("gesta ended after {lines:?}"));
        lines.push(line);
    }
    lines
}

/// Ctrl-C (SIGINT to the process by its id); it must stop cleanly and soon.
async fn interrupt(mut child: Child) {
    let pid = child.id().expect("running").to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().await;
    assert!(sent.expect("kill").success());
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("gesta stops within 5 s of Ctrl-C")
        .expect("wait");
    assert!(status.success(), "{status}");
}

/// The table: what was there, then each event committed later, at once, by another
/// process than the one following.
#[tokio::test]
async fn follow_prints_the_log_then_events_committed_later() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = bank(&dir).await;
    let (child, mut out) = gesta(&["events", "--db", &url, "--follow"]);

    let old = lines(&mut out, 3).await;
    assert!(old[0].contains("account-a@1  AccountOpened"), "{old:?}");
    assert!(old[2].contains("account-a@2  Deposited"), "{old:?}");

    open_account(&store, "c").await;
    let new = lines(&mut out, 1).await;
    assert!(
        new[0]
            .trim_start()
            .starts_with("4  account-c@1  AccountOpened"),
        "{new:?}"
    );
    deposit(&store, "c", 7).await;
    deposit(&store, "b", 9).await;
    let new = lines(&mut out, 2).await;
    assert!(new[0].contains("account-c@2  Deposited"), "{new:?}");
    assert!(new[1].trim_start().starts_with("6  account-b@2"), "{new:?}");
    interrupt(child).await;
}

/// `--json` prints CloudEvents; filters apply to the live part too.
#[tokio::test]
async fn follow_json_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = bank(&dir).await;
    let args = [
        "events",
        "--db",
        &url,
        "--follow",
        "--json",
        "--type",
        "AccountOpened",
        "--category",
        "account",
    ];
    let (child, mut out) = gesta(&args);

    let old = lines(&mut out, 2).await;
    let first: serde_json::Value = serde_json::from_str(&old[0]).unwrap();
    assert_eq!(first["specversion"], "1.0");
    assert_eq!(first["subject"], "account-a");

    deposit(&store, "a", 5).await; // 4: filtered out
    open_account(&store, "d").await; // 5
    let new = lines(&mut out, 1).await;
    let event: serde_json::Value = serde_json::from_str(&new[0]).unwrap();
    assert_eq!(event["type"], "AccountOpened");
    assert_eq!(event["subject"], "account-d");
    assert_eq!(event["position"], 5);
    interrupt(child).await;
}

/// `--after` and `--limit` hold with `--follow`: it stops by itself once it has
/// printed `limit` events, live ones included.
#[tokio::test]
async fn follow_stops_after_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = bank(&dir).await;
    let args = [
        "events", "--db", &url, "--follow", "--after", "1", "--limit", "3",
    ];
    let (mut child, mut out) = gesta(&args);

    let old = lines(&mut out, 2).await;
    assert!(old[0].trim_start().starts_with("2  account-b@1"), "{old:?}");
    open_account(&store, "e").await;
    open_account(&store, "f").await;
    let new = lines(&mut out, 1).await;
    assert!(new[0].trim_start().starts_with("4  account-e@1"), "{new:?}");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("gesta stops after its limit")
        .expect("wait");
    assert!(status.success(), "{status}");
    assert_eq!(
        out.next_line().await.unwrap(),
        None,
        "nothing after the limit"
    );
}
