//! `GET /admin/reactors`, and retrying or skipping a parked event over HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gesta::event::{NewEvent, RecordedEvent, StreamId};
use gesta::reactor::{Reactor, ReactorOptions};
use gesta::{App, AppendRequest, Context, ExpectedVersion, LogQuery, Store};
use serde_json::Value;

mod common;
use common::{get_json, serve};

/// A reactor on `Sent` events that fails while `healthy` is false.
fn mailer(healthy: Arc<AtomicBool>) -> Reactor {
    let options = ReactorOptions::default()
        .retries(2, Duration::from_millis(1), Duration::from_millis(1))
        .checkpoint(1, Duration::from_millis(10));
    Reactor::new(
        "mailer",
        LogQuery::default().event_type("Sent"),
        move |_event: RecordedEvent| {
            let healthy = Arc::clone(&healthy);
            async move {
                if healthy.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err("smtp server down".into())
                }
            }
        },
    )
    .options(options)
}

async fn append(store: &Store, stream: &str, event_type: &str) {
    let request = AppendRequest {
        stream_id: StreamId::new(stream).unwrap(),
        expected: ExpectedVersion::Any,
        events: vec![NewEvent::new(stream, event_type, &serde_json::json!({})).unwrap()],
    };
    store.append(request, Context::default()).await.unwrap();
}

async fn get(base: &str) -> Value {
    get_json(&format!("{base}/admin/reactors")).await
}

/// Polls `GET /admin/reactors` until `done` holds for it.
async fn until(base: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = get(base).await;
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reactors_lists_lag_and_parked_events_and_retries_and_skips_them() {
    let healthy = Arc::new(AtomicBool::new(false));
    let store = Store::builder(App::new("admin"))
        .reactor(mailer(Arc::clone(&healthy)))
        .open()
        .await
        .unwrap();
    let base = serve(store.clone()).await;
    append(&store, "mail-1", "Sent").await;
    append(&store, "other-1", "Ignored").await;
    append(&store, "mail-2", "Sent").await;

    let body = until(&base, "two parked", |b| b["reactors"][0]["parked"] == 2).await;
    assert_eq!(body["head"], 3);
    let mailer = &body["reactors"][0];
    assert_eq!(mailer["name"], "mailer");
    assert_eq!(mailer["registered"], true);
    assert_eq!(mailer["running"], true);
    assert_eq!(
        (mailer["checkpoint"].clone(), mailer["lag"].clone()),
        (3.into(), 0.into())
    );
    let parked = &mailer["parked_events"];
    assert_eq!(parked.as_array().unwrap().len(), 2, "{body}");
    assert_eq!(parked[0]["position"], 1);
    assert_eq!(parked[0]["type"], "Sent");
    assert_eq!(parked[0]["stream"], "mail-1");
    assert_eq!(parked[0]["error"], "smtp server down");
    assert_eq!(parked[0]["attempts"], 2);

    let client = reqwest::Client::new();
    healthy.store(true, Ordering::SeqCst);
    let retried = client
        .post(format!("{base}/admin/reactors/mailer/parked/1/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 202);
    until(&base, "one left", |b| b["reactors"][0]["parked"] == 1).await;

    let skipped = client
        .delete(format!("{base}/admin/reactors/mailer/parked/3"))
        .send()
        .await
        .unwrap();
    assert_eq!(skipped.status(), 200);
    let body = get(&base).await;
    assert_eq!(body["reactors"][0]["parked"], 0, "{body}");
    assert!(
        body["reactors"][0]["parked_events"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let missing = client
        .delete(format!("{base}/admin/reactors/mailer/parked/3"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let bad = client
        .post(format!("{base}/admin/reactors/mailer/parked/x/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let doc: Value = reqwest::get(format!("{base}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/admin/reactors"]["get"].is_object());
    assert!(doc["paths"]["/admin/reactors/{name}/parked/{position}"]["delete"].is_object());
}

#[tokio::test]
async fn admin_reactors_is_empty_without_reactors() {
    let store = Store::open("sqlite::memory:", App::new("none"))
        .await
        .unwrap();
    let base = serve(store.clone()).await;
    append(&store, "a-1", "X").await;
    let body = get(&base).await;
    assert_eq!(body, serde_json::json!({ "head": 1, "reactors": [] }));
}
