//! NATS for Gesta (DESIGN.md sections 4 and 5): a built-in [reactor](gesta::reactor)
//! that publishes every committed event to a JetStream stream, for the other services
//! of a system, and the [intake] that takes commands over request-reply.
//!
//! - **Subjects.** Each event goes to `<prefix>.<category>.<type>`, where the prefix
//!   defaults to `gesta.<store>.events` (not `gesta.<store>`: the stream takes every
//!   subject under its prefix, and would take — and acknowledge, racing the intake's
//!   reply — the command requests on `gesta.<store>.commands.<Name>`), the category is the stream id's part before its first
//!   `-` (`account-42` → `account`) and the type is the event's type. A character a
//!   subject token may not hold (`.`, `*`, `>`, whitespace) becomes `_`.
//! - **Body.** The event as CloudEvents 1.0 JSON ([`RecordedEvent::to_cloudevent`]).
//! - **Exactly once in the stream.** A reactor delivers at least once: after a crash
//!   the events since its last checkpoint are published again. Each message carries the
//!   event id as `Nats-Msg-Id`, so JetStream drops those repeats as long as they come
//!   within the stream's duplicate window ([`NatsConfig::duplicate_window`], 2 minutes
//!   by default).
//! - **In order.** Each publish waits for JetStream's acknowledgement before the next
//!   event is taken, so the reactor's checkpoint only moves past stored messages.
//! - **The stream** (default name `GESTA_<store>`, subjects `<prefix>.>`) is created
//!   when missing, on first connection; an existing one is used as it is.
//!
//! The connection is opened on the first event, and a failure (NATS down, no ack in
//! time) is retried with the reactor's backoff; see [`NatsConfig::options`] for when
//! an event is parked instead.
//!
//! ```no_run
//! # async fn run() -> Result<(), gesta::Error> {
//! use gesta::{App, Store};
//! use gesta_nats::{NatsConfig, fanout};
//!
//! let nats = fanout(NatsConfig::new("nats://127.0.0.1:4222", "bank"));
//! let store = Store::builder(App::new("bank")).reactor(nats).open().await?;
//! # drop(store); Ok(()) }
//! ```

pub mod intake;
mod publisher;
pub mod subject;

use std::sync::Arc;
use std::time::Duration;

pub use intake::{Intake, IntakeConfig, IntakeError};

use gesta::LogQuery;
use gesta::reactor::{BoxError, Reactor, ReactorOptions};

#[cfg(doc)]
use gesta::event::RecordedEvent;

/// Where and how the fan-out publishes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222` (several may be given, comma-separated).
    pub url: String,
    /// The store's name: used in the default stream name and subject prefix.
    pub store: String,
    /// The JetStream stream. Default `GESTA_<store>`.
    pub stream: Option<String>,
    /// The subject prefix. Default `gesta.<store>.events`, beside the intake's
    /// `gesta.<store>.commands` (see the crate docs).
    pub subject_prefix: Option<String>,
    /// The reactor's name (its checkpoint and lock). Default `nats-fanout`.
    pub reactor_name: String,
    /// Which events to publish. Default: all.
    pub filter: LogQuery,
    /// The duplicate window of a stream this creates. Default 2 minutes.
    pub duplicate_window: Duration,
    /// How long connecting may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long to wait for JetStream's acknowledgement of one publish. Default 5 s.
    pub ack_timeout: Duration,
    /// Retries, checkpoints and locking of the reactor. Default: 30 attempts per event,
    /// waits from 100 ms doubling up to 5 s (about two minutes of NATS outage before an
    /// event is parked), 15 s per attempt, otherwise [`ReactorOptions::default`].
    pub options: ReactorOptions,
}

impl NatsConfig {
    /// The defaults for store `store` publishing to the NATS server at `url`.
    pub fn new(url: impl Into<String>, store: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            store: store.into(),
            stream: None,
            subject_prefix: None,
            reactor_name: "nats-fanout".to_owned(),
            filter: LogQuery::default(),
            duplicate_window: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(5),
            options: ReactorOptions::default()
                .retries(30, Duration::from_millis(100), Duration::from_secs(5))
                .attempt_timeout(Duration::from_secs(15)),
        }
    }

    /// Sets the JetStream stream's name.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = Some(name.into());
        self
    }

    /// Sets the subject prefix.
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = Some(prefix.into());
        self
    }

    /// Sets the reactor's name.
    pub fn reactor_name(mut self, name: impl Into<String>) -> Self {
        self.reactor_name = name.into();
        self
    }

    /// Publishes only the events `filter` accepts.
    pub fn filter(mut self, filter: LogQuery) -> Self {
        self.filter = filter;
        self
    }

    /// Sets the duplicate window of a stream this creates.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// Sets the reactor's retries, checkpoints and locking.
    pub fn options(mut self, options: ReactorOptions) -> Self {
        self.options = options;
        self
    }

    /// The stream's name in effect (before characters NATS refuses are replaced).
    pub fn stream_name(&self) -> String {
        self.stream
            .clone()
            .unwrap_or_else(|| format!("GESTA_{}", self.store))
    }

    /// The subject prefix in effect (before characters NATS refuses are replaced).
    pub fn prefix(&self) -> String {
        self.subject_prefix
            .clone()
            .unwrap_or_else(|| format!("gesta.{}.events", subject::token(&self.store)))
    }
}

/// Why one event could not be published (kept with the event if it is parked).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The NATS server could not be reached.
    #[error("cannot connect to NATS at {url}")]
    Connect {
        /// The server's URL.
        url: String,
        /// Why.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The JetStream stream could not be found or created.
    #[error("cannot find or create the JetStream stream {stream}")]
    Stream {
        /// The stream's name.
        stream: String,
        /// Why.
        #[source]
        source: async_nats::jetstream::context::CreateStreamError,
    },
    /// JetStream did not acknowledge the publish.
    #[error("publishing to {subject} failed")]
    Publish {
        /// The subject.
        subject: String,
        /// Why.
        #[source]
        source: async_nats::jetstream::context::PublishError,
    },
}

/// The fan-out reactor: register it with [`gesta::StoreBuilder::reactor`].
pub fn fanout(config: NatsConfig) -> Reactor {
    let publisher = Arc::new(publisher::Publisher::new(&config));
    Reactor::new(
        config.reactor_name.clone(),
        config.filter.clone(),
        move |event| {
            let publisher = Arc::clone(&publisher);
            async move {
                publisher
                    .publish(&event)
                    .await
                    .map_err(|err| Box::new(err) as BoxError)
            }
        },
    )
    .options(config.options)
}
