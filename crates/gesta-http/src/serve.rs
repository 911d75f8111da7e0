//! Serving a router on a TCP listener, with graceful shutdown.
//!
//! hyper is configured by hand rather than through `axum::serve` for one setting:
//! `half_close`. Without it hyper treats a client that closes its sending side after
//! a complete request as gone and drops the request's future, sometimes before the
//! handler has even been polled, so a command the client fully sent would silently
//! never run. With it the request runs to the end and its response is sent.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};

/// Serves `router` on `listener` until `shutdown` completes, then drains connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => connection(&graceful, stream, router.clone()),
                Err(err) => accept_failed(err).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one connection on a task of its own.
fn connection(graceful: &GracefulShutdown, stream: TcpStream, router: Router) {
    let mut builder = http1::Builder::new();
    builder.half_close(true).timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        if let Err(err) = conn.await {
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
