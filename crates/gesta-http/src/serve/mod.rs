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
//!
//! With [`ServeOptions::tls`] connections are TLS (rustls) and speak HTTP/1.1 or
//! HTTP/2. Every connection has a header-read timeout and an idle timeout (`idle.rs`
//! notes when bytes last moved), so half-open or trickling clients cannot hold
//! connections, and carries the peer address (`ConnectInfo`) for per-IP limits.

mod idle;
mod live;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower_http::add_extension::AddExtension;

pub use live::LivePriority;
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
    /// The priority of those threads (default [`LivePriority::Lowest`]).
    pub live_priority: LivePriority,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2, by ALPN) with this configuration instead of
    /// plain HTTP/1.1. Live streams are then served with everything else.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long a client may take to send a request's headers, counted from when the
    /// connection starts waiting for one, so also how long a kept-alive connection
    /// may sit between requests (default 30 s, hyper's own default: shorter makes
    /// clients that reuse pooled connections meet more closed ones).
    pub header_read_timeout: Duration,
    /// How long a connection may carry no bytes either way before it is closed
    /// (default 120 s; live streams send keep-alives well within it).
    pub idle_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            live_threads: live::default_threads(),
            live_priority: LivePriority::default(),
            tls: None,
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

impl ServeOptions {
    /// Sets [`ServeOptions::live_threads`].
    pub fn live_threads(mut self, threads: usize) -> Self {
        self.live_threads = threads;
        self
    }

    /// Sets [`ServeOptions::live_priority`].
    pub fn live_priority(mut self, priority: LivePriority) -> Self {
        self.live_priority = priority;
        self
    }

    /// Sets [`ServeOptions::tls`].
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Sets [`ServeOptions::header_read_timeout`] (at least 1 ms).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Sets [`ServeOptions::idle_timeout`] (at least 1 ms).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.max(Duration::from_millis(1));
        self
    }
}

/// What every connection is served with.
#[derive(Clone)]
struct Settings {
    router: Router,
    live: Option<Handle>,
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
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
        threads => Some(LiveRuntime::new(threads, options.live_priority)?),
    };
    let live_handle = live.as_ref().and_then(LiveRuntime::handle);
    let (signal, watcher) = watch::channel(false);
    let router = router.layer(Extension(Shutdown(watcher.clone())));
    let settings = Settings {
        router,
        live: live_handle.filter(|_| options.tls.is_none()),
        tls: options.tls.map(TlsAcceptor::from),
        header_read_timeout: options.header_read_timeout,
        idle_timeout: options.idle_timeout,
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let shutdown = Shutdown(watcher.clone());
                    connection(shutdown, stream, peer, settings.clone());
                }
                Err(err) => accept_failed(err).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop((listener, settings, watcher));
    let _ = signal.send(true);
    signal.closed().await;
    drop(live);
    Ok(())
}

/// Serves one connection on a task of its own, until it ends or the server shuts down:
/// on the `live` runtime if its first request opens a live stream.
fn connection(shutdown: Shutdown, stream: TcpStream, peer: SocketAddr, settings: Settings) {
    tokio::spawn(async move {
        if let Some(acceptor) = settings.tls.clone() {
            let handshake =
                tokio::time::timeout(settings.header_read_timeout, acceptor.accept(stream));
            match handshake.await {
                Ok(Ok(tls)) => return serve_connection(shutdown, tls, peer, &settings).await,
                Ok(Err(err)) => tracing::debug!(error = %err, %peer, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
            return;
        }
        let Some(live) = settings.live.clone() else {
            return serve_connection(shutdown, stream, peer, &settings).await;
        };
        if !live::opens_live_stream(&stream).await {
            return serve_connection(shutdown, stream, peer, &settings).await;
        }
        // Moved to the live runtime's I/O driver by way of a plain socket.
        match stream.into_std() {
            Ok(socket) => {
                live.spawn(async move {
                    match TcpStream::from_std(socket) {
                        Ok(stream) => serve_connection(shutdown, stream, peer, &settings).await,
                        Err(err) => tracing::warn!(error = %err, "moving a live connection"),
                    }
                });
            }
            Err(err) => tracing::warn!(error = %err, "moving a live connection"),
        }
    });
}

/// Serves one connection until it ends, stays idle too long, or the server shuts down.
/// Plain connections speak HTTP/1.1 (with `half_close`); TLS ones HTTP/1.1 or HTTP/2.
async fn serve_connection<S>(
    mut shutdown: Shutdown,
    stream: S,
    peer: SocketAddr,
    settings: &Settings,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (stream, activity) = idle::Watched::new(stream);
    let router = AddExtension::new(settings.router.clone(), ConnectInfo(peer));
    let service = TowerToHyperService::new(router);
    let io = TokioIo::new(stream);
    let result = if settings.tls.is_some() {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .half_close(true)
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout);
        builder.http2().timer(TokioTimer::new());
        let conn = builder.serve_connection_with_upgrades(io, service);
        drive!(conn, shutdown, activity, settings.idle_timeout, peer)
    } else {
        let mut builder = http1::Builder::new();
        builder
            .half_close(true)
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout);
        let conn = builder.serve_connection(io, service).with_upgrades();
        drive!(conn, shutdown, activity, settings.idle_timeout, peer)
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

/// Runs a hyper connection future until it ends, the server shuts down (then it
/// finishes the current exchange), or it has been idle too long; its result. A macro
/// because the two connection types (HTTP/1.1, and either version over TLS) share no
/// trait for `graceful_shutdown`.
macro_rules! drive {
    ($conn:expr, $shutdown:expr, $activity:expr, $idle:expr, $peer:expr) => {{
        let mut conn = std::pin::pin!($conn);
        tokio::select! {
            result = conn.as_mut() => result.map_err(|e| e.to_string()),
            () = $shutdown.started() => {
                conn.as_mut().graceful_shutdown();
                conn.await.map_err(|e| e.to_string())
            }
            () = $activity.idle_for($idle) => {
                tracing::debug!(peer = %$peer, "closing an idle connection");
                conn.as_mut().graceful_shutdown();
                // A connection stuck mid-request does not get to hold on.
                match tokio::time::timeout(Duration::from_secs(1), conn).await {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(_) => Ok(()),
                }
            }
        }
    }};
}
use drive;

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
