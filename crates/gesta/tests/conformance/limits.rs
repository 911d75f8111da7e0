//! Limits: the command deadline and backpressure on the writer queue.

use std::time::{Duration, Instant};

use gesta::event::StreamVersion;
use gesta::{Error, StoreOptions};
use tokio::task::JoinSet;

use crate::app::{Mode, Note};
use crate::check::{self, sid};
use crate::harness::TestDb;

conformance!(
    deadline_in_sql,
    deadline_in_reducer,
    deadline_in_handler,
    backpressure
);

/// A handler stuck in SQL is interrupted at its deadline; the writer then serves the
/// commands queued behind it.
async fn deadline_in_sql(b: TestDb) {
    let deadline = Duration::from_millis(300);
    let store = b
        .open_with(StoreOptions::default().command_deadline(deadline))
        .await;
    let started = Instant::now();
    let spin = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .dispatch(Note::new("spin-1", "spin", 1).mode(Mode::Spin))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut queued = JoinSet::new();
    for i in 0..5 {
        let store = store.clone();
        queued.spawn(async move {
            store
                .dispatch(Note::new("after-1", &format!("q{i}"), 1))
                .await
        });
    }
    let err = spin.await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded(d) if d == deadline),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the deadline did not stop it"
    );
    while let Some(joined) = queued.join_next().await {
        joined
            .unwrap()
            .expect("a command queued behind the stuck one");
    }
    store
        .dispatch(Note::new("after-1", "later", 1))
        .await
        .unwrap();
    let missing = store
        .read_stream(&sid("spin-1"), StreamVersion(1), 10)
        .await;
    assert!(matches!(missing, Err(Error::StreamNotFound(_))));
    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), 6);
    check::read_model_matches_log(&store, &log).await;
}

/// A reducer stuck in SQL is interrupted at the deadline too, and reported as such.
async fn deadline_in_reducer(b: TestDb) {
    let deadline = Duration::from_millis(300);
    let store = b
        .open_with(StoreOptions::default().command_deadline(deadline))
        .await;
    let started = Instant::now();
    let stuck = Note::new("spin-2", "stuck", 2).mode(Mode::SpinInReducer);
    let err = store.dispatch(stuck).await.unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded(d) if d == deadline),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the deadline did not stop it"
    );
    assert!(check::gap_free_log(&store).await.is_empty());
    assert!(
        check::notes(&store).await.is_empty(),
        "the first event's reducer survived"
    );
    store
        .dispatch(Note::new("spin-2", "next", 1))
        .await
        .unwrap();
    check::read_model_matches_log(&store, &check::gap_free_log(&store).await).await;
}

/// A handler that overruns its deadline outside SQL is rolled back when it returns.
async fn deadline_in_handler(b: TestDb) {
    let deadline = Duration::from_millis(100);
    let store = b
        .open_with(StoreOptions::default().command_deadline(deadline))
        .await;
    let slow = Note::new("slow-1", "slow", 2).mode(Mode::SleepMs(300));
    let err = store.dispatch(slow).await.unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded(d) if d == deadline),
        "{err:?}"
    );
    assert!(check::gap_free_log(&store).await.is_empty());
    let quick = store
        .dispatch(Note::new("slow-1", "quick", 1))
        .await
        .unwrap();
    assert_eq!(quick.events[0].position.0, 1);
    check::read_model_matches_log(&store, &check::gap_free_log(&store).await).await;
}

/// With a queue of one and a slow handler, callers that find no room in time get
/// `Overloaded`; everything acknowledged is in the log, nothing else is.
async fn backpressure(b: TestDb) {
    // One command per batch, each taking 100 ms, a queue of one and 10 ms of patience:
    // of 24 callers arriving together, most must be told to back off, even on a
    // loaded machine that schedules them slowly.
    let options = StoreOptions::default()
        .queue(1, Duration::from_millis(10))
        .max_batch(1);
    let store = b.open_with(options).await;
    let mut tasks = JoinSet::new();
    for i in 0..24 {
        let store = store.clone();
        let note = Note::new(&format!("bp-{i}"), "bp", 1).mode(Mode::SleepMs(100));
        tasks.spawn(async move { (i, store.dispatch(note).await) });
    }
    let (mut committed, mut overloaded) = (Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            (_, Ok(outcome)) => committed.push(outcome),
            (i, Err(Error::Overloaded)) => overloaded.push(i),
            (i, Err(other)) => panic!("command {i} failed with {other:?}"),
        }
    }
    assert!(!overloaded.is_empty(), "nobody was told to back off");
    assert!(!committed.is_empty(), "nothing got through");
    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), committed.len());
    for outcome in &committed {
        check::outcome_in_log(outcome, &log);
    }
    for i in overloaded {
        let stream = sid(&format!("bp-{i}"));
        assert!(
            log.iter().all(|e| e.stream_id != stream),
            "bp-{i} was refused yet written"
        );
    }
}
