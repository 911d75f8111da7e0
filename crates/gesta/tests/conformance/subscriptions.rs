//! Subscriptions: catch up from any position, then live, in order, none skipped,
//! none twice; filters by stream, category and type; commits of another store on the
//! same database are noticed.

use std::time::Duration;

use gesta::event::Position;
use gesta::subscription::{Start, Subscription};
use gesta::{ExpectedVersion, LogQuery, StoreOptions};
use tokio::task::JoinSet;

use crate::app::Note;
use crate::check::{self, append, noted};
use crate::harness::TestDb;

conformance!(
    catch_up_then_live_without_gaps_or_duplicates,
    filters_by_stream_category_and_type,
    start_now_sees_only_later_events,
    live_events_are_filtered_like_the_log,
    commits_of_another_store_are_noticed,
    batches_hold_what_is_at_hand_in_order,
);

/// Takes `n` events from `subscription`, failing if they take longer than 10 s.
async fn take(subscription: &mut Subscription, n: usize) -> Vec<gesta::event::RecordedEvent> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        let next = tokio::time::timeout(Duration::from_secs(10), subscription.next());
        events.push(
            next.await
                .expect("an event within 10 s")
                .expect("subscription")
                .into_event(),
        );
    }
    events
}

/// 300 events exist; a subscription from position 100 gets 101..=300, then the 200
/// events 20 concurrent writers commit while it reads: 101..=500, each exactly once.
async fn catch_up_then_live_without_gaps_or_duplicates(b: TestDb) {
    let store = b.open().await;
    for i in 0..30 {
        store
            .dispatch(Note::new(&format!("s-{}", i % 4), "old", 10))
            .await
            .expect("note");
    }
    let mut subscription = store
        .subscribe(Start::After(Position(100)), LogQuery::default())
        .await
        .expect("subscribe");
    let mut writers = JoinSet::new();
    for w in 0..20 {
        let store = store.clone();
        writers.spawn(async move {
            for i in 0..5 {
                let note = Note::new(&format!("live-{w}"), &format!("w{w}-{i}"), 2);
                store.dispatch(note).await.expect("live note");
            }
        });
    }
    let events = take(&mut subscription, 400).await;
    let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, (101..=500).collect::<Vec<_>>());
    while writers.join_next().await.is_some() {}
    let log = check::gap_free_log(&store).await;
    for (got, stored) in events.iter().zip(&log[100..]) {
        check::same_event(got, stored);
    }
}

async fn filters_by_stream_category_and_type(b: TestDb) {
    let store = b.open().await;
    for stream in [
        "account-1",
        "account-2",
        "accountant-1",
        "account",
        "order-1",
    ] {
        append(&store, stream, ExpectedVersion::Any, noted(stream, "x", 2))
            .await
            .expect("append");
    }
    let by_category = LogQuery::default().category("account");
    let mut subscription = store
        .subscribe(Start::After(Position(0)), by_category)
        .await
        .expect("subscribe");
    let streams: Vec<String> = take(&mut subscription, 6)
        .await
        .iter()
        .map(|e| e.stream_id.to_string())
        .collect();
    assert_eq!(
        streams,
        [
            "account-1",
            "account-1",
            "account-2",
            "account-2",
            "account",
            "account"
        ]
    );

    let either = LogQuery::default()
        .stream(check::sid("order-1"))
        .category("accountant");
    let mut subscription = store
        .subscribe(Start::After(Position(0)), either)
        .await
        .expect("subscribe");
    let positions: Vec<u64> = take(&mut subscription, 4)
        .await
        .iter()
        .map(|e| e.position.0)
        .collect();
    assert_eq!(positions, [5, 6, 9, 10]);

    store
        .dispatch(Note::new("account-3", "typed", 1))
        .await
        .expect("note");
    let typed = LogQuery::default()
        .event_type(crate::app::NOTED)
        .category("account");
    let mut subscription = store
        .subscribe(Start::After(Position(6)), typed)
        .await
        .expect("subscribe");
    let positions: Vec<u64> = take(&mut subscription, 3)
        .await
        .iter()
        .map(|e| e.position.0)
        .collect();
    assert_eq!(positions, [7, 8, 11]);
}

async fn start_now_sees_only_later_events(b: TestDb) {
    let store = b.open().await;
    store
        .dispatch(Note::new("s-1", "before", 3))
        .await
        .expect("note");
    let mut subscription = store
        .subscribe(Start::Now, LogQuery::default())
        .await
        .expect("subscribe");
    assert_eq!(subscription.cursor(), Position(3));
    store
        .dispatch(Note::new("s-1", "after", 1))
        .await
        .expect("note");
    let event = take(&mut subscription, 1).await.remove(0);
    assert_eq!(event.position, Position(4));
}

/// A subscription on one store sees what a second store (another process, in effect)
/// commits to the same database: pushed on PostgreSQL, within a few poll intervals
/// elsewhere.
async fn commits_of_another_store_are_noticed(b: TestDb) {
    if !b.survives_reopen() {
        return b.not_applicable(
            "commits_of_another_store_are_noticed",
            "an in-memory database has one store",
        );
    }
    // PostgreSQL pushes commits (LISTEN/NOTIFY): with a poll interval far beyond the
    // 10 s `take` allows, only the push can deliver there. Elsewhere, polling does.
    let poll = if b.name() == "postgres" {
        Duration::from_secs(60)
    } else {
        Duration::from_millis(50)
    };
    let options = StoreOptions::default().poll_interval(poll);
    let (reader, writer) = (b.open_with(options).await, b.open().await);
    let mut subscription = reader
        .subscribe(Start::Now, LogQuery::default())
        .await
        .expect("subscribe");
    writer
        .dispatch(Note::new("elsewhere-1", "x", 2))
        .await
        .expect("note");
    let events = take(&mut subscription, 2).await;
    assert_eq!(
        events.iter().map(|e| e.position.0).collect::<Vec<_>>(),
        [1, 2]
    );
    // Now the subscription is waiting (caught up) when the other store commits: only
    // a push (PostgreSQL) or a poll (elsewhere) can wake it.
    let waiting = tokio::spawn(async move { take(&mut subscription, 1).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    writer
        .dispatch(Note::new("elsewhere-1", "y", 1))
        .await
        .expect("note");
    assert_eq!(waiting.await.expect("task")[0].position, Position(3));
}

/// Events that arrive live (published by this process's writer, not read back from
/// the log) pass the same filters as events read from the log.
async fn live_events_are_filtered_like_the_log(b: TestDb) {
    let store = b.open().await;
    let filter = LogQuery::default()
        .category("account")
        .stream(check::sid("order-9"));
    let mut subscription = store
        .subscribe(Start::Now, filter)
        .await
        .expect("subscribe");
    for stream in [
        "account-1",
        "accountant-1",
        "order-9",
        "order-1",
        "account",
        "account-2",
    ] {
        store
            .dispatch(Note::new(stream, "live", 1))
            .await
            .expect("note");
    }
    let streams: Vec<String> = take(&mut subscription, 4)
        .await
        .iter()
        .map(|e| e.stream_id.to_string())
        .collect();
    assert_eq!(streams, ["account-1", "order-9", "account", "account-2"]);
}

/// `next_batch` hands out everything at hand (read pages, then published batches) in
/// order, none twice, at most `max` at a time; `ready` never waits and is empty when
/// nothing is at hand.
async fn batches_hold_what_is_at_hand_in_order(b: TestDb) {
    let store = b.open().await;
    for i in 0..25 {
        store
            .dispatch(Note::new(&format!("s-{}", i % 3), "old", 2))
            .await
            .expect("note");
    }
    let mut subscription = store
        .subscribe(Start::After(Position(0)), LogQuery::default())
        .await
        .expect("subscribe");
    let mut positions = Vec::new();
    while positions.len() < 50 {
        let next = tokio::time::timeout(Duration::from_secs(10), subscription.next_batch(7));
        let batch = next.await.expect("a batch within 10 s").expect("batch");
        assert!(
            !batch.is_empty() && batch.len() <= 7,
            "{} events",
            batch.len()
        );
        positions.extend(batch.iter().map(|e| e.position.0));
    }
    assert_eq!(positions, (1..=50).collect::<Vec<_>>());
    assert_eq!(subscription.cursor(), Position(50));
    assert!(subscription.ready(10).is_empty(), "nothing more at hand");

    for i in 0..10 {
        store
            .dispatch(Note::new(&format!("live-{i}"), "new", 3))
            .await
            .expect("note");
    }
    let mut live = Vec::new();
    while live.len() < 30 {
        let next = tokio::time::timeout(Duration::from_secs(10), subscription.next_batch(100));
        let batch = next.await.expect("a batch within 10 s").expect("batch");
        live.extend(batch.iter().map(|e| e.position.0));
        live.extend(subscription.ready(100).iter().map(|e| e.position.0));
    }
    assert_eq!(live, (51..=80).collect::<Vec<_>>());
    assert_eq!(subscription.cursor(), Position(80));
}
