//! Reading: one stream by version, the global log with filters, full scans.

use std::sync::{Arc, Mutex};

use gesta::event::{Position, RecordedEvent, StreamVersion};
use gesta::{Error, LogQuery, MAX_PAGE, StoreOptions};

use crate::app::{Note, Other};
use crate::check::{self, sid};
use crate::harness::TestDb;

conformance!(
    read_stream_pages,
    read_stream_not_found,
    read_all_filters,
    scan_past_one_page,
    reads_beyond_the_limit_wait_their_turn,
);

fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.stream_version.0).collect()
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position.0).collect()
}

async fn read_stream_pages(b: TestDb) {
    let store = b.open().await;
    store.dispatch(Note::new("page-1", "a", 6)).await.unwrap();
    store.dispatch(Note::new("page-2", "b", 1)).await.unwrap();
    store.dispatch(Note::new("page-1", "c", 4)).await.unwrap();
    let stream = sid("page-1");
    let read = |from: u64, limit: usize| store.read_stream(&stream, StreamVersion(from), limit);
    assert_eq!(
        versions(&read(1, 100).await.unwrap()),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(versions(&read(4, 3).await.unwrap()), [4, 5, 6]);
    assert_eq!(versions(&read(9, 5).await.unwrap()), [9, 10]);
    assert_eq!(positions(&read(6, 2).await.unwrap()), [6, 8]);
    assert!(
        read(11, 5).await.unwrap().is_empty(),
        "past the end is empty"
    );
    assert!(
        read(1, 0).await.unwrap().is_empty(),
        "limit 0 reads nothing"
    );
    let all = read(1, 100).await.unwrap();
    assert!(all.iter().all(|e| e.stream_id == stream));
    check::gap_free_log(&store).await;
}

async fn read_stream_not_found(b: TestDb) {
    let store = b.open().await;
    let missing = store
        .read_stream(&sid("nothing-1"), StreamVersion(1), 10)
        .await;
    assert!(matches!(&missing, Err(Error::StreamNotFound(s)) if *s == sid("nothing-1")));
    store
        .dispatch(Note::new("nothing-2", "a", 1))
        .await
        .unwrap();
    let missing = store
        .read_stream(&sid("nothing-1"), StreamVersion(1), 10)
        .await;
    assert!(
        matches!(missing, Err(Error::StreamNotFound(_))),
        "{missing:?}"
    );
}

async fn read_all_filters(b: TestDb) {
    let store = b.open().await;
    store.dispatch(Note::new("a-1", "x", 3)).await.unwrap(); // 1, 2, 3
    store
        .dispatch(Other {
            stream: "b-1".into(),
        })
        .await
        .unwrap(); // 4
    store.dispatch(Note::new("a-2", "y", 2)).await.unwrap(); // 5, 6
    store
        .dispatch(Other {
            stream: "b-1".into(),
        })
        .await
        .unwrap(); // 7
    let read = |q: LogQuery| async { positions(&store.read_all(q).await.unwrap()) };
    let from = |p: u64| LogQuery::after(Position(p));
    assert_eq!(read(from(0)).await, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(read(from(3)).await, [4, 5, 6, 7]);
    assert_eq!(read(from(2).limit(2)).await, [3, 4]);
    assert!(read(from(7)).await.is_empty());
    assert!(read(from(100)).await.is_empty());
    assert_eq!(read(from(0).event_type("Othered")).await, [4, 7]);
    assert_eq!(read(from(0).stream(sid("a-2"))).await, [5, 6]);
    let two_streams = from(0).stream(sid("a-1")).stream(sid("b-1"));
    assert_eq!(read(two_streams).await, [1, 2, 3, 4, 7]);
    let two_types = from(0).event_type("Othered").event_type("Noted");
    assert_eq!(read(two_types).await, [1, 2, 3, 4, 5, 6, 7]);
    assert!(
        read(from(0).event_type("Noted").stream(sid("b-1")))
            .await
            .is_empty()
    );
    assert_eq!(read(from(2).event_type("Noted").limit(2)).await, [3, 5]);
    assert!(read(from(0).event_type("Nothing")).await.is_empty());
}

/// More events than one page: `scan` returns every one, in order; `read_all` caps a
/// page at `MAX_PAGE`.
async fn scan_past_one_page(b: TestDb) {
    let store = b.open().await;
    let per_command = 1_005;
    for i in 0..10 {
        let note = Note::new(&format!("bulk-{}", i % 3), &format!("t{i}"), per_command);
        store.dispatch(note).await.unwrap();
    }
    let total = 10 * u64::from(per_command);
    assert!(total > MAX_PAGE as u64);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let count = store.scan(Position(0), move |e| {
        sink.lock().unwrap().push(e.position.0)
    });
    assert_eq!(count.await.unwrap(), total);
    assert_eq!(*seen.lock().unwrap(), (1..=total).collect::<Vec<_>>());

    let tail = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&tail);
    let count = store.scan(Position(total - 60), move |e| {
        sink.lock().unwrap().push(e.position.0)
    });
    assert_eq!(count.await.unwrap(), 60);
    assert_eq!(
        *tail.lock().unwrap(),
        (total - 59..=total).collect::<Vec<_>>()
    );

    let page = store.read_all(LogQuery::after(Position(0)).limit(2 * MAX_PAGE));
    assert_eq!(page.await.unwrap().len(), MAX_PAGE);
    check::gap_free_log(&store).await;
}

/// With `max_readers` 3, 24 reads started together run at most 3 at a time (each on
/// a connection of its own), and all of them complete with the right answer.
async fn reads_beyond_the_limit_wait_their_turn(b: TestDb) {
    if b.name() == "sqlite_memory" {
        return b.not_applicable(
            "reads_beyond_the_limit_wait_their_turn",
            "in-memory SQLite reads on the writer's connection, one at a time",
        );
    }
    let store = b.open_with(StoreOptions::default().readers(3, 2)).await;
    store.dispatch(Note::new("turns", "a", 2)).await.unwrap();
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let (store, running, most) = (store.clone(), Arc::clone(&running), Arc::clone(&most));
        reads.spawn(async move {
            store
                .read(move |tx| {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = running.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    let rows = tx.query("SELECT position FROM events", &gesta::params! {});
                    running.fetch_sub(1, SeqCst);
                    Ok(rows?.len())
                })
                .await
        });
    }
    while let Some(read) = reads.join_next().await {
        assert_eq!(read.expect("read task").expect("read"), 2);
    }
    let most = most.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most <= 3, "{most} reads ran at once");
    assert!(most >= 2, "reads ran one at a time ({most})");
}
