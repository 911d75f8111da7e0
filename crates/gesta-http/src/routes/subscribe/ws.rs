//! The `GET /ws` session: one CloudEvents JSON text message per event.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use gesta::subscription::Subscription;

use super::shutting_down;
use crate::serve::Shutdown;

/// Sends the subscription's events over `socket` until the client leaves, a read
/// fails or the server shuts down; pings the client every `ping_every`.
pub(super) async fn session(
    mut socket: WebSocket,
    mut subscription: Subscription,
    mut shutdown: Option<Shutdown>,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let close = loop {
        tokio::select! {
            next = subscription.next() => match next {
                Ok(event) => {
                    let text = event.cloudevent_json().to_owned();
                    if socket.send(Message::Text(text.into())).await.is_err() {
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
