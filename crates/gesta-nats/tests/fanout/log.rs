//! Writing events to a store, waiting for the fan-out to catch up with them, and
//! checking the published messages against the store's log.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::message::StreamMessage;
use gesta::event::{NewEvent, Position, RecordedEvent, StreamId};
use gesta::{AppendRequest, Context, ExpectedVersion, Store};
use serde_json::Value;

/// The fan-out's reactor name (the default).
pub const REACTOR: &str = "nats-fanout";

/// Appends `events` events (a multiple of 10), 10 per append, into streams of two
/// categories: a third to `order-*` as `v1.Placed`, the rest to `account-*` as `Opened`.
pub async fn write_events(store: &Store, events: usize) {
    write_events_by(store, events, 10).await;
}

/// [`write_events`] with `per_append` events (a divisor of `events`) per append.
pub async fn write_events_by(store: &Store, events: usize, per_append: usize) {
    for chunk in 0..events / per_append {
        let (stream, kind) = if chunk % 3 == 0 {
            (format!("order-{}", chunk % 7), "v1.Placed")
        } else {
            (format!("account-{}", chunk % 5), "Opened")
        };
        let batch = (0..per_append)
            .map(|i| {
                NewEvent::new(
                    stream.as_str(),
                    kind,
                    &serde_json::json!({ "n": chunk * per_append + i }),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let request = AppendRequest {
            stream_id: StreamId::new(stream).unwrap(),
            expected: ExpectedVersion::Any,
            events: batch,
        };
        store.append(request, Context::default()).await.unwrap();
    }
}

/// The fan-out's stored checkpoint (0 when it has none).
pub async fn checkpoint_of(store: &Store) -> u64 {
    let statuses = store.reactors().await.unwrap();
    statuses
        .iter()
        .find(|s| s.name == REACTOR)
        .map_or(0, |s| s.checkpoint.0)
}

/// Waits until the fan-out's checkpoint reaches `position`.
pub async fn wait_for_checkpoint(store: &Store, position: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while checkpoint_of(store).await < position {
        assert!(Instant::now() < deadline, "the fan-out never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event of `store`'s log, in order.
async fn log_of(store: &Store) -> Vec<RecordedEvent> {
    let log = Arc::new(Mutex::new(Vec::<RecordedEvent>::new()));
    let sink = Arc::clone(&log);
    store
        .scan(Position(0), move |event| {
            sink.lock().unwrap().push(event.clone())
        })
        .await
        .unwrap();
    log.lock().unwrap().clone()
}

/// Checks that `messages` are exactly the events of `store`'s log, in order: subject,
/// `Nats-Msg-Id` and CloudEvents body.
pub async fn assert_matches_log(store: &Store, prefix: &str, messages: &[StreamMessage]) {
    let log = log_of(store).await;
    assert_eq!(messages.len(), log.len(), "one message per event");
    for (message, event) in messages.iter().zip(&log) {
        let category = event.stream_id.category();
        let kind = event.event_type.replace('.', "_");
        assert_eq!(
            message.subject.as_str(),
            format!("{prefix}.{category}.{kind}")
        );
        let msg_id = message.headers.get(async_nats::header::NATS_MESSAGE_ID);
        assert_eq!(
            msg_id.map(|v| v.as_str().to_owned()),
            Some(event.id.to_string())
        );
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(body["specversion"], "1.0");
        assert_eq!(body["id"], event.id.to_string());
        assert_eq!(body["type"], event.event_type);
        assert_eq!(body["subject"], event.stream_id.to_string());
        assert_eq!(body["position"], event.position.0);
        assert_eq!(body["data"], serde_json::to_value(&event.data).unwrap());
    }
}
