//! The `gesta` binary against a real store file written by the bank example.

mod common;

use gesta_bank::commands::{Deposit, OpenAccount, Transfer};

use crate::common::{gesta, sqlite_url, stdout};

/// A bank store with 2 accounts, a deposit and a transfer: 5 events.
async fn bank_file(dir: &tempfile::TempDir) -> String {
    let url = sqlite_url(dir, "bank.db");
    let store = gesta::Store::open(&url, gesta_bank::app())
        .await
        .expect("open");
    for id in ["a", "b"] {
        let open = OpenAccount {
            account_id: id.into(),
            owner: id.to_uppercase(),
        };
        store.dispatch(open).await.expect("open account");
    }
    store
        .dispatch(Deposit {
            account_id: "a".into(),
            amount: 500,
        })
        .await
        .expect("deposit");
    let transfer = Transfer {
        from: "a".into(),
        to: "b".into(),
        amount: 200,
    };
    store.dispatch(transfer).await.expect("transfer");
    url
}

#[tokio::test]
async fn events_prints_the_log_in_order_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let url = bank_file(&dir).await;

    let all = stdout(&gesta(&["events", "--db", &url]));
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 5, "{all}");
    assert!(
        lines[0]
            .trim_start()
            .starts_with("1  account-a@1  AccountOpened"),
        "{}",
        lines[0]
    );
    assert!(
        lines[4].contains("account-b@2  TransferReceived"),
        "{}",
        lines[4]
    );

    let after = stdout(&gesta(&["events", "--db", &url, "--after", "3"]));
    assert_eq!(after.lines().count(), 2);

    let typed = stdout(&gesta(&[
        "events",
        "--db",
        &url,
        "--type",
        "AccountOpened",
        "--stream",
        "account-b",
    ]));
    assert_eq!(typed.lines().count(), 1);
    assert!(typed.contains("account-b@1"));
}

#[tokio::test]
async fn events_json_is_one_cloudevent_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = bank_file(&dir).await;
    let out = stdout(&gesta(&["events", "--db", &url, "--json", "--limit", "3"]));
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2]["type"], "Deposited");
    assert_eq!(events[2]["specversion"], "1.0");
    assert_eq!(events[2]["position"], 3);
    assert_eq!(events[2]["data"]["amount"], 500);
}

#[tokio::test]
async fn stats_counts_events_streams_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let url = bank_file(&dir).await;
    let out = stdout(&gesta(&["stats", "--db", &url, "--json"]));
    let stats: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(stats["events"], 5);
    assert_eq!(stats["streams"], 2);
    assert_eq!(stats["last_position"], 5);
    assert_eq!(stats["types"][0]["event_type"], "AccountOpened");
    assert_eq!(stats["types"][0]["count"], 2);

    let text = stdout(&gesta(&["stats", "--db", &url]));
    assert!(text.contains("events:           5"), "{text}");
}

#[test]
fn a_missing_database_is_a_clear_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let url = format!("sqlite://{}", path.display());
    let output = gesta(&["stats", "--db", &url]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no database at"));
    assert!(!path.exists());
}

#[test]
fn help_explains_the_verbs() {
    let help = stdout(&gesta(&["--help"]));
    assert!(help.contains("events") && help.contains("stats"));
    let events = stdout(&gesta(&["events", "--help"]));
    assert!(events.contains("--after") && events.contains("--json") && events.contains("--type"));
}
