//! Commands over NATS request-reply: `gesta.<store>.commands.<Name>` in a queue group,
//! through the pipeline of `POST /commands/{name}` (the caller's token and rights,
//! the JSON Schema, the handler, idempotency, the writer).
//!
//! - **Request.** The body is the command's JSON; headers `Authorization: Bearer T`
//!   (with authentication on), `Idempotency-Key` and `X-Correlation-Id` as over HTTP.
//! - **Reply.** The outcome JSON of `POST /commands/{name}` (`command_id`, `position`,
//!   `events`) with `Gesta-Status: 200` (and `Idempotent-Replayed: true` for a retry),
//!   or the problem JSON with `Gesta-Status` its status, `Content-Type:
//!   application/problem+json`, and the NATS service error headers
//!   (`Nats-Service-Error`, `Nats-Service-Error-Code`) that `nats req` shows.
//! - **Several servers.** Every process subscribes in the queue group `gesta`, so each
//!   request goes to one of them; a request retried after a timeout with the same
//!   `Idempotency-Key` runs once (the key is the store's, whichever process takes it).
//! - **A NATS service.** The intake answers the Services ("micro") protocol, so
//!   `nats micro ls` finds it: `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` (also
//!   addressed by name and by id), one endpoint per command with its request and
//!   error counts ([`service`]).
//!
//! ```no_run
//! # async fn run(store: gesta::Store) -> Result<(), gesta_nats::IntakeError> {
//! let intake = gesta_nats::Intake::start(
//!     store,
//!     gesta_nats::IntakeConfig::new("nats://127.0.0.1:4222", "bank"),
//! )
//! .await?;
//! // ... serve ...
//! intake.stop().await;
//! # Ok(()) }
//! ```

mod handle;
pub mod service;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use gesta::Store;
use gesta_auth::Security;
use tokio::sync::{Semaphore, watch};

use crate::subject;

/// Where and how commands are taken.
#[derive(Clone)]
#[non_exhaustive]
pub struct IntakeConfig {
    /// The NATS server(s), e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The store's name: the subjects are `gesta.<store>.commands.<Name>`.
    pub store: String,
    /// The queue group every server of the store joins. Default `gesta`.
    pub queue_group: String,
    /// Authentication and policy (as the HTTP API's); `None` runs every request.
    pub security: Option<Arc<Security>>,
    /// The most commands in flight at once; beyond, requests wait in NATS. Default 1024.
    pub max_in_flight: usize,
    /// How long connecting may take. Default 5 s.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for IntakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeConfig")
            .field("url", &self.url)
            .field("store", &self.store)
            .field("queue_group", &self.queue_group)
            .field("security", &self.security.is_some())
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

impl IntakeConfig {
    /// The defaults for store `store` on the NATS server at `url`.
    pub fn new(url: impl Into<String>, store: impl Into<String>) -> Self {
        IntakeConfig {
            url: url.into(),
            store: store.into(),
            queue_group: "gesta".into(),
            security: None,
            max_in_flight: 1024,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Requires a token on every request and applies `security`'s policy.
    pub fn security(mut self, security: Option<Arc<Security>>) -> Self {
        self.security = security;
        self
    }

    /// The subjects' prefix: `gesta.<store>.commands`.
    pub fn prefix(&self) -> String {
        format!("gesta.{}.commands", subject::token(&self.store))
    }
}

/// Why the intake could not start.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The NATS server could not be reached.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
    /// A subscription was refused.
    #[error("cannot subscribe to {subject}: {source}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        source: async_nats::SubscribeError,
    },
}

/// The running intake: stops when [`Intake::stop`] is called (or dropped).
pub struct Intake {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    service: Arc<service::Service>,
}

impl Intake {
    /// Connects, subscribes and starts taking commands for `store`.
    pub async fn start(store: Store, config: IntakeConfig) -> Result<Intake, IntakeError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(config.connect_timeout)
            .name(format!("gesta-{}", config.store))
            .connect(&config.url)
            .await
            .map_err(|source| IntakeError::Connect {
                url: config.url.clone(),
                source,
            })?;
        let prefix = config.prefix();
        // Subject token → command name (a name with a `.` in it is taken as `_`).
        let commands: HashMap<String, String> = store
            .app()
            .command_names()
            .into_iter()
            .map(|name| (subject::token(name), name.to_owned()))
            .collect();
        let service = Arc::new(service::Service::new(
            &config.store,
            &prefix,
            &config.queue_group,
            commands.values().map(String::as_str),
        ));
        let wildcard = format!("{prefix}.*");
        let requests = client
            .queue_subscribe(wildcard.clone(), config.queue_group.clone())
            .await
            .map_err(|source| IntakeError::Subscribe {
                subject: wildcard.clone(),
                source,
            })?;
        let mut control = Vec::new();
        for subject in service.control_subjects() {
            let subscription = client.subscribe(subject.clone()).await.map_err(|source| {
                IntakeError::Subscribe {
                    subject: subject.clone(),
                    source,
                }
            })?;
            control.push(subscription);
        }
        // The subscriptions are registered with the server once the client flushes:
        // only then is the intake ready for a request.
        let _ = client.flush().await;
        let (stop, stopped) = watch::channel(false);
        let context = Arc::new(handle::Handler {
            store,
            client: client.clone(),
            prefix,
            commands,
            security: config.security.clone(),
            service: Arc::clone(&service),
        });
        let limit = config.max_in_flight.max(1);
        let task = tokio::spawn(run(
            context,
            requests,
            futures_util::stream::select_all(control),
            stopped,
            limit,
        ));
        tracing::info!(
            subjects = %wildcard,
            queue_group = %config.queue_group,
            service = %service.name(),
            "taking commands over NATS"
        );
        Ok(Intake {
            stop,
            task,
            service,
        })
    }

    /// The service's name and id, as `$SRV.PING` answers them.
    pub fn service(&self) -> (&str, &str) {
        (self.service.name(), self.service.id())
    }

    /// Stops taking requests, answers those in flight, and returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Takes requests until stopped; each runs on a task of its own, at most `limit` at
/// once, so that concurrent requests share group commits.
async fn run(
    handler: Arc<handle::Handler>,
    mut requests: async_nats::Subscriber,
    mut control: futures_util::stream::SelectAll<async_nats::Subscriber>,
    mut stopped: watch::Receiver<bool>,
    limit: usize,
) {
    let permits = Arc::new(Semaphore::new(limit));
    loop {
        tokio::select! {
            message = requests.next() => {
                let Some(message) = message else { break };
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { break };
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    handler.command(message).await;
                    drop(permit);
                });
            }
            message = control.next() => {
                let Some(message) = message else { break };
                handler.control(message).await;
            }
            _ = stopped.changed() => break,
        }
    }
    let _ = requests.unsubscribe().await;
    // Every permit back: the requests in flight have been answered.
    let _ = permits.acquire_many(limit as u32).await;
    let _ = handler.client.flush().await;
}
