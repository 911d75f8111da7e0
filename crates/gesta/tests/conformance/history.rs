//! History: the read models as of a position or a time, snapshots, diffs, reverts
//! (issue 11, ADR 007).

use std::time::Duration;

use gesta::event::{Position, Timestamp};
use gesta::history::{AsOf, RevertTarget};
use gesta::sql::SqlErrorKind;
use gesta::{Context, Error, RejectionKind, Store, StoreOptions, params};

use crate::app::Note;
use crate::check::{self, NoteRow, TallyRow};
use crate::harness::TestDb;

conformance!(
    as_of_answers_each_position_as_it_stood,
    as_of_by_time_is_the_last_event_at_or_before_it,
    snapshots_are_listed_and_give_the_same_answers,
    outside_queries_are_read_only_and_time_out,
    diff_shows_what_changed_row_by_row,
    revert_takes_a_command_back_and_redo_puts_it_again,
    revert_to_a_position_goes_back_there,
    taking_a_snapshot_every_n_events_happens_by_itself,
    a_background_rebuild_loses_nothing_under_concurrent_commands,
    a_new_read_model_version_is_rebuilt_in_the_background_at_open,
    a_rebuild_keeps_a_view_over_the_live_tables,
    async_projections_respect_reverts,
    an_imported_log_keeps_its_reverts,
    a_commands_events_are_found_by_its_id
);

async fn a_commands_events_are_found_by_its_id(b: TestDb) {
    let store = b.open().await;
    store.dispatch(Note::new("c-a", "a", 1)).await.unwrap();
    // Commands around it in the same group commits.
    let (target, _, _) = tokio::join!(
        store.dispatch(Note::new("c-b", "b", 3)),
        store.dispatch(Note::new("c-a", "c", 2)),
        store.dispatch(Note::new("c-d", "d", 1)),
    );
    let target = target.unwrap();
    let last = target.position.unwrap();

    let found = store
        .command_events(target.command_id)
        .await
        .unwrap()
        .expect("the command's events");
    assert_eq!(found.command_id, target.command_id);
    assert_eq!((found.from, found.to), (Position(last.0 - 3), last));
    let positions: Vec<u64> = found.events.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, vec![last.0 - 2, last.0 - 1, last.0]);
    assert!(found.events.iter().all(
        |e| e.stream_id.as_str() == "c-b" && e.metadata().command_id == Some(target.command_id)
    ));
    let ids: Vec<_> = found.events.iter().map(|e| e.id).collect();
    let recorded: Vec<_> = target.events.iter().map(|e| e.id).collect();
    assert_eq!(ids, recorded);

    // What it changed is the diff over its span: only its own stream's rows.
    let diff = store.diff(found.from, found.to, None).await.unwrap();
    let tallies = &diff.tables["tallies"];
    let touched: Vec<_> = tallies
        .inserted
        .iter()
        .chain(tallies.updated.iter().map(|c| &c.after))
        .map(|row| row["stream_id"].clone())
        .collect();
    assert_eq!(touched, vec![serde_json::json!("c-b")]);

    assert!(
        store
            .command_events(uuid::Uuid::now_v7())
            .await
            .unwrap()
            .is_none()
    );

    // Reverted, its events stay in the log; the revert is a command of its own.
    let revert = store
        .revert(RevertTarget::Command(target.command_id), Context::default())
        .await
        .unwrap();
    let again = store
        .command_events(target.command_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.events.len(), 3);
    let own = store
        .command_events(revert.command_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(own.events.len(), 1);
    assert_eq!(own.events[0].event_type, "gesta.reverted");
    assert_eq!(own.to, revert.position.unwrap());
}

async fn tallies_at(store: &Store, at: impl Into<AsOf>) -> Vec<TallyRow> {
    let rows = store
        .at(at)
        .query(
            "SELECT stream_id, events FROM tallies ORDER BY stream_id",
            params! {},
        )
        .await
        .expect("tallies as of");
    rows.iter()
        .map(|r| TallyRow {
            stream_id: r.get("stream_id").unwrap(),
            events: r.get("events").unwrap(),
        })
        .collect()
}

async fn notes_at(store: &Store, at: Position) -> Vec<NoteRow> {
    let rows = store
        .at(at)
        .query(
            "SELECT position, stream_id, version, tag FROM notes ORDER BY position",
            params! {},
        )
        .await
        .expect("notes as of");
    rows.iter()
        .map(|r| NoteRow {
            position: r.get("position").unwrap(),
            stream_id: r.get("stream_id").unwrap(),
            version: r.get("version").unwrap(),
            tag: r.get("tag").unwrap(),
        })
        .collect()
}

/// Commits `n` notes over three streams and returns the live tallies after each.
async fn commit_recording(store: &Store, n: u32) -> Vec<(Position, Vec<TallyRow>)> {
    let mut seen = vec![(store.last_position(), check::tallies(store).await)];
    for i in 0..n {
        let note = Note::new(&format!("h-{}", i % 3), &format!("t{i}"), 1 + i % 2);
        let outcome = store.dispatch(note).await.unwrap();
        seen.push((outcome.position.unwrap(), check::tallies(store).await));
    }
    seen
}

fn invalid_field(err: Error) -> Option<String> {
    match err {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

async fn as_of_answers_each_position_as_it_stood(b: TestDb) {
    let store = b.open().await;
    let seen = commit_recording(&store, 12).await;
    // Backwards, forwards, and at random: every position answers as it stood.
    for (position, tallies) in seen.iter().rev().chain(seen.iter()) {
        assert_eq!(
            &tallies_at(&store, *position).await,
            tallies,
            "as of {position}"
        );
    }
    assert_eq!(tallies_at(&store, Position(0)).await, Vec::new());
    // Between two commands' positions too: a note of two events half applied.
    let log = check::gap_free_log(&store).await;
    let (notes, _) = check::expected_read_model(&log[..3]);
    assert_eq!(notes_at(&store, Position(3)).await, notes);
    let head = store.last_position();
    let past = store
        .at(Position(head.0 + 1))
        .query("SELECT 1", params! {})
        .await;
    assert_eq!(invalid_field(past.unwrap_err()).as_deref(), Some("as_of"));
}

async fn as_of_by_time_is_the_last_event_at_or_before_it(b: TestDb) {
    let store = b.open().await;
    commit_recording(&store, 3).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    commit_recording(&store, 3).await;
    let log = check::gap_free_log(&store).await;
    for event in &log {
        let expected = log
            .iter()
            .filter(|e| e.recorded_at <= event.recorded_at)
            .map(|e| e.position)
            .max()
            .unwrap();
        let at = store.resolve(AsOf::Time(event.recorded_at)).await.unwrap();
        assert_eq!(at, expected);
    }
    let before = Timestamp(log[0].recorded_at.0 - 1);
    assert_eq!(
        store.resolve(AsOf::Time(before)).await.unwrap(),
        Position(0)
    );
    assert_eq!(tallies_at(&store, AsOf::Time(before)).await, Vec::new());
    let future = Timestamp(Timestamp::now().0 + 3_600_000_000);
    let err = store.resolve(AsOf::Time(future)).await.unwrap_err();
    assert_eq!(invalid_field(err).as_deref(), Some("as_of"));
}

async fn snapshots_are_listed_and_give_the_same_answers(b: TestDb) {
    let store = b.open().await;
    let first = commit_recording(&store, 6).await;
    let taken = store.take_snapshot().await.unwrap();
    assert_eq!(taken.position, store.last_position().0);
    assert!(taken.bytes > 0 && taken.valid);
    assert_eq!(taken.tables.get("tallies"), Some(&3));
    let later = commit_recording(&store, 6).await;
    let second = store.take_snapshot().await.unwrap();
    let listed = store.snapshots().await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.position).collect::<Vec<_>>(),
        vec![second.position, taken.position]
    );
    assert!(listed.iter().all(|s| s.valid));
    for (position, tallies) in first.iter().chain(&later) {
        assert_eq!(
            &tallies_at(&store, *position).await,
            tallies,
            "as of {position}"
        );
    }
    // Another version of the read model: the snapshots no longer count.
    drop(store);
    if b.survives_reopen() {
        let changed = b
            .builder_for(bumped_app())
            .open()
            .await
            .expect("reopen with a new version");
        assert!(changed.snapshots().await.unwrap().iter().all(|s| !s.valid));
    }
}

/// The suite's app with its read model at version 2.
fn bumped_app() -> gesta::App {
    let base = crate::app::app();
    let model = base.read_models()[0].clone().version(2);
    crate::app::app_with_model(model)
}

async fn outside_queries_are_read_only_and_time_out(b: TestDb) {
    let options = StoreOptions::default().query_timeout(Duration::from_millis(300));
    let store = b.open_with(options).await;
    commit_recording(&store, 4).await;
    let before = check::tallies(&store).await;
    let head = store.last_position();
    for at in [None, Some(AsOf::Position(Position(2)))] {
        for sql in [
            "DELETE FROM tallies",
            "UPDATE tallies SET events = 0",
            "INSERT INTO tallies (stream_id, events) VALUES ('x', 1)",
        ] {
            let err = store.query_at(at, sql, params! {}).await.unwrap_err();
            match err {
                Error::Database(e) => assert_eq!(e.kind, SqlErrorKind::ReadOnly, "{sql}: {e}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
    }
    assert_eq!(check::tallies(&store).await, before);
    assert_eq!(tallies_at(&store, Position(2)).await.len(), 2);
    let (at, rows) = store
        .query_at(None, "SELECT COUNT(*) AS n FROM notes", params! {})
        .await
        .unwrap();
    assert_eq!(at, head);
    assert_eq!(rows[0].get::<u64>("n").unwrap(), head.0);
    let spin = crate::app::COUNT_TO_A_TRILLION;
    for at in [None, Some(AsOf::Position(Position(2)))] {
        let started = std::time::Instant::now();
        let err = store.query_at(at, spin, params! {}).await.unwrap_err();
        assert!(matches!(err, Error::QueryTimeout(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    // And the store goes on.
    store.dispatch(Note::new("h-0", "after", 1)).await.unwrap();
    assert_eq!(
        store
            .query_at(None, "SELECT 1 AS one", params! {})
            .await
            .unwrap()
            .1
            .len(),
        1
    );
}

async fn diff_shows_what_changed_row_by_row(b: TestDb) {
    let store = b.open().await;
    commit_recording(&store, 3).await;
    let from = store.last_position();
    let outcome = store.dispatch(Note::new("h-0", "more", 2)).await.unwrap();
    let new_stream = store.dispatch(Note::new("h-new", "new", 1)).await.unwrap();
    let to = new_stream.position.unwrap();
    let diff = store.diff(from, to, None).await.unwrap();
    assert_eq!((diff.from, diff.to), (from.0, to.0));
    let notes = &diff.tables["notes"];
    assert_eq!(notes.inserted.len(), 3);
    assert!(notes.updated.is_empty() && notes.deleted.is_empty());
    let tallies = &diff.tables["tallies"];
    assert_eq!(tallies.inserted.len(), 1);
    assert_eq!(tallies.inserted[0]["stream_id"], "h-new");
    assert_eq!(tallies.updated.len(), 1);
    let change = &tallies.updated[0];
    assert_eq!(change.before["stream_id"], "h-0");
    assert_eq!(
        change.after["events"].as_u64().unwrap(),
        change.before["events"].as_u64().unwrap() + 2
    );
    // One command's diff: from its position minus its event count.
    let last = outcome.position.unwrap();
    let one = store
        .diff(Position(last.0 - 2), last, Some("tallies".into()))
        .await
        .unwrap();
    assert_eq!(one.tables.keys().collect::<Vec<_>>(), vec!["tallies"]);
    assert!(store.diff(to, to, None).await.unwrap().tables.is_empty());
    let bad = store.diff(to, from, None).await.unwrap_err();
    assert_eq!(invalid_field(bad).as_deref(), Some("from"));
    let past = store
        .diff(from, Position(to.0 + 1), None)
        .await
        .unwrap_err();
    assert_eq!(invalid_field(past).as_deref(), Some("to"));
    let table = store
        .diff(from, to, Some("events".into()))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(table).as_deref(), Some("table"));
}

fn rejection_kind(err: Error) -> RejectionKind {
    match err {
        Error::Rejected(r) => r.kind,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

async fn revert_takes_a_command_back_and_redo_puts_it_again(b: TestDb) {
    let store = b.open().await;
    store.dispatch(Note::new("r-a", "a", 1)).await.unwrap();
    let target = store.dispatch(Note::new("r-b", "b", 2)).await.unwrap();
    store.dispatch(Note::new("r-a", "c", 1)).await.unwrap();
    let before_revert = store.last_position();
    let tallies_before = check::tallies(&store).await;
    let notes_before = check::notes(&store).await;

    let revert = store
        .revert(RevertTarget::Command(target.command_id), Context::default())
        .await
        .unwrap();
    assert_eq!(revert.events.len(), 1);
    let event = &revert.events[0];
    assert_eq!(event.event_type, "gesta.reverted");
    let data: serde_json::Value = event.data_as().unwrap();
    assert_eq!(
        data,
        serde_json::json!({ "command_ids": [target.command_id.to_string()] })
    );
    let without: Vec<TallyRow> = tallies_before
        .iter()
        .filter(|t| t.stream_id != "r-b")
        .cloned()
        .collect();
    assert_eq!(check::tallies(&store).await, without);
    let notes_without: Vec<NoteRow> = notes_before
        .iter()
        .filter(|n| n.stream_id != "r-b")
        .cloned()
        .collect();
    assert_eq!(check::notes(&store).await, notes_without);
    // History does not change: as of before the revert, the command is there.
    assert_eq!(tallies_at(&store, before_revert).await, tallies_before);
    assert_eq!(tallies_at(&store, revert.position.unwrap()).await, without);
    // New commands go on from the reverted state, and a rebuild agrees.
    store.dispatch(Note::new("r-a", "d", 1)).await.unwrap();
    let live = check::tallies(&store).await;
    store.rebuild_read_models().await.unwrap();
    assert_eq!(check::tallies(&store).await, live);

    let again = store
        .revert(RevertTarget::Command(target.command_id), Context::default())
        .await
        .unwrap_err();
    assert_eq!(rejection_kind(again), RejectionKind::Conflict);
    let unknown = store
        .revert(
            RevertTarget::Command(uuid::Uuid::now_v7()),
            Context::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(rejection_kind(unknown), RejectionKind::NotFound);

    // Redo: reverting the revert puts the command's events back.
    store
        .revert(RevertTarget::Command(revert.command_id), Context::default())
        .await
        .unwrap();
    let b_tally = check::tallies(&store)
        .await
        .into_iter()
        .find(|t| t.stream_id == "r-b")
        .expect("r-b is back");
    assert_eq!(b_tally.events, 2);
    let live = check::tallies(&store).await;
    store.rebuild_read_models().await.unwrap();
    assert_eq!(check::tallies(&store).await, live);
    // An idempotency key replays the outcome instead of reverting twice.
    let keyed = Context {
        idempotency_key: Some("undo-1".into()),
        ..Context::default()
    };
    let first = store
        .revert(RevertTarget::Command(target.command_id), keyed.clone())
        .await
        .unwrap();
    let replay = store
        .revert(RevertTarget::Command(target.command_id), keyed)
        .await
        .unwrap();
    assert_eq!(first.command_id, replay.command_id);
    assert_eq!(first.position, replay.position);
}

async fn revert_to_a_position_goes_back_there(b: TestDb) {
    let store = b.open().await;
    let seen = commit_recording(&store, 5).await;
    let (back_to, tallies) = seen[2].clone();
    let outcome = store
        .revert(RevertTarget::To(back_to), Context::default())
        .await
        .unwrap();
    let data: serde_json::Value = outcome.events[0].data_as().unwrap();
    assert_eq!(data["command_ids"].as_array().unwrap().len(), 3);
    assert_eq!(check::tallies(&store).await, tallies);
    let head = store.last_position();
    let err = store
        .revert(RevertTarget::To(Position(head.0 + 5)), Context::default())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(err).as_deref(), Some("to"));
    let err = store
        .revert(RevertTarget::To(head), Context::default())
        .await
        .unwrap_err();
    assert_eq!(rejection_kind(err), RejectionKind::Conflict);
}

async fn taking_a_snapshot_every_n_events_happens_by_itself(b: TestDb) {
    let options = StoreOptions::default().snapshots(5, 2);
    let store = b.open_with(options).await;
    commit_recording(&store, 12).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let listed = store.snapshots().await.unwrap();
        if listed.len() == 2 && listed[0].position + 5 > store.last_position().0 {
            assert!(listed[0].position > listed[1].position);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "snapshots: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_rebuilt(store: &Store, name: &str) -> gesta::history::ReadModelStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = store.read_model(name).await.unwrap();
        match status.rebuild.as_ref().map(|r| r.state) {
            Some(gesta::history::RebuildState::Done) => return status,
            Some(gesta::history::RebuildState::Failed) => panic!("rebuild failed: {status:?}"),
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "{status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_background_rebuild_loses_nothing_under_concurrent_commands(b: TestDb) {
    let store = b.open().await;
    for i in 0..60_u32 {
        let note = Note::new(&format!("bg-{}", i % 7), &format!("t{i}"), 1 + i % 3);
        store.dispatch(note).await.unwrap();
    }
    // Junk the log does not explain: a rebuild drops it.
    store
        .dispatch(Note::new("x", "x", 0).mode(crate::app::Mode::Scribble))
        .await
        .unwrap();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..40_u32 {
                    let note = Note::new(&format!("bg-w{w}"), &format!("w{w}-{i}"), 1);
                    store.dispatch(note).await.unwrap();
                }
            })
        })
        .collect();
    let started = store.rebuild_read_model("notes").await.unwrap();
    assert_eq!(started.state, gesta::history::ReadModelState::Rebuilding);
    let again = store.rebuild_read_model("notes").await;
    assert!(again.is_err() || wait_rebuilt(&store, "notes").await.rebuild.is_some());
    for writer in writers {
        writer.await.unwrap();
    }
    let status = wait_rebuilt(&store, "notes").await;
    assert_eq!(status.state, gesta::history::ReadModelState::Live);
    let log = check::gap_free_log(&store).await;
    check::read_model_matches_log(&store, &log).await;
    assert!(
        !check::tallies(&store)
            .await
            .iter()
            .any(|t| t.stream_id == "junk")
    );
    assert_eq!(status.position, status.head);
    let unknown = store.rebuild_read_model("nope").await.unwrap_err();
    assert_eq!(rejection_kind(unknown), RejectionKind::NotFound);
}

async fn a_new_read_model_version_is_rebuilt_in_the_background_at_open(b: TestDb) {
    if !b.survives_reopen() {
        return b.not_applicable("version rebuild", "the store does not survive a reopen");
    }
    let store = b.open().await;
    commit_recording(&store, 20).await;
    store
        .dispatch(Note::new("x", "x", 0).mode(crate::app::Mode::Scribble))
        .await
        .unwrap();
    let listed = store.read_models().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].version, listed[0].built_version), (1, 1));
    assert_eq!(listed[0].state, gesta::history::ReadModelState::Live);
    drop(store);
    let bumped = b.builder_for(bumped_app()).open().await.unwrap();
    let status = wait_rebuilt(&bumped, "notes").await;
    assert_eq!((status.version, status.built_version), (2, 2));
    let log = check::gap_free_log(&bumped).await;
    check::read_model_matches_log(&bumped, &log).await;
    drop(bumped);
    let again = b.builder_for(bumped_app()).open().await.unwrap();
    let status = again.read_model("notes").await.unwrap();
    assert!(status.rebuild.is_none(), "no second rebuild: {status:?}");
    assert_eq!(status.state, gesta::history::ReadModelState::Live);
}

/// A view over a read model's table (what a reporting tool would add) survives a
/// background rebuild and shows the rebuilt rows: PostgreSQL moves a rebuilt table
/// in only when nothing depends on the live one, and copies it otherwise.
async fn a_rebuild_keeps_a_view_over_the_live_tables(b: TestDb) {
    let app = crate::app::app().migration(gesta::Migration::new(
        "0003_tagged",
        "CREATE VIEW tagged AS SELECT stream_id, tag FROM notes",
    ));
    let store = b.builder_for(app).open().await.unwrap();
    commit_recording(&store, 12).await;
    store.rebuild_read_model("notes").await.unwrap();
    let status = wait_rebuilt(&store, "notes").await;
    assert_eq!(status.state, gesta::history::ReadModelState::Live);
    let log = check::gap_free_log(&store).await;
    check::read_model_matches_log(&store, &log).await;
    store.dispatch(Note::new("after", "late", 0)).await.unwrap();
    let (_, rows) = store
        .query_at(None, "SELECT COUNT(*) AS n FROM tagged", params! {})
        .await
        .unwrap();
    assert_eq!(rows[0].get::<u64>("n").unwrap(), store.last_position().0);
}

/// The projection counts `keep-*` events; a revert of applied events makes it start
/// over without them, a later revert's events are never applied.
async fn async_projections_respect_reverts(b: TestDb) {
    use crate::projected::{count, keep, open, projected, until};
    let projection =
        gesta::projection::Projection::new("p", &["projected"], keep(), |tx, event| {
            count(tx, event.stream_id.as_str())
        });
    let store = open(&b, Some(projection)).await;
    store.dispatch(Note::new("keep-1", "a", 2)).await.unwrap();
    let gone = store.dispatch(Note::new("keep-2", "b", 3)).await.unwrap();
    store.dispatch(Note::new("keep-1", "c", 1)).await.unwrap();
    until(&store, "p", "caught up", |s, head| s.checkpoint == head).await;
    assert_eq!(projected(&store).await.get("keep-2"), Some(&3));
    store
        .revert(RevertTarget::Command(gone.command_id), Context::default())
        .await
        .unwrap();
    store.dispatch(Note::new("keep-1", "d", 1)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = projected(&store).await;
        if !now.contains_key("keep-2") && now.get("keep-1") == Some(&4) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A log carried over by import (what `gesta copy` does) brings its reverts: the
/// target's read models are those of the source.
async fn an_imported_log_keeps_its_reverts(b: TestDb) {
    let store = b.open().await;
    commit_recording(&store, 4).await;
    let gone = store.dispatch(Note::new("imp-x", "x", 2)).await.unwrap();
    store.dispatch(Note::new("imp-y", "y", 1)).await.unwrap();
    store
        .revert(RevertTarget::Command(gone.command_id), Context::default())
        .await
        .unwrap();
    store.dispatch(Note::new("imp-y", "z", 1)).await.unwrap();
    let log = check::gap_free_log(&store).await;
    let target = Store::open("sqlite::memory:", crate::app::app())
        .await
        .unwrap();
    // In two batches, the revert in the second.
    let split = log.len() - 2;
    for events in [log[..split].to_vec(), log[split..].to_vec()] {
        let batch = gesta::ImportBatch {
            events,
            ..Default::default()
        };
        target.import(batch).await.unwrap();
    }
    assert_eq!(check::tallies(&target).await, check::tallies(&store).await);
    assert_eq!(check::notes(&target).await, check::notes(&store).await);
    assert!(
        !check::tallies(&target)
            .await
            .iter()
            .any(|t| t.stream_id == "imp-x")
    );
}
