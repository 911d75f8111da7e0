//! Rebuild requests of async projections ([`Store::request_projection_rebuild`]), as
//! the `gesta projections rebuild` CLI makes them from a process that does not run the
//! projection: the process running it empties its tables, resets its checkpoint and
//! replays the log; a request made while none runs it is performed when one starts; an
//! unknown projection is refused and nothing is written. A request row is never listed
//! as a projection or a reactor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use gesta::event::RecordedEvent;
use gesta::projection::{Projection, ProjectionOptions, ProjectionStatus};
use gesta::{App, Store, Tx, params};

use crate::harness::TestDb;
use crate::projected::{count_event, expected, keep, open, projected, status, until, write};

conformance!(
    a_request_is_performed_by_the_running_projection_and_replays_the_log,
    a_request_made_while_nothing_runs_it_is_performed_at_the_next_start,
    a_request_for_an_unknown_projection_is_refused_and_writes_nothing,
);

/// What the test sees of the projection's function.
#[derive(Clone, Default)]
struct Probe {
    /// Count each event twice while set (a bug a rebuild repairs).
    double: Arc<AtomicBool>,
    /// Events applied so far, replays included.
    applied: Arc<AtomicU64>,
}

/// Projection `p`: events per `keep-*` stream in `projected`.
fn counting(probe: &Probe) -> Projection {
    let probe = probe.clone();
    Projection::new(
        "p",
        &["projected"],
        keep(),
        move |tx: &mut Tx<'_>, event: &RecordedEvent| {
            probe.applied.fetch_add(1, Ordering::SeqCst);
            count_event(tx, event, probe.double.load(Ordering::SeqCst))
        },
    )
    .options(
        ProjectionOptions::default()
            .batch_size(4)
            .lock_retry(Duration::from_millis(50)),
    )
}

/// Waits until no rebuild of `p` is requested and `p` is at the head of the log.
async fn performed_and_caught_up(store: &Store) -> ProjectionStatus {
    until(store, "p", "rebuilt and caught up", |s, head| {
        !s.rebuild_requested && s.checkpoint == head && s.lag == 0
    })
    .await
}

/// A store of another application on the same database, that does not register the
/// projection (as the CLI does); on a private in-memory database, `store` itself.
async fn operator(b: &TestDb, store: &Store) -> Store {
    if !b.survives_reopen() {
        return store.clone();
    }
    b.builder_for(App::new("operator"))
        .open()
        .await
        .expect("open operator")
}

/// A projection that counted every event twice is repaired by a request made from
/// another store while it runs: its tables are emptied and the log replayed, events
/// written meanwhile included. Requested again, it replays the whole log once more
/// into the same content.
async fn a_request_is_performed_by_the_running_projection_and_replays_the_log(b: TestDb) {
    let probe = Probe::default();
    probe.double.store(true, Ordering::SeqCst);
    let store = open(&b, Some(counting(&probe))).await;
    write(&store, 4).await;
    performed_and_caught_up(&store).await;
    assert_eq!(projected(&store).await["keep-1"], 8, "counted twice");

    let operator = operator(&b, &store).await;
    probe.double.store(false, Ordering::SeqCst);
    operator
        .request_projection_rebuild("p")
        .await
        .expect("request");
    write(&store, 1).await;
    let done = performed_and_caught_up(&store).await;
    assert!(done.running && done.error.is_none(), "{done:?}");
    assert_eq!(projected(&store).await, expected(&store).await);
    assert_eq!(projected(&store).await["keep-1"], 5);

    let before = projected(&store).await;
    let applied = probe.applied.load(Ordering::SeqCst);
    operator
        .request_projection_rebuild("p")
        .await
        .expect("request again");
    performed_and_caught_up(&store).await;
    assert_eq!(projected(&store).await, before, "the same content");
    let replayed = probe.applied.load(Ordering::SeqCst) - applied;
    assert_eq!(replayed, 10, "every keep-* event replayed once");
}

/// With the projection stopped everywhere, a request only records itself (the tables
/// and checkpoint stay as they are, and it shows in the statuses of the one
/// projection, not as a projection or reactor of its own); the next store that runs
/// the projection performs it before anything else.
async fn a_request_made_while_nothing_runs_it_is_performed_at_the_next_start(b: TestDb) {
    if !b.survives_reopen() {
        return b.not_applicable(
            "a_request_made_while_nothing_runs_it",
            "an in-memory database does not outlive its store",
        );
    }
    let probe = Probe::default();
    probe.double.store(true, Ordering::SeqCst);
    let first = open(&b, Some(counting(&probe))).await;
    write(&first, 3).await;
    let stopped_at = performed_and_caught_up(&first).await;
    first.stop_projections().await;
    drop(first);

    let operator = open(&b, None).await;
    operator
        .request_projection_rebuild("p")
        .await
        .expect("request");
    operator
        .request_projection_rebuild("p")
        .await
        .expect("asking twice is fine");
    let statuses = operator.projections().await.expect("projections");
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    let pending = &statuses[0];
    assert_eq!(pending.name, "p");
    assert!(
        pending.rebuild_requested && !pending.registered,
        "{pending:?}"
    );
    assert_eq!(pending.checkpoint, stopped_at.checkpoint);
    assert!(operator.reactors().await.expect("reactors").is_empty());
    assert_eq!(projected(&operator).await["keep-1"], 6, "nothing done yet");

    probe.double.store(false, Ordering::SeqCst);
    let next = open(&b, Some(counting(&probe))).await;
    performed_and_caught_up(&next).await;
    assert_eq!(projected(&next).await, expected(&next).await);
    assert_eq!(projected(&next).await["keep-1"], 3);
    assert!(!status(&operator, "p").await.unwrap().rebuild_requested);
}

/// A name with no checkpoint in the database that is not registered in the store is
/// refused with a typed error, and no row is written.
async fn a_request_for_an_unknown_projection_is_refused_and_writes_nothing(b: TestDb) {
    let store = open(&b, None).await;
    write(&store, 1).await;
    let rows = |store: Store| async move {
        let sql = "SELECT name, position FROM checkpoints ORDER BY name";
        let rows = store.query(sql, params! {}).await.expect("checkpoints");
        rows.iter()
            .map(|r| (r.get("name").unwrap(), r.get("position").unwrap()))
            .collect::<Vec<(String, i64)>>()
    };
    let before = rows(store.clone()).await;
    for name in ["nope", "", &"x".repeat(300)] {
        let refused = store.request_projection_rebuild(name).await;
        assert!(
            matches!(&refused, Err(gesta::Error::InvalidInput { field: Some(f), .. }) if f == "projection"),
            "{refused:?}"
        );
    }
    let message = store
        .request_projection_rebuild("nope")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("no projection named \"nope\""),
        "{message}"
    );
    assert_eq!(rows(store.clone()).await, before);
    assert!(store.projections().await.expect("projections").is_empty());
}
