//! Archival: the oldest events move to segment files and every read still returns
//! them exactly as before (same ids, positions, times, data); expected versions and
//! idempotency keys keep working for archived streams; stats count both; archiving
//! again is a no-op; a second location is refused.

use gesta::archive::{ArchiveOptions, ArchiveUpTo};
use gesta::event::{Position, RecordedEvent, StreamVersion};
use gesta::history::AsOf;
use gesta::subscription::Start;
use gesta::{Context, Error, ExpectedVersion, LogQuery, params};

use crate::app::{NOTED, Note};
use crate::check::{self, sid};
use crate::harness::TestDb;

conformance!(
    archived_events_read_as_before,
    archived_reverts_still_skip_on_replay
);

fn same(a: &[RecordedEvent], b: &[RecordedEvent]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        check::same_event(x, y);
        // Byte for byte: the archive keeps the text the live table gave.
        assert_eq!(x.data.get(), y.data.get());
        assert_eq!(x.metadata.get(), y.metadata.get());
    }
}

async fn live_rows(store: &gesta::Store) -> i64 {
    store
        .query("SELECT COUNT(*) AS n FROM events", params! {})
        .await
        .unwrap()[0]
        .get("n")
        .unwrap()
}

async fn archived_events_read_as_before(b: TestDb) {
    let store = b.open().await;
    let mut keyed = Vec::new();
    for i in 0..40u32 {
        let note = Note::new(&format!("arc-{}", i % 5), &format!("t{i}"), 1 + i % 3);
        let ctx = Context {
            idempotency_key: Some(format!("note-{i}")),
            ..Context::default()
        };
        let outcome = store.dispatch_with(note, ctx).await.unwrap();
        keyed.push(outcome);
    }
    let before = check::gap_free_log(&store).await;
    let head = before.len() as u64;
    let stream_before = store
        .read_stream(&sid("arc-2"), StreamVersion(1), 1000)
        .await
        .unwrap();
    let typed_before = store
        .read_all(
            LogQuery::after(Position(0))
                .limit(1000)
                .category("arc")
                .event_type(NOTED),
        )
        .await
        .unwrap();
    let (notes_then, tallies_then) = check::expected_read_model(&before[..30]);
    let tallies_now = check::tallies(&store).await;

    let dir = tempfile::tempdir().unwrap();
    let to = format!("file://{}", dir.path().display());
    let options = ArchiveOptions {
        segment_events: 25,
        ..ArchiveOptions::new(to.clone(), ArchiveUpTo::Keep(10))
    };
    let mut seen = Vec::new();
    let report = store
        .archive(options.clone(), |r| seen.push(r.archived_to))
        .await
        .unwrap();
    let archived = head - 10;
    assert_eq!(report.events, archived);
    assert_eq!(report.archived_to, archived);
    assert_eq!(report.segments, archived.div_ceil(25));
    assert_eq!(seen.last(), Some(&archived));
    assert_eq!(live_rows(&store).await, 10, "only the newest 10 stay live");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["segments"].as_array().unwrap().len() as u64,
        report.segments
    );
    assert_eq!(manifest["segments"][0]["first_position"], 1);

    // Every read answers as before.
    same(&check::gap_free_log(&store).await, &before);
    same(
        &store
            .read_stream(&sid("arc-2"), StreamVersion(1), 1000)
            .await
            .unwrap(),
        &stream_before,
    );
    let from_three = store
        .read_stream(&sid("arc-2"), StreamVersion(3), 2)
        .await
        .unwrap();
    same(&from_three, &stream_before[2..4]);
    same(
        &store
            .read_all(
                LogQuery::after(Position(0))
                    .limit(1000)
                    .category("arc")
                    .event_type(NOTED),
            )
            .await
            .unwrap(),
        &typed_before,
    );
    same(
        &store
            .read_all(LogQuery::after(Position(7)).limit(3))
            .await
            .unwrap(),
        &before[7..10],
    );
    same(
        &store
            .read_stored(LogQuery::after(Position(0)).limit(1000))
            .await
            .unwrap(),
        &before,
    );
    let mut subscription = store
        .subscribe(Start::After(Position(0)), LogQuery::default())
        .await
        .unwrap();
    let mut streamed = Vec::new();
    for _ in 0..head {
        streamed.push(RecordedEvent::clone(&subscription.next().await.unwrap()));
    }
    same(&streamed, &before);

    // Expected versions hold for archived streams; idempotent retries answer the
    // first outcome, read back from the archive.
    let version = stream_before.len() as u64;
    let wrong = Note {
        expected: ExpectedVersion::Exact(version - 1),
        ..Note::new("arc-2", "late", 1)
    };
    check::wrong_version(
        store.dispatch(wrong).await.unwrap_err(),
        "arc-2",
        ExpectedVersion::Exact(version - 1),
        version,
    );
    let retry = store
        .dispatch_with(
            Note::new("arc-0", "t0", 1),
            Context {
                idempotency_key: Some("note-0".into()),
                ..Context::default()
            },
        )
        .await
        .unwrap();
    assert!(retry.replayed);
    // (Compared as JSON: the first answer is the text the command produced, which
    // PostgreSQL's jsonb respaces in the log.)
    assert_eq!(retry.events.len(), keyed[0].events.len());
    for (a, b) in retry.events.iter().zip(&keyed[0].events) {
        check::same_event(a, b);
    }

    // Rebuilds and as-of replay through the archive.
    store.rebuild_read_models().await.unwrap();
    assert_eq!(check::tallies(&store).await, tallies_now);
    let at = before[29].position;
    let rows = store
        .at(at)
        .query(
            "SELECT position, stream_id, version, tag FROM notes ORDER BY position",
            params! {},
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), notes_then.len());
    let tallies = store
        .at(AsOf::Time(before[4].recorded_at))
        .query(
            "SELECT stream_id, events FROM tallies ORDER BY stream_id",
            params! {},
        )
        .await
        .unwrap();
    assert!(!tallies.is_empty() && tallies.len() <= tallies_then.len());

    // Stats count both; archiving again moves nothing; one store, one archive.
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.events, stats.live_events, stats.archived_events),
        (head, 10, archived)
    );
    assert_eq!((stats.first_position, stats.last_position), (1, head));
    assert_eq!(stats.types.iter().map(|t| t.count).sum::<u64>(), head);
    assert_eq!(stats.archive.as_deref(), Some(to.as_str()));
    assert!(
        stats.live_bytes > 0 && stats.archived_bytes > 0,
        "{stats:?}"
    );
    let again = store.archive(options.clone(), |_| {}).await.unwrap();
    assert_eq!((again.events, again.archived_to), (0, archived));
    let elsewhere = tempfile::tempdir().unwrap();
    let other = ArchiveOptions::new(
        format!("file://{}", elsewhere.path().display()),
        ArchiveUpTo::Keep(0),
    );
    assert!(matches!(
        store.archive(other, |_| {}).await,
        Err(Error::InvalidInput { .. })
    ));
    for bad in ["ftp://x", "file://relative/dir", "s3://"] {
        let options = ArchiveOptions::new(bad, ArchiveUpTo::Keep(0));
        assert!(
            matches!(store.archive(options, |_| {}).await, Err(Error::Archive(_))),
            "{bad}"
        );
    }

    // Keep 0 still keeps the head event live; writes go on at the next position.
    store
        .archive(
            ArchiveOptions::new(to.clone(), ArchiveUpTo::Keep(0)),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(live_rows(&store).await, 1);
    let next = store
        .dispatch(Note::new("arc-9", "after", 1))
        .await
        .unwrap();
    assert_eq!(next.position, Some(Position(head + 1)));
    let log = check::gap_free_log(&store).await;
    same(&log[..before.len()], &before);

    if b.survives_reopen() {
        drop(subscription);
        drop(store);
        let reopened = b.open().await;
        same(
            &check::gap_free_log(&reopened).await[..before.len()],
            &before,
        );
    }
}

/// A revert recorded in the archive still takes its command out of every replay.
async fn archived_reverts_still_skip_on_replay(b: TestDb) {
    let store = b.open().await;
    let mut undone = None;
    for i in 0..12u32 {
        let outcome = store
            .dispatch(Note::new(&format!("rv-{}", i % 3), &format!("t{i}"), 1))
            .await
            .unwrap();
        if i == 4 {
            undone = Some(outcome.command_id);
        }
    }
    store
        .revert(
            gesta::history::RevertTarget::Command(undone.unwrap()),
            Context::default(),
        )
        .await
        .unwrap();
    store.dispatch(Note::new("rv-0", "last", 1)).await.unwrap();
    let tallies = check::tallies(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let options = ArchiveOptions::new(
        format!("file://{}", dir.path().display()),
        ArchiveUpTo::Keep(1),
    );
    let report = store.archive(options, |_| {}).await.unwrap();
    assert_eq!(
        report.archived_to,
        store.last_position().0 - 1,
        "the revert is archived"
    );
    store.rebuild_read_models().await.unwrap();
    assert_eq!(
        check::tallies(&store).await,
        tallies,
        "the reverted command stays out"
    );
}
