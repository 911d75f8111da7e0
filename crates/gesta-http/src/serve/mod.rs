//! Serving a router on a TCP listener, with graceful shutdown.
//!
//! hyper is configured by hand rather than through `axum::serve` for one setting:
//! `half_close`. Without it hyper treats a client that closes its sending side after
//! a complete request as gone and drops the request's future, sometimes before the
//! handler has even been polled, so a command the client fully sent would silently
//! never run. With it the request runs to the end and its response is sent.
//!
//! Connections are served with upgrades (WebSockets). On shutdown every connection is
//! told to finish its current response and close, and every request carries a
//! [`Shutdown`] extension, so responses that never end by themselves (Server-Sent
//! Events, WebSocket sessions) end too instead of holding the server up for ever.
//!
//! Connections that open a live stream are served on threads of their own
//! (`live.rs`), so subscribers cannot take the CPU commands need.

mod live;

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;

use live::LiveRuntime;

/// The server's shutdown signal, as seen by a connection or a long-lived response.
/// While any clone is alive, [`serve`] waits for it before returning.
#[derive(Clone)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Completes once the server has begun shutting down.
    pub(crate) async fn started(&mut self) {
        let _ = self.0.wait_for(|shutting_down| *shutting_down).await;
    }
}

/// How [`serve_with`] serves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Worker threads for connections whose first request is `GET /subscribe` or
    /// `GET /ws`, running at the lowest priority (nice 19 on Linux): at most that many
    /// cores go to sending events to subscribers, and only what commands and the
    /// writer leave (default: a quarter of the cores, at least one). Zero serves them
    /// on the caller's runtime with everything else.
    pub live_threads: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            live_threads: live::default_threads(),
        }
    }
}

impl ServeOptions {
    /// Sets [`ServeOptions::live_threads`].
    pub fn live_threads(mut self, threads: usize) -> Self {
        self.live_threads = threads;
        self
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains connections;
/// [`serve_with`] the default [`ServeOptions`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, router, shutdown, ServeOptions::default()).await
}

/// Serves `router` on `listener` until `shutdown` completes, then drains connections.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> io::Result<()> {
    let live = match options.live_threads {
        0 => None,
        threads => Some(LiveRuntime::new(threads)?),
    };
    let live_handle = live.as_ref().and_then(LiveRuntime::handle);
    let (signal, watcher) = watch::channel(false);
    let router = router.layer(Extension(Shutdown(watcher.clone())));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shutdown = Shutdown(watcher.clone());
                    connection(shutdown, stream, router.clone(), live_handle.clone());
                }
                Err(err) => accept_failed(err).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop((listener, router, watcher));
    let _ = signal.send(true);
    signal.closed().await;
    drop(live);
    Ok(())
}

/// Serves one connection on a task of its own, until it ends or the server shuts down:
/// on the `live` runtime if its first request opens a live stream.
fn connection(shutdown: Shutdown, stream: TcpStream, router: Router, live: Option<Handle>) {
    tokio::spawn(async move {
        let Some(live) = live else {
            return serve_connection(shutdown, stream, router).await;
        };
        if !live::opens_live_stream(&stream).await {
            return serve_connection(shutdown, stream, router).await;
        }
        // Moved to the live runtime's I/O driver by way of a plain socket.
        match stream.into_std() {
            Ok(socket) => {
                live.spawn(async move {
                    match TcpStream::from_std(socket) {
                        Ok(stream) => serve_connection(shutdown, stream, router).await,
                        Err(err) => tracing::warn!(error = %err, "moving a live connection"),
                    }
                });
            }
            Err(err) => tracing::warn!(error = %err, "moving a live connection"),
        }
    });
}

/// Serves one connection until it ends or the server shuts down.
async fn serve_connection(mut shutdown: Shutdown, stream: TcpStream, router: Router) {
    let mut builder = http1::Builder::new();
    builder.half_close(true).timer(TokioTimer::new());
    let service = TowerToHyperService::new(router);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.started() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

/// Skips an accept error: at once if it concerns one connection, else after a pause
/// (e.g. out of file descriptors) so the loop does not spin.
async fn accept_failed(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
