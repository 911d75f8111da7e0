//! Reactors: in-order, at-least-once delivery from a durable checkpoint; retries with
//! backoff, then parking; retry and skip of parked events; rebuilds never re-run a
//! reactor; over one database only one store runs a reactor, and another takes over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gesta::event::{Position, RecordedEvent};
use gesta::reactor::{Reactor, ReactorOptions};
use gesta::{LogQuery, Store, StoreOptions};
use tokio::task::JoinSet;

use crate::app::{Note, Noted};
use crate::harness::TestDb;

conformance!(
    delivers_matching_events_in_order_and_keeps_its_checkpoint_current,
    resumes_from_its_checkpoint_after_a_clean_stop_and_after_a_crash,
    failing_events_are_retried_with_backoff_then_parked,
    parked_events_can_be_retried_or_skipped,
    rebuilding_read_models_never_reruns_a_reactor,
    one_of_two_stores_runs_a_reactor_and_the_other_takes_over,
);

/// How long any wait in this file may take.
const PATIENCE: Duration = Duration::from_secs(20);

/// Small retry, checkpoint and lock intervals, so the tests run in milliseconds.
fn fast() -> ReactorOptions {
    ReactorOptions::default()
        .retries(3, Duration::from_millis(20), Duration::from_millis(40))
        .checkpoint(5, Duration::from_millis(50))
        .lock_retry(Duration::from_millis(50))
}

/// Every call a reactor got: the event and when.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<(RecordedEvent, Instant)>>>);

impl Calls {
    /// A reactor named `name` that records every call and succeeds, unless `fail`
    /// says the event should fail (then it records the call and fails).
    fn reactor(&self, name: &str, filter: LogQuery, fail: Fail) -> Reactor {
        let calls = self.clone();
        Reactor::new(name, filter, move |event: RecordedEvent| {
            let (calls, fail) = (calls.clone(), fail.clone());
            async move {
                let failing = fail.fails(&event);
                calls.0.lock().unwrap().push((event, Instant::now()));
                if failing {
                    return Err("bad refused".into());
                }
                Ok(())
            }
        })
        .options(fast())
    }

    fn positions(&self) -> Vec<u64> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(e, _)| e.position.0)
            .collect()
    }

    fn times_of(&self, position: u64) -> Vec<Instant> {
        let calls = self.0.lock().unwrap();
        calls
            .iter()
            .filter(|(e, _)| e.position.0 == position)
            .map(|(_, t)| *t)
            .collect()
    }

    /// Waits until `done` holds for the positions called so far.
    async fn until(&self, what: &str, done: impl Fn(&[u64]) -> bool) -> Vec<u64> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let positions = self.positions();
            if done(&positions) {
                return positions;
            }
            assert!(Instant::now() < deadline, "{what}: only {positions:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn until_count(&self, n: usize) -> Vec<u64> {
        self.until(&format!("{n} calls"), |p| p.len() >= n).await
    }
}

/// Which events a test reactor fails: those tagged `bad` while `healthy` is false.
#[derive(Clone, Default)]
struct Fail {
    healthy: Arc<AtomicBool>,
}

impl Fail {
    fn fails(&self, event: &RecordedEvent) -> bool {
        let bad = event.data_as::<Noted>().is_ok_and(|n| n.tag == "bad");
        bad && !self.healthy.load(Ordering::SeqCst)
    }
}

/// A store of the suite's app with `reactors`, noticing other stores' commits fast.
async fn open_with(b: &TestDb, reactors: Vec<Reactor>) -> Store {
    let options = StoreOptions::default().poll_interval(Duration::from_millis(20));
    let mut builder = b.builder().options(options);
    for reactor in reactors {
        builder = builder.reactor(reactor);
    }
    builder.open().await.expect("open with reactors")
}

async fn note(store: &Store, stream: &str, tag: &str, events: u32) -> Position {
    let outcome = store
        .dispatch(Note::new(stream, tag, events))
        .await
        .expect("note");
    outcome.position.expect("events written")
}

/// Waits until `status` holds for reactor `name` as `store` reports it.
async fn until_status(
    store: &Store,
    name: &str,
    what: &str,
    done: impl Fn(&gesta::reactor::ReactorStatus) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let statuses = store.reactors().await.expect("reactors");
        let status = statuses.iter().find(|s| s.name == name);
        if status.is_some_and(&done) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// 10 writers interleave events on `keep-*` and `drop-*` streams: a reactor filtered to
/// the `keep` category gets exactly its events, once each, in log order; an unfiltered
/// one gets all of them. Both checkpoints then reach the head (the filtered one's too,
/// past events it never saw), with no lag.
async fn delivers_matching_events_in_order_and_keeps_its_checkpoint_current(b: TestDb) {
    let (kept, all) = (Calls::default(), Calls::default());
    let store = open_with(
        &b,
        vec![
            kept.reactor(
                "kept",
                LogQuery::default().category("keep"),
                Fail::default(),
            ),
            all.reactor("all", LogQuery::default(), Fail::default()),
        ],
    )
    .await;
    let mut writers = JoinSet::new();
    for w in 0..10 {
        let store = store.clone();
        writers.spawn(async move {
            for i in 0..5 {
                let stream = if (w + i) % 2 == 0 { "keep" } else { "drop" };
                note(&store, &format!("{stream}-{w}"), "x", 2).await;
            }
        });
    }
    while writers.join_next().await.is_some() {}
    let log = crate::check::gap_free_log(&store).await;
    let expected: Vec<u64> = log
        .iter()
        .filter(|e| e.stream_id.as_str().starts_with("keep-"))
        .map(|e| e.position.0)
        .collect();
    assert_eq!(kept.until_count(expected.len()).await, expected);
    assert_eq!(all.until_count(100).await, (1..=100).collect::<Vec<_>>());
    for name in ["kept", "all"] {
        until_status(&store, name, "checkpoint at the head", |s| {
            s.checkpoint == Position(100) && s.lag == 0 && s.running && s.registered
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(kept.positions(), expected, "a duplicate arrived late");
}

/// After a clean stop the next store goes on exactly where the first stopped. After a
/// crash (the runtime dies, nothing is flushed) the next store delivers again only the
/// events since the last checkpoint: none is lost.
async fn resumes_from_its_checkpoint_after_a_clean_stop_and_after_a_crash(b: TestDb) {
    if !b.survives_reopen() {
        return b.not_applicable(
            "resumes_from_its_checkpoint",
            "an in-memory database does not outlive its store",
        );
    }
    let first = Calls::default();
    let store = open_with(
        &b,
        vec![first.reactor("r", LogQuery::default(), Fail::default())],
    )
    .await;
    note(&store, "s-1", "x", 20).await;
    first.until_count(20).await;
    store.stop_reactors().await;
    drop(store);

    let second = Calls::default();
    let store = open_with(
        &b,
        vec![second.reactor("r", LogQuery::default(), Fail::default())],
    )
    .await;
    note(&store, "s-1", "x", 5).await;
    assert_eq!(second.until_count(5).await, (21..=25).collect::<Vec<_>>());
    store.stop_reactors().await;
    drop(store);

    let crashed = Calls::default();
    crash_after(&b, &crashed, 10).await;
    assert_eq!(crashed.positions(), (26..=35).collect::<Vec<_>>());

    let third = Calls::default();
    let store = open_with(
        &b,
        vec![third.reactor("r", LogQuery::default(), Fail::default())],
    )
    .await;
    assert_eq!(third.until_count(10).await, (26..=35).collect::<Vec<_>>());
    until_status(&store, "r", "checkpoint after redelivery", |s| {
        s.checkpoint == Position(35)
    })
    .await;
}

/// Opens a store whose reactor never writes its checkpoint on its own, on a runtime
/// of its own; writes `n` events, waits until they are delivered, and drops the
/// runtime (the reactor's task dies without a word, as in a crash).
async fn crash_after(b: &TestDb, calls: &Calls, n: u32) {
    let reactor = calls
        .reactor("r", LogQuery::default(), Fail::default())
        .options(fast().checkpoint(1_000_000, Duration::from_secs(3600)));
    let builder = b.builder().reactor(reactor);
    let calls = calls.clone();
    let crash = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let store = runtime.block_on(async {
            let store = builder.open().await.expect("open");
            note(&store, "s-1", "x", n).await;
            calls.until_count(n as usize).await;
            store
        });
        drop(runtime);
        drop(store);
    });
    tokio::task::spawn_blocking(move || crash.join().expect("crashing store"))
        .await
        .expect("join");
}

/// An event the reactor keeps failing is tried `max_attempts` times with doubling
/// waits, then parked with its error; the reactor goes on with the next event, and
/// the checkpoint moves past the parked one.
async fn failing_events_are_retried_with_backoff_then_parked(b: TestDb) {
    let calls = Calls::default();
    let store = open_with(
        &b,
        vec![calls.reactor("r", LogQuery::default(), Fail::default())],
    )
    .await;
    note(&store, "s-1", "ok", 1).await;
    note(&store, "s-2", "bad", 1).await;
    note(&store, "s-1", "ok", 1).await;
    assert_eq!(calls.until_count(5).await, [1, 2, 2, 2, 3]);
    let times = calls.times_of(2);
    let waits: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(waits[0] >= Duration::from_millis(20), "{waits:?}");
    assert!(waits[1] >= Duration::from_millis(40), "{waits:?}");

    let parked = store.parked_events(Some("r"), 100).await.expect("parked");
    assert_eq!(parked.len(), 1, "{parked:?}");
    let event = &parked[0];
    assert_eq!((event.position, event.attempts), (Position(2), 3));
    assert_eq!(event.error, "bad refused");
    assert_eq!(event.stream_id, "s-2");
    assert_eq!(event.event_type, crate::app::NOTED);
    assert!(!event.retry_requested);
    let log = crate::check::gap_free_log(&store).await;
    assert_eq!(event.event_id, log[1].id);
    assert!(
        store
            .parked_events(Some("other"), 100)
            .await
            .unwrap()
            .is_empty()
    );
    until_status(&store, "r", "one parked, checkpoint past it", |s| {
        s.parked == 1 && s.checkpoint == Position(3)
    })
    .await;
}

/// A retry delivers a parked event once more: failing again keeps it parked with one
/// more attempt; succeeding removes it. A skip removes one without delivering it.
async fn parked_events_can_be_retried_or_skipped(b: TestDb) {
    let (calls, fail) = (Calls::default(), Fail::default());
    let store = open_with(
        &b,
        vec![calls.reactor("r", LogQuery::default(), fail.clone())],
    )
    .await;
    note(&store, "s-1", "bad", 2).await;
    note(&store, "s-1", "ok", 1).await;
    assert_eq!(calls.until_count(7).await, [1, 1, 1, 2, 2, 2, 3]);
    let parked = |store: Store| async move {
        let parked = store.parked_events(None, 100).await.expect("parked");
        parked
            .iter()
            .map(|p| (p.position.0, p.attempts))
            .collect::<Vec<_>>()
    };
    assert_eq!(parked(store.clone()).await, [(1, 3), (2, 3)]);

    assert_eq!(store.retry_parked("r", Some(Position(1))).await.unwrap(), 1);
    calls.until_count(8).await;
    let deadline = Instant::now() + PATIENCE;
    while parked(store.clone()).await != [(1, 4), (2, 3)] {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            parked(store.clone()).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let still = store.parked_events(Some("r"), 10).await.unwrap();
    assert!(!still[0].retry_requested);

    fail.healthy.store(true, Ordering::SeqCst);
    assert_eq!(store.retry_parked("r", Some(Position(1))).await.unwrap(), 1);
    let deadline = Instant::now() + PATIENCE;
    while parked(store.clone()).await != [(2, 3)] {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            parked(store.clone()).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(calls.positions()[7..], [1, 1]);

    assert_eq!(store.skip_parked("r", Some(Position(2))).await.unwrap(), 1);
    assert!(parked(store.clone()).await.is_empty());
    assert_eq!(store.skip_parked("r", None).await.unwrap(), 0);
    assert_eq!(
        store.retry_parked("r", Some(Position(99))).await.unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(calls.positions().len(), 9, "a skipped event was delivered");
    until_status(&store, "r", "nothing parked", |s| s.parked == 0).await;
}

/// Rebuilding the read models replays the log through the reducers only; reopening
/// the store (which catches read models up) does not re-run the reactor either.
async fn rebuilding_read_models_never_reruns_a_reactor(b: TestDb) {
    let calls = Calls::default();
    let store = open_with(
        &b,
        vec![calls.reactor("r", LogQuery::default(), Fail::default())],
    )
    .await;
    note(&store, "s-1", "x", 10).await;
    calls.until_count(10).await;
    assert_eq!(store.rebuild_read_models().await.expect("rebuild"), 10);
    note(&store, "s-1", "x", 1).await;
    assert_eq!(calls.until_count(11).await, (1..=11).collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        calls.positions().len(),
        11,
        "the rebuild re-ran the reactor"
    );
    if !b.survives_reopen() {
        return;
    }
    store.stop_reactors().await;
    drop(store);
    let again = Calls::default();
    let store = open_with(
        &b,
        vec![again.reactor("r", LogQuery::default(), Fail::default())],
    )
    .await;
    store.rebuild_read_models().await.expect("rebuild");
    note(&store, "s-1", "x", 1).await;
    assert_eq!(again.until_count(1).await, [12]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(again.positions(), [12]);
}

/// Two stores over one database register the same reactor: only one runs it, every
/// event is delivered once. When that one stops, the other takes over from its
/// checkpoint, again without loss or duplicate.
async fn one_of_two_stores_runs_a_reactor_and_the_other_takes_over(b: TestDb) {
    if !b.survives_reopen() {
        return b.not_applicable(
            "one_of_two_stores_runs_a_reactor",
            "an in-memory database has one store",
        );
    }
    let (a_calls, b_calls) = (Calls::default(), Calls::default());
    let a = open_with(
        &b,
        vec![a_calls.reactor("shared", LogQuery::default(), Fail::default())],
    )
    .await;
    let other = open_with(
        &b,
        vec![b_calls.reactor("shared", LogQuery::default(), Fail::default())],
    )
    .await;
    for i in 0..10 {
        let writer = if i % 2 == 0 { &a } else { &other };
        note(writer, &format!("s-{i}"), "x", 3).await;
    }
    let (seen_by_a, seen_by_b) = (a_calls.clone(), b_calls.clone());
    let both = move || {
        let mut all = seen_by_a.positions();
        all.extend(seen_by_b.positions());
        all.sort_unstable();
        all
    };
    let deadline = Instant::now() + PATIENCE;
    while both().len() < 30 {
        assert!(Instant::now() < deadline, "{:?}", both());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(both(), (1..=30).collect::<Vec<_>>());
    let (runner, standby, standby_calls) = if a_calls.positions().is_empty() {
        (other, a, a_calls)
    } else {
        (a, other, b_calls)
    };
    assert!(standby_calls.positions().is_empty(), "both stores ran it");
    until_status(&runner, "shared", "running here", |s| s.running).await;
    until_status(&standby, "shared", "not running there", |s| {
        s.registered && !s.running
    })
    .await;

    runner.stop_reactors().await;
    note(&runner, "s-late", "x", 5).await;
    assert_eq!(
        standby_calls.until_count(5).await,
        (31..=35).collect::<Vec<_>>()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(both(), (1..=35).collect::<Vec<_>>());
}
