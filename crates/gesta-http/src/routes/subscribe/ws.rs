//! The `GET /ws` session: one CloudEvents JSON text message per event, the messages
//! of a paced batch (see `paced.rs`) in one write.

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::SinkExt;
use gesta::event::SharedEvent;
use gesta::subscription::Subscription;

use super::paced::Paced;
use super::{Live, shutting_down};
use crate::serve::Shutdown;

/// Sends the subscription's events over `socket` until the client leaves, a read
/// fails or the server shuts down; pings the client every `live.keep_alive`.
pub(super) async fn session(
    mut socket: WebSocket,
    subscription: Subscription,
    mut shutdown: Option<Shutdown>,
    live: Live,
) {
    let mut events = Paced::new(subscription, live.flush_interval);
    let ping_every = live.keep_alive;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let close = loop {
        tokio::select! {
            next = events.next() => match next {
                Ok(batch) => {
                    if send(&mut socket, &batch).await.is_err() {
                        return;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "subscription ended");
                    break (close_code::ERROR, "reading the log failed");
                }
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the protocol layer; other messages are ignored.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
            () = shutting_down(&mut shutdown) => break (close_code::AWAY, "server shutting down"),
        }
    };
    let frame = CloseFrame {
        code: close.0,
        reason: close.1.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Sends one text message per event, flushed together.
async fn send(socket: &mut WebSocket, batch: &[SharedEvent]) -> Result<(), axum::Error> {
    for event in batch {
        let text = event.cloudevent_json().to_owned();
        socket.feed(Message::Text(text.into())).await?;
    }
    socket.flush().await
}
