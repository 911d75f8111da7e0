//! With NATS unreachable each event is retried, then parked with the reason, and the
//! fan-out goes on (runs without a NATS server).

use std::time::{Duration, Instant};

use gesta::reactor::ReactorOptions;
use gesta_nats::{NatsConfig, fanout};
use gesta_testkit::Database;

use crate::backend::builder;
use crate::log::{REACTOR, write_events};

on_every_backend!(an_unreachable_server_parks_the_event_with_the_reason);

async fn an_unreachable_server_parks_the_event_with_the_reason(db: Database) {
    let mut config = NatsConfig::new("nats://127.0.0.1:1", "test").options(
        ReactorOptions::default()
            .retries(2, Duration::from_millis(10), Duration::from_millis(10))
            .checkpoint(1, Duration::from_millis(10)),
    );
    config.connect_timeout = Duration::from_millis(500);
    let store = builder(db.url())
        .reactor(fanout(config))
        .open()
        .await
        .unwrap();
    write_events(&store, 10).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let parked = loop {
        let parked = store.parked_events(Some(REACTOR), 100).await.unwrap();
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
