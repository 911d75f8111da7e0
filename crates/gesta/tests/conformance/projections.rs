//! Async projections: they catch up on history and follow live events from a durable
//! checkpoint moved in the same transaction as their tables, so a crash between
//! batches never applies an event twice; lag is reported; a rebuild replays into
//! emptied tables; rebuilding the inline read models leaves them alone; over one
//! database only one store applies them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gesta::event::{Position, RecordedEvent};
use gesta::projection::{Projection, ProjectionOptions, ProjectionStatus};
use gesta::{App, HandlerError, LogQuery, Migration, Store, StoreOptions, Tx, params};

use crate::app::Note;
use crate::harness::Backend;

conformance!(
    catches_up_on_history_follows_live_events_and_reports_lag,
    resumes_after_a_crash_without_applying_any_event_twice,
    rebuild_replays_into_emptied_tables_and_read_model_rebuilds_leave_it_alone,
    over_one_database_every_event_is_applied_once,
    a_failing_event_stops_it_with_the_error_shown_until_it_succeeds,
);

/// How long any wait in this file may take.
const PATIENCE: Duration = Duration::from_secs(20);

/// The suite's app plus the projection's table.
fn app() -> App {
    crate::app::app().migration(Migration::new(
        "0100_projected",
        "CREATE TABLE projected (stream_id VARCHAR(200) PRIMARY KEY, events BIGINT NOT NULL)",
    ))
}

/// Counts events per stream in `projected`: twice each while `double` is set, and
/// sleeping `pause` per event (on the writer's thread) to make batches slow.
fn counting(name: &str, filter: LogQuery, double: Arc<AtomicBool>, pause: Duration) -> Projection {
    Projection::new(
        name,
        &["projected"],
        filter,
        move |tx: &mut Tx<'_>, event: &RecordedEvent| {
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
            let times = if double.load(Ordering::SeqCst) { 2 } else { 1 };
            for _ in 0..times {
                count(tx, event.stream_id.as_str())?;
            }
            Ok(())
        },
    )
    .options(
        ProjectionOptions::default()
            .batch_size(4)
            .backoff(Duration::from_millis(20), Duration::from_millis(100))
            .lock_retry(Duration::from_millis(50)),
    )
}

fn count(tx: &mut Tx<'_>, stream: &str) -> Result<(), HandlerError> {
    let key = params! { "s" => stream };
    if tx.execute(
        "UPDATE projected SET events = events + 1 WHERE stream_id = :s",
        &key,
    )? == 0
    {
        tx.execute(
            "INSERT INTO projected (stream_id, events) VALUES (:s, 1)",
            &key,
        )?;
    }
    Ok(())
}

fn keep() -> LogQuery {
    LogQuery::default().category("keep")
}

async fn open(b: &Backend, projection: Option<Projection>) -> Store {
    let options = StoreOptions::default().poll_interval(Duration::from_millis(20));
    let mut builder = b.builder_for(app()).options(options);
    if let Some(projection) = projection {
        builder = builder.projection(projection);
    }
    builder.open().await.expect("open")
}

/// Writes `n` events on each of `keep-1`, `keep-2` and `drop-1`.
async fn write(store: &Store, n: u32) {
    for stream in ["keep-1", "drop-1", "keep-2"] {
        store
            .dispatch(Note::new(stream, "x", n))
            .await
            .expect("note");
    }
}

/// The `projected` table.
async fn projected(store: &Store) -> BTreeMap<String, i64> {
    let rows = store
        .query("SELECT stream_id, events FROM projected", params! {})
        .await
        .expect("projected");
    rows.iter()
        .map(|r| (r.get("stream_id").unwrap(), r.get("events").unwrap()))
        .collect()
}

/// Events per `keep-*` stream in the log.
async fn expected(store: &Store) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for event in crate::check::gap_free_log(store).await {
        if event.stream_id.as_str().starts_with("keep-") {
            *counts
                .entry(event.stream_id.as_str().to_owned())
                .or_insert(0) += 1;
        }
    }
    counts
}

async fn status(store: &Store, name: &str) -> Option<ProjectionStatus> {
    let statuses = store.projections().await.expect("projections");
    statuses.into_iter().find(|s| s.name == name)
}

/// Waits until projection `name` is at the head of the log.
async fn caught_up(store: &Store, name: &str) -> ProjectionStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let head = store.head().await.expect("head");
        let status = status(store, name).await;
        if let Some(s) = status
            .as_ref()
            .filter(|s| s.checkpoint == head && s.lag == 0)
        {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "not caught up with {head}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// History written before the projection existed is applied, then live events as they
/// commit; the projection's tables match the log exactly. A stopped projection is
/// reported behind the head by the events written since.
async fn catches_up_on_history_follows_live_events_and_reports_lag(b: Backend) {
    if b.survives_reopen() {
        let before = open(&b, None).await;
        write(&before, 5).await;
        drop(before);
    }
    let store = open(
        &b,
        Some(counting("p", keep(), Arc::default(), Duration::ZERO)),
    )
    .await;
    write(&store, 7).await;
    let live = caught_up(&store, "p").await;
    assert!(
        live.registered && live.running && live.error.is_none(),
        "{live:?}"
    );
    assert!(live.updated_at.is_some());
    assert_eq!(projected(&store).await, expected(&store).await);
    let history = if b.survives_reopen() { 5 } else { 0 };
    assert_eq!(projected(&store).await["keep-1"], history + 7);

    write(&store, 3).await;
    caught_up(&store, "p").await;
    assert_eq!(projected(&store).await, expected(&store).await);

    store.stop_projections().await;
    let at = store.head().await.unwrap();
    write(&store, 2).await;
    let stopped = status(&store, "p").await.expect("status");
    assert_eq!((stopped.checkpoint, stopped.lag), (at, 6), "{stopped:?}");
    assert!(stopped.registered && !stopped.running, "{stopped:?}");
}

/// A projection applying slow batches dies with its runtime in the middle of the log.
/// The next store resumes from the checkpoint and the counts match the log exactly:
/// each batch was applied with its checkpoint, or not at all.
async fn resumes_after_a_crash_without_applying_any_event_twice(b: Backend) {
    if !b.survives_reopen() {
        return b.not_applicable(
            "resumes_after_a_crash",
            "an in-memory database does not outlive its store",
        );
    }
    let builder = b.builder_for(app()).projection(counting(
        "p",
        keep(),
        Arc::default(),
        Duration::from_millis(5),
    ));
    let crashed_at = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let status = runtime.block_on(async {
            let store = builder.open().await.expect("open");
            write(&store, 30).await;
            let deadline = Instant::now() + PATIENCE;
            loop {
                let status = status(&store, "p").await.expect("status");
                if status.checkpoint >= Position(12) {
                    break status;
                }
                assert!(Instant::now() < deadline, "{status:?}");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        drop(runtime);
        status
    });
    let crashed = tokio::task::spawn_blocking(move || crashed_at.join().expect("crash"))
        .await
        .expect("join");
    assert!(
        crashed.lag > 0,
        "the crash came too late to test anything: {crashed:?}"
    );

    let store = open(
        &b,
        Some(counting("p", keep(), Arc::default(), Duration::ZERO)),
    )
    .await;
    caught_up(&store, "p").await;
    assert_eq!(projected(&store).await, expected(&store).await);
    assert_eq!(projected(&store).await["keep-2"], 30);
}

/// A projection that counted wrongly is rebuilt: its tables are emptied and the log
/// replayed into them. Rebuilding the inline read models neither resets its
/// checkpoint nor touches its tables.
async fn rebuild_replays_into_emptied_tables_and_read_model_rebuilds_leave_it_alone(b: Backend) {
    let double = Arc::new(AtomicBool::new(true));
    let store = open(
        &b,
        Some(counting("p", keep(), Arc::clone(&double), Duration::ZERO)),
    )
    .await;
    write(&store, 4).await;
    caught_up(&store, "p").await;
    assert_eq!(projected(&store).await["keep-1"], 8, "counted twice");

    let before = status(&store, "p").await.expect("status");
    store
        .rebuild_read_models()
        .await
        .expect("rebuild read models");
    assert_eq!(
        status(&store, "p").await.unwrap().checkpoint,
        before.checkpoint
    );
    assert_eq!(projected(&store).await["keep-1"], 8);

    double.store(false, Ordering::SeqCst);
    store.rebuild_projection("p").await.expect("rebuild");
    write(&store, 1).await;
    caught_up(&store, "p").await;
    assert_eq!(projected(&store).await, expected(&store).await);
    assert_eq!(projected(&store).await["keep-1"], 5);
    let unknown = store.rebuild_projection("nope").await;
    assert!(
        matches!(unknown, Err(gesta::Error::InvalidInput { .. })),
        "{unknown:?}"
    );
}

/// Two stores over one database register the same projection and both write; one
/// applies it, the other takes over when it stops; every event is counted once.
async fn over_one_database_every_event_is_applied_once(b: Backend) {
    if !b.survives_reopen() {
        return b.not_applicable("over_one_database", "an in-memory database is private");
    }
    let first = open(
        &b,
        Some(counting("p", keep(), Arc::default(), Duration::ZERO)),
    )
    .await;
    let second = open(
        &b,
        Some(counting("p", keep(), Arc::default(), Duration::ZERO)),
    )
    .await;
    for _ in 0..3 {
        write(&first, 2).await;
        write(&second, 2).await;
    }
    caught_up(&first, "p").await;
    let running = |store: Store| async move { status(&store, "p").await.unwrap().running };
    let (a, z) = (running(first.clone()).await, running(second.clone()).await);
    assert!(a != z, "exactly one store runs it: {a} {z}");
    let (runner, other) = if a { (first, second) } else { (second, first) };
    runner.stop_projections().await;
    write(&other, 3).await;
    caught_up(&other, "p").await;
    assert!(running(other.clone()).await, "the other store took over");
    assert_eq!(projected(&other).await, expected(&other).await);
    assert_eq!(projected(&other).await["keep-1"], 15);
}

/// While the function fails on an event, the batch is rolled back and retried: the
/// checkpoint stays before it, the lag and the error show, nothing after it is
/// applied. Once it succeeds, the projection catches up and the error is cleared.
async fn a_failing_event_stops_it_with_the_error_shown_until_it_succeeds(b: Backend) {
    let broken = Arc::new(AtomicBool::new(true));
    let fails = Arc::clone(&broken);
    let projection = Projection::new("p", &["projected"], keep(), move |tx, event| {
        let noted: crate::app::Noted = event.data_as()?;
        if noted.tag == "bad" && fails.load(Ordering::SeqCst) {
            return Err(HandlerError::Failed("bad refused".into()));
        }
        count(tx, event.stream_id.as_str())
    })
    .options(
        ProjectionOptions::default().backoff(Duration::from_millis(10), Duration::from_millis(20)),
    );
    let store = open(&b, Some(projection)).await;
    store.dispatch(Note::new("keep-1", "ok", 2)).await.unwrap();
    store.dispatch(Note::new("keep-1", "bad", 1)).await.unwrap();
    store.dispatch(Note::new("keep-1", "ok", 2)).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    let failing = loop {
        let s = status(&store, "p").await;
        if let Some(s) = s.as_ref().filter(|s| s.error.is_some()) {
            break s.clone();
        }
        assert!(Instant::now() < deadline, "no error shown: {s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let error = failing.error.clone().unwrap();
    assert!(
        error.contains("bad refused") && error.contains("position 3"),
        "{error}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let failing = status(&store, "p").await.unwrap();
    assert!(
        failing.checkpoint < Position(3) && failing.lag >= 3,
        "{failing:?}"
    );
    assert!(
        projected(&store)
            .await
            .get("keep-1")
            .is_none_or(|n| *n <= 2)
    );

    broken.store(false, Ordering::SeqCst);
    let done = caught_up(&store, "p").await;
    assert!(done.error.is_none(), "{done:?}");
    assert_eq!(projected(&store).await["keep-1"], 5);
}
