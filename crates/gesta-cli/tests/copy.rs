//! `gesta copy` between two stores: full copy, resume, refusal, and the application's
//! read models catching up on the target.

mod common;

use std::process::Output;

use gesta::event::Position;
use gesta::{Context, ImportBatch, LogQuery, Store, params};
use gesta_bank::commands::{Deposit, OpenAccount, Transfer};

use crate::common::{gesta, sqlite_url};

/// A bank store with 30 accounts, deposits, transfers and idempotency keys.
async fn source(url: &str) -> Store {
    let store = Store::open(url, gesta_bank::app()).await.unwrap();
    for i in 0..30 {
        let open = OpenAccount {
            account_id: format!("a{i}"),
            owner: format!("Owner {i}"),
        };
        store.dispatch(open).await.unwrap();
        let ctx = Context {
            idempotency_key: Some(format!("dep-{i}")),
            ..Context::default()
        };
        store
            .dispatch_with(
                Deposit {
                    account_id: format!("a{i}"),
                    amount: 1000 + i,
                },
                ctx,
            )
            .await
            .unwrap();
    }
    for i in 0..30 {
        let transfer = Transfer {
            from: format!("a{i}"),
            to: format!("a{}", (i + 7) % 30),
            amount: 100 + i,
        };
        store.dispatch(transfer).await.unwrap();
    }
    store
}

async fn balances(store: &Store) -> Vec<(String, i64)> {
    store
        .query("SELECT id, balance FROM accounts ORDER BY id", params! {})
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("id").unwrap(), r.get("balance").unwrap()))
        .collect()
}

fn assert_ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "copy failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn copy_moves_log_and_keys_and_the_app_catches_up_on_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (sqlite_url(&dir, "from.db"), sqlite_url(&dir, "to.db"));
    let source = source(&from).await;
    let out = assert_ok(&gesta(&["copy", "--from", &from, "--to", &to, "--quiet"]));
    assert!(out.contains("copied 120 events"), "{out}");
    assert!(
        out.contains("30 idempotency keys") && out.contains("verified"),
        "{out}"
    );

    let target = Store::open(&to, gesta_bank::app()).await.unwrap();
    target.read_models_ready().await.unwrap();
    assert_eq!(
        balances(&target).await,
        balances(&source).await,
        "read model rebuilt from the copied log"
    );
    let all = LogQuery::after(Position(0)).limit(1000);
    let a = source.read_all(all.clone()).await.unwrap();
    let b = target.read_all(all).await.unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.position, x.id, &x.stream_id, x.stream_version),
            (y.position, y.id, &y.stream_id, y.stream_version)
        );
        assert_eq!(
            (x.recorded_at, &x.event_type),
            (y.recorded_at, &y.event_type)
        );
    }

    let ctx = Context {
        idempotency_key: Some("dep-3".into()),
        ..Context::default()
    };
    let retry = target
        .dispatch_with(
            Deposit {
                account_id: "a3".into(),
                amount: 1003,
            },
            ctx,
        )
        .await
        .unwrap();
    assert!(retry.replayed, "idempotency keys travel with the log");
    let next = target
        .dispatch(Deposit {
            account_id: "a3".into(),
            amount: 1,
        })
        .await
        .unwrap();
    assert_eq!(
        next.position,
        Some(Position(121)),
        "positions continue on the target"
    );
}

#[tokio::test]
async fn an_interrupted_copy_resumes_where_the_target_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (sqlite_url(&dir, "from.db"), sqlite_url(&dir, "to.db"));
    let source = source(&from).await;
    // What an interrupted copy left: the first 45 events as stored (owners sealed)
    // and the keys that sealed them.
    let prefix = source
        .read_stored(LogQuery::after(Position(0)).limit(45))
        .await
        .unwrap();
    let subject_keys = source
        .subject_keys_between(Position(0), Position(45))
        .await
        .unwrap();
    assert!(!subject_keys.is_empty());
    let partial = Store::open(&to, gesta::App::new("partial")).await.unwrap();
    partial
        .import(ImportBatch {
            events: prefix,
            keys: Vec::new(),
            subject_keys,
        })
        .await
        .unwrap();
    drop(partial);

    let out = assert_ok(&gesta(&["copy", "--from", &from, "--to", &to, "--quiet"]));
    assert!(out.contains("resumed after position 45"), "{out}");
    assert!(out.contains("copied 75 events"), "{out}");

    let again = assert_ok(&gesta(&["copy", "--from", &from, "--to", &to, "--quiet"]));
    assert!(
        again.contains("copied 0 events"),
        "a finished copy is a no-op: {again}"
    );
}

#[tokio::test]
async fn a_target_with_other_events_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (sqlite_url(&dir, "from.db"), sqlite_url(&dir, "to.db"));
    source(&from).await;
    let other = Store::open(&to, gesta_bank::app()).await.unwrap();
    other.read_models_ready().await.unwrap();
    other
        .dispatch(OpenAccount {
            account_id: "zz".into(),
            owner: "Z".into(),
        })
        .await
        .unwrap();
    drop(other);

    let output = gesta(&["copy", "--from", &from, "--to", &to, "--quiet"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("differ from the source"), "{stderr}");
    let target = Store::open(&to, gesta_bank::app()).await.unwrap();
    target.read_models_ready().await.unwrap();
    assert_eq!(
        target.stats().await.unwrap().events,
        1,
        "the target was not touched"
    );
}

#[tokio::test]
async fn a_read_model_added_later_is_built_from_history_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir, "bank.db");
    drop(source(&db).await);

    let v2 = gesta_bank::app()
        .migration(gesta::Migration::new(
            "0002_event_counts",
            "CREATE TABLE event_counts (event_type VARCHAR(100) PRIMARY KEY, n BIGINT NOT NULL)",
        ))
        .read_model(gesta::ReadModel::new(
            "event_counts",
            &["event_counts"],
            count_event,
        ));
    let store = Store::open(&db, v2).await.unwrap();
    store.read_models_ready().await.unwrap();
    let rows = store
        .query(
            "SELECT event_type, n FROM event_counts ORDER BY event_type",
            params! {},
        )
        .await
        .unwrap();
    let counts: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r.get("event_type").unwrap(), r.get("n").unwrap()))
        .collect();
    let expected = [
        ("AccountOpened", 30),
        ("Deposited", 30),
        ("TransferReceived", 30),
        ("TransferSent", 30),
    ];
    let expected: Vec<(String, i64)> = expected.iter().map(|(t, n)| (t.to_string(), *n)).collect();
    assert_eq!(counts, expected, "the new read model saw the whole history");

    store
        .dispatch(Deposit {
            account_id: "a1".into(),
            amount: 5,
        })
        .await
        .unwrap();
    let n: Option<i64> = store
        .read(|tx| {
            Ok(tx.query_scalar(
                "SELECT n FROM event_counts WHERE event_type = 'Deposited'",
                &params! {},
            )?)
        })
        .await
        .unwrap();
    assert_eq!(
        n,
        Some(31),
        "and follows new events in the write transaction"
    );
}

fn count_event(
    tx: &mut gesta::Tx<'_>,
    event: &gesta::event::RecordedEvent,
) -> Result<(), gesta::HandlerError> {
    let p = params! { "t" => event.event_type.as_str() };
    if tx.execute(
        "UPDATE event_counts SET n = n + 1 WHERE event_type = :t",
        &p,
    )? == 0
    {
        tx.execute(
            "INSERT INTO event_counts (event_type, n) VALUES (:t, 1)",
            &p,
        )?;
    }
    Ok(())
}

/// SQLite → PostgreSQL → MySQL/MariaDB → SQLite (whichever servers are set): every hop
/// verifies, and the bank opened on the last one has the same balances and log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_round_trips_through_the_server_backends() {
    let dir = tempfile::tempdir().unwrap();
    let (first, last) = (sqlite_url(&dir, "first.db"), sqlite_url(&dir, "last.db"));
    let source = source(&first).await;
    let servers: Vec<gesta_testkit::FreshDatabase> = gesta_testkit::Server::ALL
        .into_iter()
        .filter_map(gesta_testkit::fresh)
        .collect();
    let mut hops: Vec<String> = vec![first.clone()];
    hops.extend(servers.iter().map(|db| db.url().to_owned()));
    hops.push(last.clone());
    for pair in hops.windows(2) {
        let out = assert_ok(&gesta(&[
            "copy", "--from", &pair[0], "--to", &pair[1], "--quiet",
        ]));
        assert!(
            out.contains("copied 120 events") && out.contains("verified"),
            "{} -> {}: {out}",
            pair[0],
            pair[1]
        );
    }
    let target = Store::open(&last, gesta_bank::app()).await.unwrap();
    target.read_models_ready().await.unwrap();
    assert_eq!(balances(&target).await, balances(&source).await);
    let all = LogQuery::after(Position(0)).limit(1000);
    let (a, b) = (
        source.read_all(all.clone()).await.unwrap(),
        target.read_all(all).await.unwrap(),
    );
    let ids = |log: &[gesta::event::RecordedEvent]| {
        log.iter().map(|e| (e.position, e.id)).collect::<Vec<_>>()
    };
    assert_eq!(ids(&a), ids(&b));
    for server in &servers {
        let on_server = Store::open(server.url(), gesta_bank::app()).await.unwrap();
        on_server.read_models_ready().await.unwrap();
        assert_eq!(
            balances(&on_server).await,
            balances(&source).await,
            "{:?}",
            server.server()
        );
    }
}
