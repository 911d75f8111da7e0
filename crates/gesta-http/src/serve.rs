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

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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

/// Serves `router` on `listener` until `shutdown` completes, then drains connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (signal, watcher) = watch::channel(false);
    let router = router.layer(Extension(Shutdown(watcher.clone())));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => connection(Shutdown(watcher.clone()), stream, router.clone()),
                Err(err) => accept_failed(err).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop((listener, router, watcher));
    let _ = signal.send(true);
    signal.closed().await;
    Ok(())
}

/// Serves one connection on a task of its own, until it ends or the server shuts down.
fn connection(mut shutdown: Shutdown, stream: TcpStream, router: Router) {
    let mut builder = http1::Builder::new();
    builder.half_close(true).timer(TokioTimer::new());
    let service = TowerToHyperService::new(router);
    tokio::spawn(async move {
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
    });
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
