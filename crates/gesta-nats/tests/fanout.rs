//! The NATS JetStream fan-out against a real NATS server with JetStream enabled.
//!
//! The server's URL comes from `GESTA_TEST_NATS_URL` (e.g. `nats://127.0.0.1:4222`).
//! Unset, these tests are left out with a message, except under `CI=true`, where an
//! unset or unreachable server is a failure. Each test uses its own stream and subject
//! prefix and deletes the stream at the end.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::StreamMessage};
use gesta::event::{NewEvent, RecordedEvent, StreamId};
use gesta::reactor::ReactorOptions;
use gesta::{App, AppendRequest, Context, ExpectedVersion, LogQuery, Store};
use gesta_nats::{NatsConfig, fanout};
use serde_json::Value;

const URL_VAR: &str = "GESTA_TEST_NATS_URL";
/// Set in the child process of `kill_and_restart_mid_publish_stores_every_event_once`.
const CHILD_VAR: &str = "GESTA_NATS_CHILD";
/// Events the child writes before it is killed.
const CHILD_EVENTS: usize = 2000;

/// The NATS server to test against, or `None` (with a message) when the variable is
/// unset outside CI.
fn nats_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{URL_VAR} must be set under CI=true: CI runs the NATS fan-out tests")
        }
        _ => {
            static ONCE: Once = Once::new();
            ONCE.call_once(|| {
                eprintln!(
                    "NATS fan-out tests left out: set {URL_VAR} (e.g. nats://127.0.0.1:4222)"
                );
            });
            None
        }
    }
}

/// A name no other test run uses.
fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

async fn jetstream(url: &str) -> jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("{URL_VAR}={url} is set but NATS is unreachable: {e}"));
    jetstream::new(client)
}

/// Deletes JetStream stream `.1` at NATS server `.0` when dropped, also when a test
/// fails.
struct DeleteOnDrop(String, String);

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        let (url, name) = (self.0.clone(), self.1.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let _ = jetstream(&url).await.delete_stream(&name).await;
            });
        })
        .join();
    }
}

/// How many messages stream `name` holds (0 while it does not exist).
async fn stored(js: &jetstream::Context, name: &str) -> u64 {
    match js.get_stream(name).await {
        Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.messages),
        Err(_) => 0,
    }
}

/// Waits until stream `name` holds at least `count` messages.
async fn wait_for_messages(js: &jetstream::Context, name: &str, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored(js, name).await < count {
        assert!(
            Instant::now() < deadline,
            "{name} never held {count} messages"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every message of stream `name`, in sequence order.
async fn messages(js: &jetstream::Context, name: &str) -> Vec<StreamMessage> {
    let mut stream = js.get_stream(name).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    let mut out = Vec::new();
    for seq in state.first_sequence..=state.last_sequence {
        out.push(stream.get_raw_message(seq).await.unwrap());
    }
    assert_eq!(out.len() as u64, state.messages, "gaps in {name}");
    out
}

/// Appends `events` events (a multiple of 10), 10 per append, into streams of two
/// categories: a third to `order-*` as `v1.Placed`, the rest to `account-*` as `Opened`.
async fn write_events(store: &Store, events: usize) {
    for chunk in 0..events / 10 {
        let (stream, kind) = if chunk % 3 == 0 {
            (format!("order-{}", chunk % 7), "v1.Placed")
        } else {
            (format!("account-{}", chunk % 5), "Opened")
        };
        let batch = (0..10)
            .map(|i| {
                NewEvent::new(
                    stream.as_str(),
                    kind,
                    &serde_json::json!({ "n": chunk * 10 + i }),
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

/// Checks that `messages` are exactly the events of `store`'s log, in order: subject,
/// `Nats-Msg-Id` and CloudEvents body.
async fn assert_matches_log(store: &Store, prefix: &str, messages: &[StreamMessage]) {
    let log = Arc::new(Mutex::new(Vec::<RecordedEvent>::new()));
    let sink = Arc::clone(&log);
    store
        .scan(gesta::event::Position(0), move |event| {
            sink.lock().unwrap().push(event.clone())
        })
        .await
        .unwrap();
    let log = log.lock().unwrap().clone();
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

fn config(url: &str, stream: &str, prefix: &str) -> NatsConfig {
    NatsConfig::new(url, "test")
        .stream(stream)
        .subject_prefix(prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_in_order_with_subjects_and_cloudevents_bodies() {
    let Some(url) = nats_url() else { return };
    let id = unique();
    let (stream, prefix) = (format!("GESTA_TEST_{id}"), format!("gesta.test{id}"));
    let js = jetstream(&url).await;
    let _cleanup = DeleteOnDrop(url.clone(), stream.clone());
    let fan = fanout(
        config(&url, &stream, &prefix)
            .options(ReactorOptions::default().checkpoint(10, Duration::from_millis(50))),
    );
    let store = Store::builder(App::new("fanout"))
        .reactor(fan)
        .open()
        .await
        .unwrap();
    write_events(&store, 60).await;

    wait_for_messages(&js, &stream, 60).await;
    let stored = messages(&js, &stream).await;
    assert_matches_log(&store, &prefix, &stored).await;

    // The fan-out made the stream: every subject under the prefix, a duplicate window.
    let mut info = js.get_stream(&stream).await.unwrap();
    let config = info.info().await.unwrap().config.clone();
    assert_eq!(config.subjects, vec![format!("{prefix}.>")]);
    assert_eq!(config.duplicate_window, Duration::from_secs(120));
    store.stop_reactors().await;
}

/// The child process: writes `CHILD_EVENTS` events into the store named by the
/// environment with the fan-out running and a checkpoint that is never written, then
/// waits to be killed. Run only by `kill_and_restart_mid_publish_stores_every_event_once`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of kill_and_restart_mid_publish_stores_every_event_once"]
async fn child_publisher() {
    let Ok(db) = std::env::var(CHILD_VAR) else {
        eprintln!("child_publisher only runs as a child process");
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    let never = ReactorOptions::default().checkpoint(u64::MAX, Duration::from_secs(3600));
    let fan = fanout(
        config(
            &var(URL_VAR),
            &var("GESTA_NATS_CHILD_STREAM"),
            &var("GESTA_NATS_CHILD_PREFIX"),
        )
        .options(never),
    );
    let store = Store::builder(App::new("fanout"))
        .url(&db)
        .reactor(fan)
        .open()
        .await
        .unwrap();
    write_events(&store, CHILD_EVENTS).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
}

fn spawn_child(url: &str, db: &str, stream: &str, prefix: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child_publisher", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_VAR, db)
        .env(URL_VAR, url)
        .env("GESTA_NATS_CHILD_STREAM", stream)
        .env("GESTA_NATS_CHILD_PREFIX", prefix)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills (SIGKILL) the child process when dropped, also when a test fails.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn checkpoint_of(store: &Store, reactor: &str) -> u64 {
    let statuses = store.reactors().await.unwrap();
    statuses
        .iter()
        .find(|s| s.name == reactor)
        .map_or(0, |s| s.checkpoint.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_restart_mid_publish_stores_every_event_once() {
    let Some(url) = nats_url() else { return };
    let id = unique();
    let (stream, prefix) = (format!("GESTA_TEST_{id}"), format!("gesta.test{id}"));
    let js = jetstream(&url).await;
    let _cleanup = DeleteOnDrop(url.clone(), stream.clone());
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("fanout.db").display());

    // A process publishing: killed (SIGKILL) once some events are in the stream.
    let mut child = KillOnDrop(spawn_child(&url, &db, &stream, &prefix));
    wait_for_messages(&js, &stream, 100).await;
    child.0.kill().unwrap();
    let _ = child.0.wait();
    let published_before_restart = stored(&js, &stream).await;

    // Its checkpoint was never written: every published event is delivered again.
    let store = Store::builder(App::new("fanout"))
        .url(&db)
        .open()
        .await
        .unwrap();
    let logged = store.last_position().0;
    assert_eq!(checkpoint_of(&store, "nats-fanout").await, 0);
    assert!(published_before_restart > 0 && published_before_restart <= logged);
    drop(store);

    // Restart: the fan-out resumes from the checkpoint and finishes.
    let fan = fanout(
        config(&url, &stream, &prefix)
            .options(ReactorOptions::default().checkpoint(100, Duration::from_millis(50))),
    );
    let store = Store::builder(App::new("fanout"))
        .url(&db)
        .reactor(fan)
        .open()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while checkpoint_of(&store, "nats-fanout").await < logged {
        assert!(Instant::now() < deadline, "the fan-out never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = messages(&js, &stream).await;
    assert_matches_log(&store, &prefix, &stored).await;
    eprintln!(
        "{published_before_restart} of {logged} events published before the kill, all {} once after the restart",
        stored.len()
    );
    store.stop_reactors().await;
}

/// The fan-out only publishes what its filter accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filter_limits_what_is_published() {
    let Some(url) = nats_url() else { return };
    let id = unique();
    let (stream, prefix) = (format!("GESTA_TEST_{id}"), format!("gesta.test{id}"));
    let js = jetstream(&url).await;
    let _cleanup = DeleteOnDrop(url.clone(), stream.clone());
    let fan = fanout(
        config(&url, &stream, &prefix)
            .filter(LogQuery::default().event_type("Opened"))
            .options(ReactorOptions::default().checkpoint(10, Duration::from_millis(50))),
    );
    let store = Store::builder(App::new("fanout"))
        .reactor(fan)
        .open()
        .await
        .unwrap();
    write_events(&store, 30).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while checkpoint_of(&store, "nats-fanout").await < store.last_position().0 {
        assert!(Instant::now() < deadline, "the fan-out never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = messages(&js, &stream).await;
    assert_eq!(stored.len(), 20, "the 20 Opened events of 30");
    assert!(
        stored
            .iter()
            .all(|m| m.subject.ends_with(".account.Opened"))
    );
    store.stop_reactors().await;
}

/// With NATS unreachable the event is retried, then parked with the reason, and the
/// fan-out goes on (runs without a NATS server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_parks_the_event_with_the_reason() {
    let mut config = NatsConfig::new("nats://127.0.0.1:1", "test").options(
        ReactorOptions::default()
            .retries(2, Duration::from_millis(10), Duration::from_millis(10))
            .checkpoint(1, Duration::from_millis(10)),
    );
    config.connect_timeout = Duration::from_millis(500);
    let store = Store::builder(App::new("fanout"))
        .reactor(fanout(config))
        .open()
        .await
        .unwrap();
    write_events(&store, 10).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let parked = loop {
        let parked = store.parked_events(Some("nats-fanout"), 100).await.unwrap();
        if parked.len() == 10 || Instant::now() > deadline {
            break parked;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(parked.len(), 10, "every event parked after its 2 attempts");
    assert_eq!(parked[0].attempts, 2);
    assert!(
        parked[0]
            .error
            .contains("cannot connect to NATS at nats://127.0.0.1:1"),
        "{}",
        parked[0].error
    );
    store.stop_reactors().await;
}
