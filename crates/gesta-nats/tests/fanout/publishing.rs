//! What the fan-out publishes: one message per event, in log order, with its subject,
//! message id and CloudEvents body, into a stream it makes; only what its filter
//! accepts.

use std::time::Duration;

use gesta::LogQuery;
use gesta::reactor::ReactorOptions;
use gesta_nats::fanout;
use gesta_testkit::Database;

use crate::backend::builder;
use crate::log::{assert_matches_log, wait_for_checkpoint, write_events};
use crate::nats::TestStream;

on_every_backend!(
    events_arrive_in_order_with_subjects_and_cloudevents_bodies,
    the_filter_limits_what_is_published,
    personal_fields_are_published_as_null,
);

/// Checkpoints often, so a test sees the fan-out catch up within milliseconds.
fn fast() -> ReactorOptions {
    ReactorOptions::default().checkpoint(10, Duration::from_millis(50))
}

async fn events_arrive_in_order_with_subjects_and_cloudevents_bodies(db: Database) {
    let Some(nats) = TestStream::new(&db).await else {
        return;
    };
    let fan = fanout(nats.config().options(fast()));
    let store = builder(db.url()).reactor(fan).open().await.unwrap();
    write_events(&store, 60).await;

    nats.wait_for_messages(60).await;
    let stored = nats.messages().await;
    assert_matches_log(&store, &nats.prefix, &stored).await;

    // The fan-out made the stream: every subject under the prefix, a duplicate window.
    let config = nats.stream_config().await;
    assert_eq!(config.subjects, vec![format!("{}.>", nats.prefix)]);
    assert_eq!(config.duplicate_window, Duration::from_secs(120));
    store.stop_reactors().await;
}

async fn the_filter_limits_what_is_published(db: Database) {
    let Some(nats) = TestStream::new(&db).await else {
        return;
    };
    let fan = fanout(
        nats.config()
            .filter(LogQuery::default().event_type("Opened"))
            .options(fast()),
    );
    let store = builder(db.url()).reactor(fan).open().await.unwrap();
    write_events(&store, 30).await;
    wait_for_checkpoint(&store, store.last_position().0).await;

    let stored = nats.messages().await;
    assert_eq!(stored.len(), 20, "the 20 Opened events of 30");
    assert!(
        stored
            .iter()
            .all(|m| m.subject.ends_with(".account.Opened"))
    );
    store.stop_reactors().await;
}

/// A durable stream is beyond an erasure's reach: personal data never goes there.
async fn personal_fields_are_published_as_null(db: Database) {
    let Some(nats) = TestStream::new(&db).await else {
        return;
    };
    let fan = fanout(nats.config().options(fast()));
    let app = gesta::App::new("fanout").personal("Opened", "owner");
    let store = gesta::Store::builder(app)
        .url(db.url())
        .reactor(fan)
        .open()
        .await
        .unwrap();
    let opened = gesta::event::NewEvent::new(
        "account-1",
        "Opened",
        &serde_json::json!({"id": 1, "owner": "Ottoline Pemberton"}),
    )
    .unwrap()
    .personal_of("note", "someone-else");
    let request = gesta::AppendRequest {
        stream_id: gesta::event::StreamId::new("account-1").unwrap(),
        expected: gesta::ExpectedVersion::Any,
        events: vec![opened],
    };
    store
        .append(request, gesta::Context::default())
        .await
        .unwrap();

    nats.wait_for_messages(1).await;
    let message = &nats.messages().await[0];
    let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(body["data"], serde_json::json!({"id": 1, "owner": null}));
    assert_eq!(body["type"], "Opened");
    store.stop_reactors().await;
}
