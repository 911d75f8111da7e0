//! `gesta snapshots|diff|revert|read-models` against a bank server running in this
//! process (the verbs talk to its admin API).

mod common;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::common::gesta;

/// A bank server over a fresh SQLite file; its base URL.
async fn server(dir: &tempfile::TempDir) -> (String, gesta::Store, oneshot::Sender<()>) {
    let url = format!("sqlite://{}", dir.path().join("bank.db").display());
    let store = gesta::Store::open(&url, gesta_bank::app()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let router = gesta_bank::routes::api(store.clone());
    tokio::spawn(gesta_http::serve(listener, router, async {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), store, stop)
}

/// Runs `gesta ARGS` off the async threads; (success, stdout, stderr).
async fn run(args: Vec<String>) -> (bool, String, String) {
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        gesta(&args)
    })
    .await
    .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn args(list: &[&str], base: &str) -> Vec<String> {
    let mut all: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    all.push("--server".into());
    all.push(base.into());
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_diff_revert_and_rebuild_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (base, store, _stop) = server(&dir).await;
    use gesta_bank::commands::{Deposit, OpenAccount};
    store
        .dispatch(OpenAccount {
            account_id: "a".into(),
            owner: "Ada".into(),
        })
        .await
        .unwrap();
    let deposit = store
        .dispatch(Deposit {
            account_id: "a".into(),
            amount: 70,
        })
        .await
        .unwrap();

    let (ok, out, err) = run(args(&["snapshots", "create"], &base)).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("position") && out.contains("accounts=1"),
        "{out}"
    );
    let (ok, out, err) = run(args(&["snapshots", "list", "--json"], &base)).await;
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["snapshots"][0]["position"], 2);

    let (ok, out, err) = run(args(&["diff", "--from", "1", "--to", "2"], &base)).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("accounts:") && out.contains("\"balance\":70"),
        "{out}"
    );
    let (ok, _, err) = run(args(&["diff", "--from", "2", "--to", "1"], &base)).await;
    assert!(!ok && err.contains("from"), "{err}");

    let id = deposit.command_id.to_string();
    let (ok, out, err) = run(args(&["revert", &id], &base)).await;
    assert!(ok, "{err}");
    assert!(out.contains(&id), "{out}");
    let balance: i64 = store
        .query(
            "SELECT balance FROM accounts WHERE id = 'a'",
            gesta::params! {},
        )
        .await
        .unwrap()[0]
        .get("balance")
        .unwrap();
    assert_eq!(balance, 0);
    let (ok, _, err) = run(args(&["revert", &id], &base)).await;
    assert!(!ok && err.contains("409"), "{err}");

    let (ok, out, err) = run(args(&["read-models", "list"], &base)).await;
    assert!(ok, "{err}");
    assert!(out.contains("accounts") && out.contains("live"), "{out}");
    let (ok, out, err) = run(args(&["read-models", "rebuild", "accounts"], &base)).await;
    assert!(ok, "{err}");
    assert!(out.contains("rebuilt up to position"), "{out}");
    let (ok, _, err) = run(args(&["read-models", "rebuild", "nope"], &base)).await;
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, _, err) = run(vec![
        "snapshots".into(),
        "list".into(),
        "--server".into(),
        "http://127.0.0.1:1".into(),
    ])
    .await;
    assert!(!ok && err.contains("cannot reach"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn erase_forgets_an_owner_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (base, store, _stop) = server(&dir).await;
    use gesta_bank::commands::OpenAccount;
    store
        .dispatch(OpenAccount {
            account_id: "e".into(),
            owner: "Erin Q. Forgettable".into(),
        })
        .await
        .unwrap();

    let (ok, out, err) = run(args(&["erase", "--subject", "account-e"], &base)).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("erased account-e") && out.contains("now reads as null"),
        "{out}"
    );
    let owner: String = store
        .query(
            "SELECT owner FROM accounts WHERE id = 'e'",
            gesta::params! {},
        )
        .await
        .unwrap()[0]
        .get("owner")
        .unwrap();
    assert_eq!(owner, gesta_bank::accounts::ERASED_OWNER);
    let stream = gesta::event::StreamId::new("account-e").unwrap();
    let events = store
        .read_stream(&stream, gesta::event::StreamVersion(0), 10)
        .await
        .unwrap();
    let opened: Value = serde_json::from_str(events[0].data.get()).unwrap();
    assert_eq!(opened["owner"], Value::Null);

    // Erasing again finds no key; a subject is required.
    let (ok, out, err) = run(args(&["erase", "--subject", "account-e", "--json"], &base)).await;
    assert!(ok, "{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["key_found"], false);
    let (ok, _, err) = run(args(&["erase"], &base)).await;
    assert!(!ok && err.contains("--subject"), "{err}");
}
