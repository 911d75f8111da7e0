//! `gesta archive` on every backend: archive, read everything back through the
//! command line as before, `gesta stats`; SIGKILL at random moments, again and again,
//! leaves every event readable exactly once; an S3 bucket (the `moto` server in CI)
//! works like a directory.

mod common;

use std::time::Duration;

use gesta::event::{NewEvent, Position, RecordedEvent, StreamId};
use gesta::{AppendRequest, Context, ExpectedVersion, LogQuery, Store};
use gesta_testkit::Engine;

use crate::common::{gesta, on, stdout};

/// Appends `n` events (a multiple of 50) over 40 streams, 50 per append.
async fn fill(url: &str, n: u64) -> Store {
    let store = Store::open(url, gesta::App::new("archive-test"))
        .await
        .unwrap();
    for chunk in 0..n / 50 {
        let stream = format!("item-{}", chunk % 40);
        let events = (0..50)
            .map(|i| {
                NewEvent::new(
                    stream.as_str(),
                    "Counted",
                    &serde_json::json!({ "n": chunk * 50 + i, "text": "some words to compress" }),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let request = AppendRequest {
            stream_id: StreamId::new(stream).unwrap(),
            expected: ExpectedVersion::Any,
            events,
        };
        store.append(request, Context::default()).await.unwrap();
    }
    store
}

async fn everything(store: &Store) -> Vec<RecordedEvent> {
    let mut all: Vec<RecordedEvent> = Vec::new();
    loop {
        let after = all.last().map_or(Position(0), |e| e.position);
        let page = store
            .read_all(LogQuery::after(after).limit(5000))
            .await
            .unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

fn same(a: &[RecordedEvent], b: &[RecordedEvent]) {
    assert_eq!(a.len(), b.len(), "event count");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            (x.position, x.id, &x.stream_id, x.stream_version),
            (y.position, y.id, &y.stream_id, y.stream_version)
        );
        assert_eq!(
            (x.data.get(), x.metadata.get(), x.recorded_at),
            (y.data.get(), y.metadata.get(), y.recorded_at)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_and_read_back_through_the_command_line() {
    for engine in Engine::ALL {
        on(engine, async |url: &str| {
            let store = fill(url, 1000).await;
            let before = everything(&store).await;
            let events_before = stdout(&gesta(&[
                "events", "--db", url, "--json", "--limit", "10000",
            ]));
            let dir = tempfile::tempdir().unwrap();
            let to = format!("file://{}", dir.path().display());
            let out = stdout(&gesta(&[
                "archive",
                "--db",
                url,
                "--to",
                &to,
                "--keep",
                "100",
                "--segment-events",
                "300",
                "--quiet",
            ]));
            assert!(out.contains("archived 900 events in 3 segments"), "{out}");
            let stats = stdout(&gesta(&["stats", "--db", url]));
            assert!(stats.contains("events:           1000"), "{stats}");
            assert!(stats.contains("live:           100"), "{stats}");
            assert!(
                stats.contains("archived:       900 in 3 segments"),
                "{stats}"
            );
            let events_after = stdout(&gesta(&[
                "events", "--db", url, "--json", "--limit", "10000",
            ]));
            assert_eq!(events_after, events_before, "gesta events prints the same");
            same(&everything(&store).await, &before);

            // A copy of an archived store holds the whole log, live.
            let copy_dir = tempfile::tempdir().unwrap();
            let copy_url = format!("sqlite://{}", copy_dir.path().join("copy.db").display());
            let copied = stdout(&gesta(&[
                "copy", "--from", url, "--to", &copy_url, "--quiet",
            ]));
            assert!(copied.contains("copied 1000 events"), "{copied}");

            let bad = gesta(&[
                "archive",
                "--db",
                url,
                "--to",
                "ftp://nowhere",
                "--keep",
                "1",
            ]);
            assert!(!bad.status.success());
            assert!(
                String::from_utf8_lossy(&bad.stderr).contains("file:///path"),
                "{bad:?}"
            );
            let none = gesta(&["archive", "--db", url, "--to", &to]);
            assert!(
                !none.status.success(),
                "one of --before, --older-than, --keep"
            );
            let old = stdout(&gesta(&[
                "archive",
                "--db",
                url,
                "--to",
                &to,
                "--older-than",
                "30d",
                "--quiet",
            ]));
            assert!(
                old.contains("archived 0 events"),
                "nothing is 30 days old: {old}"
            );
        })
        .await;
    }
}

/// Kills `gesta archive` with SIGKILL at random moments until a run gets to the end;
/// then every event is there exactly once, byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_archive_loses_and_doubles_nothing() {
    for engine in Engine::ALL {
        on(engine, async |url: &str| {
            let store = fill(url, 20_000).await;
            let before = everything(&store).await;
            let dir = tempfile::tempdir().unwrap();
            let to = format!("file://{}", dir.path().display());
            let args = [
                "archive",
                "--db",
                url,
                "--to",
                &to,
                "--keep",
                "10",
                "--segment-events",
                "400",
                "--quiet",
            ];
            let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut kills = 0;
            let mut finished = false;
            for _ in 0..40 {
                let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gesta"))
                    .args(args)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                tokio::time::sleep(Duration::from_millis(30 + seed % 300)).await;
                if child.try_wait().unwrap().is_some() {
                    finished = true;
                    break;
                }
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                // Readers in between see every event once.
                let now = everything(&store).await;
                assert_eq!(now.len(), before.len(), "after kill {kills}");
            }
            if !finished {
                stdout(&gesta(&args));
            }
            assert!(kills > 0, "no run was killed: the test proves nothing");
            same(&everything(&store).await, &before);
            let stats = store.stats().await.unwrap();
            assert_eq!((stats.live_events, stats.archived_events), (10, 19_990));
            let _ = writeln_stderr(&format!(
                "{}: {kills} SIGKILLs during gesta archive",
                engine.title()
            ));
        })
        .await;
    }
}

fn writeln_stderr(line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stderr(), "{line}")
}

/// The archive in an S3 bucket: `GESTA_TEST_S3_URL` (`s3://bucket`) with the usual
/// `AWS_*` variables naming the endpoint and credentials (`.ci/run` starts `moto`).
#[tokio::test(flavor = "multi_thread")]
async fn an_s3_bucket_holds_the_archive() {
    let Ok(base) = std::env::var("GESTA_TEST_S3_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "GESTA_TEST_S3_URL is unset under CI=true: .ci/run starts moto and sets it"
        );
        let _ = writeln_stderr(
            "S3 archive left out: set GESTA_TEST_S3_URL (and AWS_ENDPOINT_URL, ...)",
        );
        return;
    };
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL with GESTA_TEST_S3_URL");
    let bucket = base
        .trim_start_matches("s3://")
        .trim_end_matches('/')
        .to_owned();
    // moto makes a bucket on an unsigned PUT; an existing one answers 409 or 200.
    let made = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("the S3 endpoint answers");
    assert!(
        made.status().is_success() || made.status().as_u16() == 409,
        "{made:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s3.db").display());
    let store = fill(&url, 500).await;
    let before = everything(&store).await;
    let to = format!("s3://{bucket}/run-{}", uuid_like());
    let out = stdout(&gesta(&[
        "archive",
        "--db",
        &url,
        "--to",
        &to,
        "--keep",
        "50",
        "--segment-events",
        "200",
        "--quiet",
    ]));
    assert!(out.contains("archived 450 events in 3 segments"), "{out}");
    same(&everything(&store).await, &before);
    let listed = reqwest::Client::new()
        .get(format!(
            "{endpoint}/{bucket}?list-type=2&prefix={}",
            to.trim_start_matches(&format!("s3://{bucket}/"))
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains("manifest.json") && listed.contains(".ndjson.zst"),
        "{listed}"
    );
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
