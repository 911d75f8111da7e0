//! `gesta projections list|rebuild` against a store whose projection runs in this
//! (another) process: the CLI lists checkpoints, lag and pending rebuild requests, and
//! a rebuild it requests is performed by the running projection (or, when none runs,
//! by the next one to start). On SQLite, and on PostgreSQL and MySQL/MariaDB when
//! `GESTA_TEST_POSTGRES_URL` / `GESTA_TEST_MYSQL_URL` are set.

mod common;

use std::collections::BTreeMap;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gesta::event::{Position, RecordedEvent};
use gesta::projection::{Projection, ProjectionOptions, ProjectionStatus};
use gesta::{App, LogQuery, Migration, Store, StoreOptions, Tx, params};
use gesta_bank::commands::{Deposit, OpenAccount};
use gesta_testkit::Engine;

use crate::common::{gesta, on, sqlite_url, stdout};

/// `gesta projections rebuild --db URL --projection NAME`.
fn rebuild(url: &str, projection: &str) -> Output {
    gesta(&[
        "projections",
        "rebuild",
        "--db",
        url,
        "--projection",
        projection,
    ])
}

fn list_json(url: &str) -> serde_json::Value {
    let json = stdout(&gesta(&["projections", "list", "--db", url, "--json"]));
    serde_json::from_str(&json).expect("json")
}

/// The bank plus the projection's table.
fn app() -> App {
    gesta_bank::app().migration(Migration::new(
        "0100_type_counts",
        "CREATE TABLE type_counts (event_type VARCHAR(200) PRIMARY KEY, n BIGINT NOT NULL)",
    ))
}

/// Projection `type-counts`: events per type, each counted twice while `double` is set.
fn type_counts(double: &Arc<AtomicBool>) -> Projection {
    let double = Arc::clone(double);
    let apply = move |tx: &mut Tx<'_>, event: &RecordedEvent| {
        let times: i64 = if double.load(Ordering::SeqCst) { 2 } else { 1 };
        let key = params! { "t" => event.event_type.as_str(), "k" => times };
        if tx.execute(
            "UPDATE type_counts SET n = n + :k WHERE event_type = :t",
            &key,
        )? == 0
        {
            tx.execute(
                "INSERT INTO type_counts (event_type, n) VALUES (:t, :k)",
                &key,
            )?;
        }
        Ok(())
    };
    Projection::new("type-counts", &["type_counts"], LogQuery::default(), apply)
        .options(ProjectionOptions::default().lock_retry(Duration::from_millis(50)))
}

async fn open(url: &str, double: &Arc<AtomicBool>) -> Store {
    Store::builder(app())
        .url(url)
        .options(StoreOptions::default().poll_interval(Duration::from_millis(20)))
        .projection(type_counts(double))
        .open()
        .await
        .expect("open")
}

/// The `type_counts` table.
async fn counted(store: &Store) -> BTreeMap<String, i64> {
    let rows = store
        .query("SELECT event_type, n FROM type_counts", params! {})
        .await
        .expect("type_counts");
    rows.iter()
        .map(|r| (r.get("event_type").unwrap(), r.get("n").unwrap()))
        .collect()
}

/// Events per type in the log, each counted `times`.
async fn expected(store: &Store, times: i64) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for event in store
        .read_all(LogQuery::after(Position(0)))
        .await
        .expect("log")
    {
        *counts.entry(event.event_type).or_insert(0) += times;
    }
    counts
}

/// Waits until `type-counts` has no pending request, is at the head of the log and its
/// table holds `times` times the log's counts.
async fn until_counted(store: &Store, times: i64) -> ProjectionStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let statuses = store.projections().await.expect("projections");
        let status = statuses.into_iter().find(|s| s.name == "type-counts");
        if let Some(s) = &status
            && !s.rebuild_requested
            && s.lag == 0
            && counted(store).await == expected(store, times).await
        {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{status:?}: counted {:?}, want {:?}",
            counted(store).await,
            expected(store, times).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn write(store: &Store, accounts: &[&str]) {
    for id in accounts {
        let open = OpenAccount {
            account_id: (*id).to_owned(),
            owner: id.to_uppercase(),
        };
        store.dispatch(open).await.expect("open account");
        let deposit = Deposit {
            account_id: (*id).to_owned(),
            amount: 10,
        };
        store.dispatch(deposit).await.expect("deposit");
    }
}

async fn list_and_rebuild(url: &str) {
    let double = Arc::new(AtomicBool::new(true));
    let store = open(url, &double).await;
    write(&store, &["a", "b"]).await;
    until_counted(&store, 2).await;

    let list = stdout(&gesta(&["projections", "list", "--db", url]));
    assert!(list.starts_with("projection"), "{list}");
    let line = list
        .lines()
        .find(|l| l.starts_with("type-counts"))
        .expect(&list);
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[1..4], ["4", "4", "0"], "{list}");
    assert!(!line.contains("rebuild requested"), "{list}");
    let doc = list_json(url);
    let listed = &doc["projections"][0];
    assert_eq!(listed["name"], "type-counts", "{doc}");
    assert_eq!(listed["checkpoint"], 4, "{doc}");
    assert_eq!(listed["head"], 4, "{doc}");
    assert_eq!(listed["lag"], 0, "{doc}");
    assert_eq!(listed["rebuild_requested"], false, "{doc}");
    assert!(listed["updated_at"].is_string(), "{doc}");

    // The counts are doubled: the fixed projection replays into emptied tables.
    double.store(false, Ordering::SeqCst);
    let rebuilt = stdout(&rebuild(url, "type-counts"));
    assert!(
        rebuilt.starts_with("rebuild of \"type-counts\" requested"),
        "{rebuilt}"
    );
    until_counted(&store, 1).await;

    let unknown = rebuild(url, "nope");
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no projection named \"nope\""), "{stderr}");
    assert_eq!(list_json(url)["projections"].as_array().unwrap().len(), 1);

    // Nothing runs it: the request waits, listed, for the next store to start it.
    store.stop_projections().await;
    stdout(&rebuild(url, "type-counts"));
    let list = stdout(&gesta(&["projections", "list", "--db", url]));
    assert!(list.contains("(rebuild requested)"), "{list}");
    assert_eq!(list_json(url)["projections"][0]["rebuild_requested"], true);
    double.store(true, Ordering::SeqCst);
    let next = open(url, &double).await;
    until_counted(&next, 2).await;
    assert_eq!(list_json(url)["projections"][0]["rebuild_requested"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_list_and_rebuild_on_sqlite() {
    on(Engine::Sqlite, list_and_rebuild).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_list_and_rebuild_on_postgres() {
    on(Engine::Postgres, list_and_rebuild).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_list_and_rebuild_on_mysql() {
    on(Engine::Mysql, list_and_rebuild).await;
}

#[tokio::test]
async fn a_store_without_projections_lists_none() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "bank.db");
    let store = Store::open(&url, gesta_bank::app()).await.expect("open");
    write(&store, &["a"]).await;
    let list = stdout(&gesta(&["projections", "list", "--db", &url]));
    assert_eq!(list.trim(), "no projections");
    assert_eq!(list_json(&url)["projections"], serde_json::json!([]));
}
