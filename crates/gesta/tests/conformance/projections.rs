//! Async projections: they catch up on history and follow live events from a durable
//! checkpoint moved in the same transaction as their tables, so a crash between
//! batches never applies an event twice; lag is reported; a rebuild replays into
//! emptied tables; rebuilding the inline read models leaves them alone; over one
//! database only one store applies them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gesta::event::{Position, RecordedEvent};
use gesta::projection::{Projection, ProjectionOptions, ProjectionStatus};
use gesta::{HandlerError, LogQuery, Store, Tx};

use crate::app::Note;
use crate::harness::TestDb;
use crate::projected::{
    PATIENCE, app, count, count_event, expected, keep, open, projected, status, until, write,
};

conformance!(
    catches_up_on_history_follows_live_events_and_reports_lag,
    resumes_after_a_crash_without_applying_any_event_twice,
    rebuild_replays_into_emptied_tables_and_read_model_rebuilds_leave_it_alone,
    over_one_database_every_event_is_applied_once,
    a_failing_event_stops_it_with_the_error_shown_until_it_succeeds,
);

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
            count_event(tx, event, double.load(Ordering::SeqCst))
        },
    )
    .options(
        ProjectionOptions::default()
            .batch_size(4)
            .backoff(Duration::from_millis(20), Duration::from_millis(100))
            .lock_retry(Duration::from_millis(50)),
    )
}

/// Waits until projection `name` is at the head of the log.
async fn caught_up(store: &Store, name: &str) -> ProjectionStatus {
    until(store, name, "caught up", |s, head| {
        s.checkpoint == head && s.lag == 0
    })
    .await
}

/// History written before the projection existed is applied, then live events as they
/// commit; the projection's tables match the log exactly. A stopped projection is
/// reported behind the head by the events written since.
async fn catches_up_on_history_follows_live_events_and_reports_lag(b: TestDb) {
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
async fn resumes_after_a_crash_without_applying_any_event_twice(b: TestDb) {
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
async fn rebuild_replays_into_emptied_tables_and_read_model_rebuilds_leave_it_alone(b: TestDb) {
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
async fn over_one_database_every_event_is_applied_once(b: TestDb) {
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
async fn a_failing_event_stops_it_with_the_error_shown_until_it_succeeds(b: TestDb) {
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
    // The error is cleared just after the batch commits: wait for both.
    until(
        &store,
        "p",
        "caught up with the error cleared",
        |s, head| s.checkpoint == head && s.lag == 0 && s.error.is_none(),
    )
    .await;
    assert_eq!(projected(&store).await["keep-1"], 5);
}
