//! Rebuilding read models from the log, and reopening a store.

use gesta::ExpectedVersion;
use gesta::event::{Position, StreamVersion};
use gesta::{Context, Store};

use crate::app::{Mode, Note};
use crate::check::{self, TallyRow, append, noted, sid};
use crate::harness::TestDb;

conformance!(rebuild_reproduces_read_model, restart_resumes_positions);

/// Commits a mix of commands (a third of them failing) and a direct append.
async fn history(store: &Store) {
    const MODES: [Mode; 3] = [Mode::Commit, Mode::Reject, Mode::PoisonReducer];
    for i in 0..30_u32 {
        let mode = MODES[i as usize % 3];
        let note = Note::new(&format!("rb-{}", i % 4), &format!("t{i}"), 1 + i % 3).mode(mode);
        let result = store.dispatch(note).await;
        assert_eq!(result.is_ok(), mode == Mode::Commit, "{result:?}");
    }
    let imported = noted("rb-9", "imported", 4);
    append(store, "rb-9", ExpectedVersion::Any, imported)
        .await
        .unwrap();
}

async fn rebuild_reproduces_read_model(b: TestDb) {
    let store = b.open().await;
    history(&store).await;
    // A handler that writes the read model directly (bypassing the log): a rebuild
    // must drop what the log does not explain.
    store
        .dispatch(Note::new("x", "x", 0).mode(Mode::Scribble))
        .await
        .unwrap();
    let notes = check::notes(&store).await;
    let tallies = check::tallies(&store).await;
    let junk = TallyRow {
        stream_id: "junk".into(),
        events: 1,
    };
    assert!(tallies.contains(&junk));

    let log = check::gap_free_log(&store).await;
    assert_eq!(store.rebuild_read_models().await.unwrap(), log.len() as u64);
    assert_eq!(check::notes(&store).await, notes);
    let without_junk: Vec<TallyRow> = tallies.into_iter().filter(|t| *t != junk).collect();
    assert_eq!(check::tallies(&store).await, without_junk);
    check::read_model_matches_log(&store, &log).await;

    // The store keeps working after a rebuild, positions continuing.
    let next = store.dispatch(Note::new("rb-1", "after", 1)).await.unwrap();
    assert_eq!(next.position, Some(Position(log.len() as u64 + 1)));
    check::read_model_matches_log(&store, &check::gap_free_log(&store).await).await;
}

async fn restart_resumes_positions(b: TestDb) {
    if !b.survives_reopen() {
        return b.not_applicable("restart_resumes_positions", "nothing survives a reopen");
    }
    let store = b.open().await;
    history(&store).await;
    let keyed = Context {
        idempotency_key: Some("k-restart".into()),
        ..Context::default()
    };
    let first = store
        .dispatch_with(Note::new("rb-1", "keyed", 1), keyed.clone())
        .await
        .unwrap();
    // A failed command at the very end must not leave a position behind.
    let _ = store
        .dispatch(Note::new("rb-1", "bad", 2).mode(Mode::Fail))
        .await;
    let before = check::gap_free_log(&store).await;
    let version = store
        .read_stream(&sid("rb-1"), StreamVersion(1), 1000)
        .await
        .unwrap()
        .len();
    drop(store);

    let store = b.open().await;
    assert_eq!(store.last_position(), Position(before.len() as u64));
    let next = store.dispatch(Note::new("rb-1", "after", 2)).await.unwrap();
    let placed: Vec<(u64, u64)> = next
        .events
        .iter()
        .map(|e| (e.position.0, e.stream_version.0))
        .collect();
    let (p, v) = (before.len() as u64, version as u64);
    assert_eq!(placed, [(p + 1, v + 1), (p + 2, v + 2)]);
    let replay = store
        .dispatch_with(Note::new("rb-1", "keyed", 1), keyed)
        .await
        .unwrap();
    assert!(replay.replayed, "the idempotency key was lost on restart");
    assert_eq!(replay.command_id, first.command_id);
    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), before.len() + 2);
    check::read_model_matches_log(&store, &log).await;
}
