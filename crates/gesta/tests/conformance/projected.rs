//! What the projection tests share: the suite's app with a `projected` table their
//! projections count events into, the events they write, what that table should
//! hold, and waiting on a projection's status.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gesta::event::{Position, RecordedEvent};
use gesta::projection::{Projection, ProjectionStatus};
use gesta::{App, HandlerError, LogQuery, Migration, Store, StoreOptions, Tx, params};

use crate::app::Note;
use crate::harness::TestDb;

/// How long any wait of the projection tests may take.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The suite's app plus the projection's table.
pub fn app() -> App {
    crate::app::app().migration(Migration::new(
        "0100_projected",
        "CREATE TABLE projected (stream_id VARCHAR(200) PRIMARY KEY, events BIGINT NOT NULL)",
    ))
}

/// The events the projections count: those of the `keep-*` streams.
pub fn keep() -> LogQuery {
    LogQuery::default().category("keep")
}

/// Counts one more event of `stream` in `projected`.
pub fn count(tx: &mut Tx<'_>, stream: &str) -> Result<(), HandlerError> {
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

/// Counts `event` in `projected`: twice while `double` is set (a bug a rebuild
/// repairs).
pub fn count_event(
    tx: &mut Tx<'_>,
    event: &RecordedEvent,
    double: bool,
) -> Result<(), HandlerError> {
    let times = if double { 2 } else { 1 };
    for _ in 0..times {
        count(tx, event.stream_id.as_str())?;
    }
    Ok(())
}

/// Opens [`app`] on `b`, polling often, with `projection` if any.
pub async fn open(b: &TestDb, projection: Option<Projection>) -> Store {
    let options = StoreOptions::default().poll_interval(Duration::from_millis(20));
    let mut builder = b.builder_for(app()).options(options);
    if let Some(projection) = projection {
        builder = builder.projection(projection);
    }
    builder.open().await.expect("open")
}

/// Writes `n` events on each of `keep-1`, `keep-2` and `drop-1`.
pub async fn write(store: &Store, n: u32) {
    for stream in ["keep-1", "drop-1", "keep-2"] {
        store
            .dispatch(Note::new(stream, "x", n))
            .await
            .expect("note");
    }
}

/// The `projected` table.
pub async fn projected(store: &Store) -> BTreeMap<String, i64> {
    let rows = store
        .query("SELECT stream_id, events FROM projected", params! {})
        .await
        .expect("projected");
    rows.iter()
        .map(|r| (r.get("stream_id").unwrap(), r.get("events").unwrap()))
        .collect()
}

/// Events per `keep-*` stream in the log.
pub async fn expected(store: &Store) -> BTreeMap<String, i64> {
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

/// The status of projection `name`, if the store knows it.
pub async fn status(store: &Store, name: &str) -> Option<ProjectionStatus> {
    let statuses = store.projections().await.expect("projections");
    statuses.into_iter().find(|s| s.name == name)
}

/// Waits until `done` holds of projection `name`'s status and the log's head; fails
/// after [`PATIENCE`] saying it was `not {what}`.
pub async fn until(
    store: &Store,
    name: &str,
    what: &str,
    done: impl Fn(&ProjectionStatus, Position) -> bool,
) -> ProjectionStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let head = store.head().await.expect("head");
        let status = status(store, name).await;
        if let Some(s) = status.as_ref().filter(|s| done(s, head)) {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "not {what} with {head}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
