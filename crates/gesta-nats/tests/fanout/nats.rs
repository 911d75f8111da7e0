//! The JetStream stream a test publishes to: a name and subject prefix no other test
//! (nor another backend's run of the same test) uses, deleted when the test ends.

use std::io::Write;
use std::sync::Once;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::StreamMessage, stream};
use gesta_nats::NatsConfig;
use gesta_testkit::Database;

pub const URL_VAR: &str = "GESTA_TEST_NATS_URL";

/// The NATS server to test against, or `None` (with a message) when the variable is
/// unset outside CI.
pub fn nats_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if gesta_testkit::in_ci() => {
            panic!("{URL_VAR} must be set under CI=true: CI runs the NATS fan-out tests")
        }
        _ => {
            static ONCE: Once = Once::new();
            // Straight to stderr: the test harness captures eprintln! of passing tests.
            ONCE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
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

pub async fn connect(url: &str) -> jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("{URL_VAR}={url} is set but NATS is unreachable: {e}"));
    jetstream::new(client)
}

/// One test's JetStream stream (made by the fan-out on its first publish); deleted
/// when dropped, also when the test fails.
pub struct TestStream {
    /// The NATS server.
    pub url: String,
    /// The stream's name.
    pub name: String,
    /// The subject prefix the fan-out publishes under.
    pub prefix: String,
    js: jetstream::Context,
}

impl TestStream {
    /// A fresh stream name and prefix for a test on `db`, or `None` when NATS is left
    /// out.
    pub async fn new(db: &Database) -> Option<TestStream> {
        let url = nats_url()?;
        let (backend, id) = (db.backend().name(), unique());
        Some(TestStream {
            js: connect(&url).await,
            url,
            name: format!("GESTA_TEST_{backend}_{id}"),
            prefix: format!("gesta.test.{backend}{id}"),
        })
    }

    /// The fan-out's configuration for this stream and prefix.
    pub fn config(&self) -> NatsConfig {
        NatsConfig::new(&self.url, "test")
            .stream(&self.name)
            .subject_prefix(&self.prefix)
    }

    /// How many messages the stream holds (0 while it does not exist).
    pub async fn stored(&self) -> u64 {
        match self.js.get_stream(&self.name).await {
            Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.messages),
            Err(_) => 0,
        }
    }

    /// Waits until the stream holds at least `count` messages.
    pub async fn wait_for_messages(&self, count: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.stored().await < count {
            assert!(
                Instant::now() < deadline,
                "{} never held {count} messages",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Every message of the stream, in sequence order.
    pub async fn messages(&self) -> Vec<StreamMessage> {
        let mut stream = self.js.get_stream(&self.name).await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        let mut out = Vec::new();
        for seq in state.first_sequence..=state.last_sequence {
            out.push(stream.get_raw_message(seq).await.unwrap());
        }
        assert_eq!(out.len() as u64, state.messages, "gaps in {}", self.name);
        out
    }

    /// The stream's configuration.
    pub async fn stream_config(&self) -> stream::Config {
        let mut stream = self.js.get_stream(&self.name).await.unwrap();
        stream.info().await.unwrap().config.clone()
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let _ = connect(&url).await.delete_stream(&name).await;
            });
        })
        .join();
    }
}
