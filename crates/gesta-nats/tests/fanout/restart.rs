//! A process publishing with the fan-out is killed (SIGKILL) mid-publish, before it
//! ever wrote a checkpoint; after a restart on the same database the JetStream stream
//! holds every event exactly once, in log order (JetStream drops the repeats by their
//! `Nats-Msg-Id`). On a server backend the Gesta process is killed, not the database.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gesta::reactor::ReactorOptions;
use gesta_nats::fanout;
use gesta_testkit::Database;

use crate::backend;
use crate::log::{assert_matches_log, checkpoint_of, wait_for_checkpoint, write_events_by};
use crate::nats::{TestStream, URL_VAR};

on_every_backend!(kill_and_restart_mid_publish_stores_every_event_once);

/// Set in the child process: the database URL.
const CHILD_DB: &str = "GESTA_NATS_CHILD";
const CHILD_STREAM: &str = "GESTA_NATS_CHILD_STREAM";
const CHILD_PREFIX: &str = "GESTA_NATS_CHILD_PREFIX";
/// Events the child writes before it is killed, and how many per append: appends of
/// many events keep the log ahead of the fan-out, so that the kill leaves events
/// never published as well as events published past the (unwritten) checkpoint.
const CHILD_EVENTS: usize = 2000;
const CHILD_PER_APPEND: usize = 100;
/// Messages in the stream when the child is killed.
const KILL_AFTER: u64 = 150;

async fn kill_and_restart_mid_publish_stores_every_event_once(db: Database) {
    let Some(nats) = TestStream::new(&db).await else {
        return;
    };

    // A process publishing: killed (SIGKILL) once some events are in the stream.
    let mut child = KillOnDrop(spawn_child(&nats, db.url()));
    nats.wait_for_messages(KILL_AFTER).await;
    child.kill();
    let published_before_restart = nats.stored().await;

    // Its checkpoint was never written: every published event is delivered again.
    let store = backend::builder(db.url()).open().await.unwrap();
    let logged = store.last_position().0;
    assert_eq!(checkpoint_of(&store).await, 0);
    assert!(published_before_restart > 0 && published_before_restart <= logged);
    drop(store);

    // Restart: the fan-out takes the lock the killed process held (it went with its
    // connection or process), resumes from the checkpoint and finishes.
    let options = ReactorOptions::default().checkpoint(100, Duration::from_millis(50));
    let fan = fanout(nats.config().options(options));
    let store = backend::builder(db.url())
        .reactor(fan)
        .open()
        .await
        .unwrap();
    wait_for_checkpoint(&store, logged).await;
    let stored = nats.messages().await;
    assert_matches_log(&store, &nats.prefix, &stored).await;
    eprintln!(
        "{}: {published_before_restart} of {logged} events published before the kill, all {} once after the restart",
        db.backend().name(),
        stored.len()
    );
    store.stop_reactors().await;
}

/// The child process: writes `CHILD_EVENTS` events into the store named by the
/// environment with the fan-out running and a checkpoint that is never written, then
/// waits to be killed. Run only by `kill_and_restart_mid_publish_stores_every_event_once`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of kill_and_restart_mid_publish_stores_every_event_once"]
async fn child_publisher() {
    let Ok(db) = std::env::var(CHILD_DB) else {
        eprintln!("child_publisher only runs as a child process");
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    let never = ReactorOptions::default().checkpoint(u64::MAX, Duration::from_secs(3600));
    let config = gesta_nats::NatsConfig::new(var(URL_VAR), "test")
        .stream(var(CHILD_STREAM))
        .subject_prefix(var(CHILD_PREFIX))
        .options(never);
    let store = backend::builder(&db)
        .reactor(fanout(config))
        .open()
        .await
        .unwrap();
    write_events_by(&store, CHILD_EVENTS, CHILD_PER_APPEND).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
}

fn spawn_child(nats: &TestStream, db: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "restart::child_publisher",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DB, db)
        .env(URL_VAR, &nats.url)
        .env(CHILD_STREAM, &nats.name)
        .env(CHILD_PREFIX, &nats.prefix)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills (SIGKILL) the child process when dropped, also when a test fails.
struct KillOnDrop(Child);

impl KillOnDrop {
    /// SIGKILL, then reap.
    fn kill(&mut self) {
        self.0.kill().expect("SIGKILL the child");
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
