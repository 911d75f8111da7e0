//! Importing events recorded elsewhere (`Store::import`, what `gesta copy` runs):
//! positions, ids, versions and timestamps kept; the importing app's reducers run;
//! a batch that does not continue the log, or reuses an id, changes nothing.

use gesta::event::{EventId, Position, RecordedEvent};
use gesta::{Error, ExpectedVersion, ImportBatch, LogQuery, MAX_PAGE, Store, StoredKey};

use crate::app::Note;
use crate::check::{self, append, noted};
use crate::harness::TestDb;

conformance!(
    imported_events_continue_the_log_as_recorded,
    a_batch_that_does_not_continue_the_log_changes_nothing,
    a_reused_event_id_changes_nothing,
);

/// A source log of `notes` Note commands of 3 events each over 7 streams, recorded in
/// a store of its own (in memory).
async fn source(notes: usize) -> Vec<RecordedEvent> {
    let store = Store::open("sqlite::memory:", crate::app::app())
        .await
        .expect("source store");
    for i in 0..notes {
        let note = Note::new(&format!("imp-{}", i % 7), &format!("t{i}"), 3);
        store.dispatch(note).await.expect("note");
    }
    let mut log = Vec::new();
    loop {
        let after = log
            .last()
            .map_or(Position(0), |e: &RecordedEvent| e.position);
        let page = store
            .read_all(LogQuery::after(after).limit(MAX_PAGE))
            .await
            .expect("read");
        if page.is_empty() {
            return log;
        }
        log.extend(page);
    }
}

fn batch(events: &[RecordedEvent]) -> ImportBatch {
    ImportBatch {
        events: events.to_vec(),
        ..Default::default()
    }
}

/// 900 events (more than one multi-row statement and one id lookup) in two batches:
/// the target's log is the source's, field by field; its read model matches; stream
/// versions continue (an append expecting the imported version succeeds); keys are
/// stored once.
async fn imported_events_continue_the_log_as_recorded(b: TestDb) {
    let log = source(300).await;
    assert_eq!(log.len(), 900);
    let store = b.open().await;
    let key = StoredKey {
        key: "imported-key".into(),
        outcome: r#"{"position":1}"#.into(),
        recorded_at: 1,
    };
    let first = ImportBatch {
        keys: vec![key.clone()],
        ..batch(&log[..650])
    };
    assert_eq!(store.import(first).await.expect("first batch"), 650);
    let second = ImportBatch {
        keys: vec![key],
        ..batch(&log[650..])
    };
    assert_eq!(store.import(second).await.expect("second batch"), 250);

    let imported = check::gap_free_log(&store).await;
    assert_eq!(imported.len(), log.len());
    for (got, recorded) in imported.iter().zip(&log) {
        check::same_event(got, recorded);
    }
    check::read_model_matches_log(&store, &imported).await;
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.idempotency_keys, 1);

    // imp-0 had notes 0, 7, ..., 294: 43 notes of 3 events.
    let appended = append(
        &store,
        "imp-0",
        ExpectedVersion::Exact(129),
        noted("imp-0", "after", 1),
    )
    .await
    .expect("append after the imported version");
    assert_eq!(appended.events[0].stream_version.0, 130);
    assert_eq!(appended.events[0].position, Position(901));
}

/// A batch starting past the target's head, or with a stream version that skips one,
/// is refused with `ImportMismatch` and leaves the target as it was.
async fn a_batch_that_does_not_continue_the_log_changes_nothing(b: TestDb) {
    let log = source(20).await;
    let store = b.open().await;
    store.import(batch(&log[..30])).await.expect("first 30");

    let skipped = store.import(batch(&log[31..])).await;
    assert!(
        matches!(skipped, Err(Error::ImportMismatch(ref why)) if why.contains("continues at 31")),
        "{skipped:?}"
    );
    let mut shifted = log[30..40].to_vec();
    shifted[5].stream_version.0 += 1;
    let wrong_version = store.import(batch(&shifted)).await;
    assert!(
        matches!(wrong_version, Err(Error::ImportMismatch(ref why)) if why.contains("version")),
        "{wrong_version:?}"
    );

    let kept = check::gap_free_log(&store).await;
    assert_eq!(kept.len(), 30);
    check::read_model_matches_log(&store, &kept).await;
    store.import(batch(&log[30..])).await.expect("the rest");
    assert_eq!(check::gap_free_log(&store).await.len(), 60);
}

/// An id used twice in a batch, or by an event already in the log, is refused with
/// `DuplicateEventId` naming it, and nothing of the batch is written.
async fn a_reused_event_id_changes_nothing(b: TestDb) {
    let log = source(100).await;
    let store = b.open().await;
    store.import(batch(&log[..240])).await.expect("first 240");

    let mut twice = log[240..].to_vec();
    let reused: EventId = twice[3].id;
    twice[50].id = reused;
    let within = store.import(batch(&twice)).await;
    assert!(
        matches!(within, Err(Error::DuplicateEventId(id)) if id == reused),
        "{within:?}"
    );

    let mut taken = log[240..].to_vec();
    let old: EventId = log[17].id;
    taken[45].id = old;
    let in_log = store.import(batch(&taken)).await;
    assert!(
        matches!(in_log, Err(Error::DuplicateEventId(id)) if id == old),
        "{in_log:?}"
    );

    let kept = check::gap_free_log(&store).await;
    assert_eq!(kept.len(), 240);
    check::read_model_matches_log(&store, &kept).await;
}
