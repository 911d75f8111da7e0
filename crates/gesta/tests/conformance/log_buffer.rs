//! The writer buffers a batch's log rows and writes them in multi-row statements.
//! None of that may be visible: handlers that read the log tables see every earlier
//! command of their batch, stream versions stay right when another store writes to the
//! same database, and every backend refuses the same payloads.

use std::time::Duration;

use gesta::event::{NewEvent, Position, StreamVersion};
use gesta::{App, Command, Error, ExpectedVersion, HandlerError, Tx, params};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::app::Note;
use crate::check::{self, append, noted};
use crate::harness::TestDb;

conformance!(
    handlers_see_their_batch_in_the_log_tables,
    nul_escapes_are_refused_everywhere,
    two_stores_share_one_log,
);

/// Counts the log and reads its stream's version, then writes what it saw.
#[derive(Debug, Serialize, Deserialize)]
struct Look {
    stream: String,
    sleep_ms: u64,
}

impl Command for Look {
    const NAME: &'static str = "Look";
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    events: i64,
    version: Option<i64>,
}

fn look(tx: &mut Tx<'_>, cmd: Look) -> Result<Vec<NewEvent>, HandlerError> {
    std::thread::sleep(Duration::from_millis(cmd.sleep_ms));
    let events = tx
        .query_scalar("SELECT COUNT(*) FROM events", &params! {})?
        .unwrap_or(0);
    let version = tx.query_scalar(
        "SELECT version FROM streams WHERE stream_id = :s",
        &params! { "s" => cmd.stream.as_str() },
    )?;
    Ok(vec![NewEvent::new(
        cmd.stream.as_str(),
        "Seen",
        &Seen { events, version },
    )?])
}

/// Commands queued behind a slow one share a batch; each must see the events and
/// stream versions of all commands before it, although those rows are still buffered.
async fn handlers_see_their_batch_in_the_log_tables(b: TestDb) {
    let store = b
        .builder_for(App::new("look").command(look))
        .open()
        .await
        .expect("open");
    let mut tasks = JoinSet::new();
    for i in 0..40_u64 {
        let store = store.clone();
        let look = Look {
            stream: format!("look-{}", i % 3),
            sleep_ms: if i == 0 { 300 } else { 0 },
        };
        tasks.spawn(async move { store.dispatch(look).await });
        if i == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    while let Some(result) = tasks.join_next().await {
        let outcome = result.expect("task").expect("command");
        let event = &outcome.events[0];
        let seen: Seen = event.data_as().expect("payload");
        let version = (event.stream_version.0 > 1).then(|| event.stream_version.0 as i64 - 1);
        assert_eq!(
            seen,
            Seen {
                events: event.position.0 as i64 - 1,
                version
            },
            "{event:?}"
        );
    }
    check::gap_free_log(&store).await;
}

/// PostgreSQL's `jsonb` cannot hold `\u0000`; every backend refuses it alike, and
/// nothing is written. An escaped backslash followed by `u0000` is ordinary text.
async fn nul_escapes_are_refused_everywhere(b: TestDb) {
    let store = b.open().await;
    let nul =
        NewEvent::new("nul-1", "Odd", &serde_json::json!({ "text": "a\u{0}b" })).expect("event");
    match append(&store, "nul-1", ExpectedVersion::Any, vec![nul]).await {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field.as_deref(), Some("data")),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert_eq!(store.last_position(), Position(0));
    let text =
        NewEvent::new("nul-1", "Odd", &serde_json::json!({ "text": "\\u0000" })).expect("event");
    append(&store, "nul-1", ExpectedVersion::NoStream, vec![text])
        .await
        .expect("plain text");
    let stored = store
        .read_stream(&check::sid("nul-1"), StreamVersion(1), 10)
        .await
        .expect("read");
    let data: serde_json::Value = stored[0].data_as().expect("json");
    assert_eq!(data["text"], "\\u0000");
}

/// Two stores (as two processes would) write the same stream in turns: each must see
/// the other's versions, never a stale cached one, and the log stays gap-free.
async fn two_stores_share_one_log(b: TestDb) {
    if !b.survives_reopen() {
        return b.not_applicable(
            "two_stores_share_one_log",
            "two stores cannot share an in-memory database",
        );
    }
    let (one, two) = (b.open().await, b.open().await);
    for round in 0..6_u64 {
        let (store, other) = if round % 2 == 0 {
            (&one, &two)
        } else {
            (&two, &one)
        };
        let expected = if round == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(round)
        };
        append(
            store,
            "shared-1",
            expected,
            noted("shared-1", &format!("r{round}"), 1),
        )
        .await
        .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let stale = append(
            other,
            "shared-1",
            ExpectedVersion::Exact(round),
            noted("shared-1", "stale", 1),
        );
        check::wrong_version(
            stale.await.expect_err("stale version accepted"),
            "shared-1",
            ExpectedVersion::Exact(round),
            round + 1,
        );
        store
            .dispatch(Note::new(&format!("other-{round}"), "n", 1))
            .await
            .expect("note");
    }
    let log = check::gap_free_log(&two).await;
    assert_eq!(log.len(), 12);
}
