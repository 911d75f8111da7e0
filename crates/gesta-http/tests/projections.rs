//! `GET /admin/projections`, `POST /admin/projections/{name}/rebuild`, and the lag
//! gauges of projections and reactors in `/metrics`.

use std::time::{Duration, Instant};

use gesta::event::{NewEvent, RecordedEvent, StreamId};
use gesta::projection::Projection;
use gesta::reactor::{Reactor, ReactorOptions};
use gesta::{App, AppendRequest, Context, ExpectedVersion, LogQuery, Migration, Store, params};
use serde_json::Value;

mod common;
use common::{get_json, get_text, serve};

/// A store whose `counts` projection counts events per type, with a `mailer`
/// reactor that accepts everything.
async fn open() -> Store {
    let app = App::new("projections").migration(Migration::new(
        "0001",
        "CREATE TABLE type_counts (event_type VARCHAR(200) PRIMARY KEY, n BIGINT NOT NULL)",
    ));
    let counts = Projection::new(
        "counts",
        &["type_counts"],
        LogQuery::default(),
        |tx, event: &RecordedEvent| {
            let key = params! { "t" => event.event_type.as_str() };
            if tx.execute(
                "UPDATE type_counts SET n = n + 1 WHERE event_type = :t",
                &key,
            )? == 0
            {
                tx.execute(
                    "INSERT INTO type_counts (event_type, n) VALUES (:t, 1)",
                    &key,
                )?;
            }
            Ok(())
        },
    );
    let mailer = Reactor::new("mailer", LogQuery::default(), |_event| async { Ok(()) })
        .options(ReactorOptions::default().checkpoint(1, Duration::from_millis(10)));
    Store::builder(app)
        .projection(counts)
        .reactor(mailer)
        .open()
        .await
        .unwrap()
}

async fn append(store: &Store, n: usize) {
    let stream = StreamId::new("order-1").unwrap();
    let events = (0..n)
        .map(|_| NewEvent::new("order-1", "Placed", &serde_json::json!({})).unwrap())
        .collect();
    let request = AppendRequest {
        stream_id: stream,
        expected: ExpectedVersion::Any,
        events,
    };
    store.append(request, Context::default()).await.unwrap();
}

async fn projections(base: &str) -> Value {
    get_json(&format!("{base}/admin/projections")).await
}

async fn metrics(base: &str) -> String {
    get_text(&format!("{base}/metrics")).await
}

/// Polls until `done` holds for `GET /admin/projections` and `/metrics`.
async fn until(base: &str, what: &str, done: impl Fn(&Value, &str) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (body, text) = (projections(base).await, metrics(base).await);
        if done(&body, &text) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: {body}\n{text}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn placed(store: &Store) -> i64 {
    let rows = store
        .query(
            "SELECT n FROM type_counts WHERE event_type = 'Placed'",
            params! {},
        )
        .await
        .unwrap();
    rows.first().map_or(0, |r| r.get("n").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_projections_and_metrics_show_lag_and_a_rebuild_resets() {
    let store = open().await;
    let base = serve(store.clone()).await;
    append(&store, 3).await;
    let body = until(&base, "caught up", |body, text| {
        body["projections"][0]["checkpoint"] == 3
            && text.contains("gesta_projection_lag{name=\"counts\"} 0")
            && text.contains("gesta_reactor_lag{name=\"mailer\"} 0")
    })
    .await;
    assert_eq!(body["head"], 3);
    let counts = &body["projections"][0];
    assert_eq!(counts["name"], "counts");
    assert_eq!(counts["lag"], 0);
    assert_eq!(counts["registered"], true);
    assert_eq!(counts["running"], true);
    assert!(counts["error"].is_null());
    assert!(counts["updated_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(placed(&store).await, 3);

    store.stop_projections().await;
    store.stop_reactors().await;
    append(&store, 2).await;
    let body = until(&base, "lag of stopped followers", |_, text| {
        text.contains("gesta_projection_lag{name=\"counts\"} 2")
            && text.contains("gesta_reactor_lag{name=\"mailer\"} 2")
    })
    .await;
    assert_eq!(body["projections"][0]["lag"], 2);
    assert_eq!(body["projections"][0]["running"], false);

    let client = reqwest::Client::new();
    let rebuild = |name: &str| {
        client
            .post(format!("{base}/admin/projections/{name}/rebuild"))
            .send()
    };
    assert_eq!(rebuild("nope").await.unwrap().status(), 404);
    assert_eq!(rebuild("counts").await.unwrap().status(), 202);
    let body = projections(&base).await;
    assert_eq!(
        body["projections"][0]["checkpoint"], 0,
        "checkpoint reset: {body}"
    );
    assert_eq!(body["projections"][0]["lag"], 5);
    assert_eq!(placed(&store).await, 0, "tables emptied");
    assert!(
        metrics(&base)
            .await
            .contains("gesta_projection_lag{name=\"counts\"} 5")
    );
    let doc: Value = reqwest::get(format!("{base}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/admin/projections"]["get"].is_object());
}
