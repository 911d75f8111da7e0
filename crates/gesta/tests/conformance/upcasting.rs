//! Evolving event shapes: events written by one version of the app are read by the
//! next through its upcasters, everywhere the log is read (reads, streams,
//! subscriptions, rebuilds), while the stored bytes stay as they were written.

use gesta::event::upcast::written_version;
use gesta::event::{Position, StreamVersion};
use gesta::subscription::Start;
use gesta::{Error, LogQuery};
use serde_json::{Value, json};

use crate::app::{NOTED, Note};
use crate::check::sid;
use crate::harness::TestDb;

conformance!(
    old_events_are_read_in_the_current_shape,
    a_failing_upcaster_is_a_typed_error
);

/// The suite's app at version 2 of `Noted`: the tag became upper case and the payload
/// says it was upcast.
fn app_v2() -> gesta::App {
    crate::app::app().upcaster(NOTED, 1, |mut data: Value| {
        let tag = data["tag"].as_str().ok_or("no tag")?.to_uppercase();
        data["tag"] = json!(tag);
        data["upcast"] = json!(true);
        Ok(data)
    })
}

fn tags(events: &[gesta::event::RecordedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e.data.parse::<Value>().unwrap()["tag"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn old_events_are_read_in_the_current_shape(b: TestDb) {
    if !b.survives_reopen() {
        return b.not_applicable("upcasting", "the store does not outlive its process");
    }
    let keyed = || gesta::Context {
        idempotency_key: Some("up-once".into()),
        ..gesta::Context::default()
    };
    {
        let v1 = b.open().await;
        v1.dispatch_with(Note::new("up-1", "old", 2), keyed())
            .await
            .unwrap();
    }
    let v2 = b.builder_for(app_v2()).open().await.unwrap();
    v2.read_models_ready().await.unwrap();
    // A retry of the first command after the upgrade: its events in the new shape.
    let retried = v2
        .dispatch_with(Note::new("up-1", "old", 2), keyed())
        .await
        .unwrap();
    assert!(retried.replayed);
    assert_eq!(tags(&retried.events), ["OLD", "OLD"]);
    v2.dispatch(Note::new("up-1", "new", 1)).await.unwrap();

    // Reads: the old events in the new shape, the new one as written.
    let all = v2
        .read_all(LogQuery::after(Position(0)).limit(100))
        .await
        .unwrap();
    assert_eq!(tags(&all), ["OLD", "OLD", "new"]);
    assert_eq!(all[0].data.parse::<Value>().unwrap()["upcast"], true);
    assert!(
        all[2]
            .data
            .parse::<Value>()
            .unwrap()
            .get("upcast")
            .is_none()
    );
    let versions: Vec<u32> = all.iter().map(|e| written_version(&e.metadata)).collect();
    assert_eq!(
        versions,
        [1, 1, 2],
        "the metadata keeps the version each was written in"
    );
    let stream = v2
        .read_stream(&sid("up-1"), StreamVersion(1), 10)
        .await
        .unwrap();
    assert_eq!(tags(&stream), ["OLD", "OLD", "new"]);

    // The stored bytes never changed (what `gesta copy` copies).
    let stored = v2
        .read_stored(LogQuery::after(Position(0)).limit(100))
        .await
        .unwrap();
    assert_eq!(tags(&stored), ["old", "old", "new"]);

    // Subscriptions from the start.
    let mut subscription = v2
        .subscribe(Start::After(Position(0)), LogQuery::default())
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = subscription.next().await.unwrap();
        seen.push(
            event.data.parse::<Value>().unwrap()["tag"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(seen, ["OLD", "OLD", "new"]);

    // A rebuild replays the old events through the upcaster into the read model.
    v2.rebuild_read_models().await.unwrap();
    let rows = v2
        .query(
            "SELECT tag FROM notes ORDER BY position",
            gesta::sql::Params::new(),
        )
        .await
        .unwrap();
    let tags: Vec<String> = rows.iter().map(|r| r.get("tag").unwrap()).collect();
    assert_eq!(tags, ["OLD", "OLD", "new"]);

    // A version 1 app reading the new store is not fooled by a caller's claim either:
    // schema_version is the writer's to record.
    let claimed = gesta::Context {
        metadata: serde_json::Map::from_iter([("schema_version".to_owned(), json!(9))]),
        ..gesta::Context::default()
    };
    v2.dispatch_with(Note::new("up-2", "claim", 1), claimed)
        .await
        .unwrap();
    let last = v2
        .read_all(LogQuery::after(Position(3)).limit(10))
        .await
        .unwrap();
    assert_eq!(written_version(&last[0].metadata), 2);
}

async fn a_failing_upcaster_is_a_typed_error(b: TestDb) {
    if !b.survives_reopen() {
        return b.not_applicable("upcasting", "the store does not outlive its process");
    }
    {
        let v1 = b.open().await;
        v1.dispatch(Note::new("up-3", "x", 1)).await.unwrap();
    }
    let broken = crate::app::app().upcaster(NOTED, 1, |_| Err("cannot read version 1".into()));
    let store = b.builder_for(broken).open().await.unwrap();
    let err = store
        .read_all(LogQuery::after(Position(0)).limit(10))
        .await
        .unwrap_err();
    match err {
        Error::Upcast(err) => {
            assert_eq!((err.position, err.from), (1, 1));
            assert!(err.to_string().contains("cannot read version 1"), "{err}");
        }
        other => panic!("expected an upcast error, got {other}"),
    }
}
