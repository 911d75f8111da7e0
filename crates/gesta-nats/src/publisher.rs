//! The connection to NATS (opened on first use, kept for the reactor's life) and the
//! publishing of one event.

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use async_nats::{ConnectOptions, HeaderMap};
use gesta::event::RecordedEvent;
use tokio::sync::OnceCell;

use crate::{Error, subject};

/// What the fan-out needs to publish: where, under which subjects, into which stream.
#[derive(Debug)]
pub(crate) struct Publisher {
    url: String,
    stream: String,
    prefix: String,
    duplicate_window: Duration,
    connect_timeout: Duration,
    ack_timeout: Duration,
    jetstream: OnceCell<jetstream::Context>,
}

impl Publisher {
    pub(crate) fn new(config: &crate::NatsConfig) -> Self {
        Publisher {
            url: config.url.clone(),
            stream: subject::stream_name(&config.stream_name()),
            prefix: subject::prefix(&config.prefix()),
            duplicate_window: config.duplicate_window,
            connect_timeout: config.connect_timeout,
            ack_timeout: config.ack_timeout,
            jetstream: OnceCell::new(),
        }
    }

    /// Publishes `event` as CloudEvents JSON to `<prefix>.<category>.<type>` with its id
    /// as `Nats-Msg-Id`, and waits for JetStream's acknowledgement.
    pub(crate) async fn publish(&self, event: &RecordedEvent) -> Result<(), Error> {
        let context = self.jetstream().await?;
        let subject =
            subject::for_event(&self.prefix, event.stream_id.category(), &event.event_type);
        // A JetStream stream keeps what it is given, beyond the reach of an erasure:
        // personal fields go out as null (consumers read them from the store's API).
        let redacted = gesta::event::personal::redacted(event);
        let body = redacted
            .as_ref()
            .unwrap_or(event)
            .to_cloudevent()
            .to_json()
            .into_bytes();
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            event.id.to_string().as_str(),
        );
        let acked = async {
            context
                .publish_with_headers(subject.clone(), headers, body.into())
                .await?
                .await
        };
        match acked.await {
            Ok(ack) => {
                if ack.duplicate {
                    tracing::debug!(position = event.position.0, event_id = %event.id, "already in the JetStream stream");
                }
                Ok(())
            }
            Err(err) => {
                if err.kind() == PublishErrorKind::StreamNotFound {
                    // Deleted while we ran: make it again for the next attempt.
                    let _ = self.ensure_stream(context).await;
                }
                Err(Error::Publish {
                    subject,
                    source: err,
                })
            }
        }
    }

    /// The JetStream context, connecting and making the stream on first use.
    async fn jetstream(&self) -> Result<&jetstream::Context, Error> {
        self.jetstream
            .get_or_try_init(|| async {
                let client = ConnectOptions::new()
                    .name("gesta-nats fan-out")
                    .connection_timeout(self.connect_timeout)
                    .request_timeout(Some(self.ack_timeout))
                    .connect(self.url.as_str())
                    .await
                    .map_err(|source| Error::Connect {
                        url: self.url.clone(),
                        source,
                    })?;
                let mut context = jetstream::new(client);
                context.set_timeout(self.ack_timeout);
                self.ensure_stream(&context).await?;
                Ok(context)
            })
            .await
    }

    /// Creates the stream (subjects `<prefix>.>`) unless it exists.
    async fn ensure_stream(&self, context: &jetstream::Context) -> Result<(), Error> {
        let config = stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.prefix)],
            duplicate_window: self.duplicate_window,
            ..Default::default()
        };
        let mut stream = context
            .get_or_create_stream(config)
            .await
            .map_err(|source| Error::Stream {
                stream: self.stream.clone(),
                source,
            })?;
        if let Ok(info) = stream.info().await
            && info.config.duplicate_window < self.duplicate_window
        {
            tracing::warn!(
                stream = %self.stream,
                window = ?info.config.duplicate_window,
                "the JetStream stream's duplicate window is shorter than configured: events delivered again after a longer outage may be stored twice"
            );
        }
        Ok(())
    }
}
