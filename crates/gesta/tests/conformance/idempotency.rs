//! Idempotency keys: a retry returns the first successful outcome and writes nothing.

use gesta::{CommandOutcome, Context, Error, ExpectedVersion};
use tokio::task::JoinSet;

use crate::app::{Mode, Note, Other};
use crate::check::{self, noted, sid};
use crate::harness::TestDb;

conformance!(
    retry_replays_outcome,
    retry_of_empty_outcome,
    concurrent_retries,
    key_reused_by_other_command,
    failed_command_keeps_key,
    direct_append_retry,
);

fn keyed(key: &str) -> Context {
    Context {
        idempotency_key: Some(key.to_owned()),
        ..Context::default()
    }
}

/// Asserts `replay` is `first` replayed: same command id and events, flagged.
fn is_replay_of(replay: &CommandOutcome, first: &CommandOutcome) {
    assert!(!first.replayed);
    assert!(replay.replayed, "a retry was not flagged as replayed");
    assert_eq!(replay.command_id, first.command_id);
    assert_eq!(replay.position, first.position);
    assert_eq!(replay.events.len(), first.events.len());
    for (a, b) in replay.events.iter().zip(&first.events) {
        check::same_event(a, b);
    }
}

async fn retry_replays_outcome(b: TestDb) {
    let store = b.open().await;
    let note = Note::new("idem-1", "a", 2);
    let first = store
        .dispatch_with(note.clone(), keyed("k-1"))
        .await
        .unwrap();
    let keys_before = store.stats().await.unwrap().idempotency_keys;
    for _ in 0..3 {
        let replay = store
            .dispatch_with(note.clone(), keyed("k-1"))
            .await
            .unwrap();
        is_replay_of(&replay, &first);
    }
    // The stored outcome is returned even if the retry's payload differs.
    let changed = Note::new("idem-1", "changed", 5);
    let replay = store.dispatch_with(changed, keyed("k-1")).await.unwrap();
    is_replay_of(&replay, &first);

    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), 2, "a retry wrote events");
    check::read_model_matches_log(&store, &log).await;
    assert_eq!(store.stats().await.unwrap().idempotency_keys, keys_before);
    // Another key is another command.
    let other = store.dispatch_with(note, keyed("k-2")).await.unwrap();
    assert!(!other.replayed);
    assert_ne!(other.command_id, first.command_id);
    assert_eq!(check::gap_free_log(&store).await.len(), 4);
}

async fn retry_of_empty_outcome(b: TestDb) {
    let store = b.open().await;
    let first = store.dispatch_with(Note::new("idem-2", "none", 0), keyed("k-0"));
    let first = first.await.unwrap();
    assert!(first.events.is_empty() && first.position.is_none());
    let replay = store.dispatch_with(Note::new("idem-2", "none", 0), keyed("k-0"));
    is_replay_of(&replay.await.unwrap(), &first);
}

/// Retries racing each other (likely in the same batch): one runs, the rest replay it.
async fn concurrent_retries(b: TestDb) {
    let store = b.open().await;
    let mut tasks = JoinSet::new();
    for _ in 0..30 {
        let store = store.clone();
        let note = Note::new("idem-3", "race", 3);
        tasks.spawn(async move { store.dispatch_with(note, keyed("k-race")).await });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.unwrap().unwrap());
    }
    let (firsts, replays): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|o| !o.replayed);
    assert_eq!(firsts.len(), 1, "the command ran more than once");
    for replay in &replays {
        is_replay_of(replay, &firsts[0]);
    }
    assert_eq!(check::gap_free_log(&store).await.len(), 3);
}

async fn key_reused_by_other_command(b: TestDb) {
    let store = b.open().await;
    store
        .dispatch_with(Note::new("idem-4", "a", 1), keyed("k-4"))
        .await
        .unwrap();
    let reused = store
        .dispatch_with(
            Other {
                stream: "idem-5".into(),
            },
            keyed("k-4"),
        )
        .await;
    match reused {
        Err(Error::IdempotencyKeyReused { key, first_command }) => {
            assert_eq!((key.as_str(), first_command.as_str()), ("k-4", "Note"));
        }
        other => panic!("expected IdempotencyKeyReused, got {other:?}"),
    }
    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), 1);
    assert!(log.iter().all(|e| e.stream_id != sid("idem-5")));
}

/// A refused, failed or panicking command stores no outcome: the key stays free.
async fn failed_command_keeps_key(b: TestDb) {
    let store = b.open().await;
    for mode in [Mode::Reject, Mode::Fail, Mode::Panic, Mode::PoisonReducer] {
        let note = Note::new("idem-6", "bad", 1).mode(mode);
        let result = store.dispatch_with(note, keyed("k-6")).await;
        assert!(result.is_err(), "{mode:?} succeeded");
    }
    let conflict = Note::new("idem-6", "conflict", 1).expect(ExpectedVersion::Exact(7));
    let result = store.dispatch_with(conflict, keyed("k-6")).await;
    assert!(matches!(result, Err(Error::WrongExpectedVersion { .. })));
    assert_eq!(store.stats().await.unwrap().idempotency_keys, 0);

    let good = store.dispatch_with(Note::new("idem-6", "good", 1), keyed("k-6"));
    let good = good.await.unwrap();
    assert!(!good.replayed, "a failed command consumed the key");
    let replay = store.dispatch_with(Note::new("idem-6", "good", 1), keyed("k-6"));
    is_replay_of(&replay.await.unwrap(), &good);
    assert_eq!(check::gap_free_log(&store).await.len(), 1);
}

async fn direct_append_retry(b: TestDb) {
    let store = b.open().await;
    let request = gesta::AppendRequest {
        stream_id: sid("idem-7"),
        expected: ExpectedVersion::NoStream,
        events: noted("idem-7", "a", 2),
    };
    let first = store.append(request.clone(), keyed("k-7")).await.unwrap();
    // A retry would conflict on `NoStream`; the stored outcome is returned instead.
    let replay = store.append(request, keyed("k-7")).await.unwrap();
    is_replay_of(&replay, &first);
    let as_command = store
        .dispatch_with(Note::new("idem-8", "a", 1), keyed("k-7"))
        .await;
    assert!(matches!(
        as_command,
        Err(Error::IdempotencyKeyReused { .. })
    ));
    assert_eq!(check::gap_free_log(&store).await.len(), 2);
}
