//! The right to be forgotten on the bank: `owner` is personal data of the account.
//! After `POST /admin/erase` the owner reads as null over HTTP, the account shows
//! `(erased)`, and no byte of the SQLite database, its WAL or its archive (the
//! segments decompressed) holds the name.

use serde_json::{Value, json};

use crate::support::{Server, ok_json, problem};

/// A name no other test uses, so finding its bytes means this test left them.
const OWNER: &str = "Zebulon Forgettable-Quist";

/// Whether `needle` occurs in the file at `path` (absent files hold nothing).
fn holds(path: &std::path::Path, needle: &str) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    bytes
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Every file under `dir`, by path, with its bytes.
fn archive_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(archive_files(&path));
        } else {
            files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    files
}

#[tokio::test]
async fn an_erased_owner_leaves_no_trace_in_the_api_the_read_model_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let wal = dir.path().join("bank.db-wal");
    let url = format!("sqlite://{}", db.display());
    let store = gesta::Store::open(&url, gesta_bank::app()).await.unwrap();
    let server = Server::serve(store.clone()).await;
    server
        .command("OpenAccount", json!({"account_id": "zq", "owner": OWNER}))
        .await;
    server.open_account("other", 0).await;
    for amount in [5, 7, 11] {
        server
            .command("Deposit", json!({"account_id": "zq", "amount": amount}))
            .await;
    }
    // The account's opening moves to the archive before the erasure.
    let archive = dir.path().join("archive");
    let options = gesta::archive::ArchiveOptions::new(
        format!("file://{}", archive.display()),
        gesta::archive::ArchiveUpTo::Keep(1),
    );
    let archived = store.archive(options, |_| {}).await.unwrap();
    assert!(archived.events >= 4, "{archived:?}");
    let taken = server.post("/admin/snapshots", &json!({})).await;
    assert_eq!(taken.status(), 201);
    let account = ok_json(server.get("/accounts/zq").await).await;
    assert_eq!(account["owner"], OWNER);
    let stream = ok_json(server.get("/streams/account-zq").await).await;
    assert_eq!(stream["events"][0]["data"]["owner"], OWNER);
    // Encrypted at rest from the start: only the read model holds the name.
    let stored = store
        .read_stored(gesta::LogQuery::after(gesta::event::Position(0)).limit(100))
        .await
        .unwrap();
    assert!(!stored[0].data.get().contains(OWNER));

    let erased = ok_json(
        server
            .post("/admin/erase", &json!({"subject": "account-zq"}))
            .await,
    )
    .await;
    assert_eq!(erased["key_found"], true);
    assert_eq!(erased["wal_truncated"], true);
    assert_eq!(erased["events"][0]["type"], "gesta.subject_erased");
    assert_eq!(erased["events"][0]["subject"], "account-zq");

    // Over HTTP: null in the log, anonymized in the read model, balance kept.
    let stream = ok_json(server.get("/streams/account-zq").await).await;
    assert_eq!(stream["events"][0]["data"]["owner"], Value::Null);
    assert_eq!(stream["events"][0]["data"]["account_id"], "zq");
    let log = server.events("limit=100").await;
    assert!(!log.to_string().contains(OWNER), "{log}");
    assert_eq!(
        log["events"][1]["data"]["owner"], "Ada",
        "others keep theirs"
    );
    let account = ok_json(server.get("/accounts/zq").await).await;
    assert_eq!(
        account,
        json!({"id": "zq", "owner": gesta_bank::accounts::ERASED_OWNER, "balance": 23})
    );
    let then = ok_json(server.get("/accounts/zq?as_of=2").await).await;
    assert_eq!(then["owner"], gesta_bank::accounts::ERASED_OWNER);

    // The bytes: neither the database file nor its WAL hold the name.
    assert!(
        !holds(&db, OWNER),
        "the database file holds the erased owner"
    );
    assert!(!holds(&wal, OWNER), "the WAL holds the erased owner");
    let segments = archive_files(&archive);
    assert!(!segments.is_empty());
    for (name, bytes) in segments {
        let text = match name.ends_with(".zst") {
            true => zstd::decode_all(bytes.as_slice()).unwrap(),
            false => bytes,
        };
        assert!(
            !text.windows(OWNER.len()).any(|w| w == OWNER.as_bytes()),
            "{name} holds the erased owner"
        );
    }
    drop(server);
    drop(store);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !holds(&db, OWNER),
        "the closed database holds the erased owner"
    );
    assert!(!holds(&wal, OWNER));
    let reopened = gesta::Store::open(&url, gesta_bank::app()).await.unwrap();
    reopened.rebuild_read_models().await.unwrap();
    let rows = reopened
        .query(
            "SELECT owner FROM accounts WHERE id = 'zq'",
            gesta::sql::Params::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        rows[0].get::<String>("owner").unwrap(),
        gesta_bank::accounts::ERASED_OWNER
    );
}

#[tokio::test]
async fn a_bad_erasure_is_a_problem_and_writes_nothing() {
    let server = Server::start().await;
    server.open_account("a", 0).await;
    let before = server.snapshot().await;
    for body in [
        json!({}),
        json!({"subject": ""}),
        json!({"subject": 7}),
        json!({"subject": "a", "x": 1}),
    ] {
        let p = problem(server.post("/admin/erase", &body).await, 400).await;
        assert!(p["detail"].is_string(), "{p}");
    }
    assert_eq!(server.snapshot().await, before);
}
