//! A server over an in-memory store, events to append, and an SSE client.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use eventsource_client::{Client, ClientBuilder, ReconnectOptions, SSE};
use futures_util::{Stream, StreamExt};
use gesta::event::{NewEvent, StreamId};
use gesta::{App, AppendRequest, Context, ExpectedVersion, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for anything before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// A WebSocket client connection.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What an SSE client reads.
pub trait Events: Stream<Item = Result<SSE, eventsource_client::Error>> + Unpin {}
impl<S: Stream<Item = Result<SSE, eventsource_client::Error>> + Unpin> Events for S {}

/// A running `gesta_http::serve`.
pub struct Server {
    pub base: String,
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Gesta's routes over `store` on a free port.
    pub async fn start(store: &Store) -> Server {
        Server::serve(store, any_port(), Duration::from_secs(15), Router::new()).await
    }

    /// On `addr`, with keep-alives every `keep_alive`.
    pub async fn on(store: &Store, addr: SocketAddr, keep_alive: Duration) -> Server {
        Server::serve(store, addr, keep_alive, Router::new()).await
    }

    /// With the application's `routes` too.
    pub async fn with_routes(store: &Store, routes: Router) -> Server {
        Server::serve(store, any_port(), Duration::from_secs(15), routes).await
    }

    /// On `addr`, with keep-alives every `keep_alive` and the application's `routes`.
    pub async fn serve(
        store: &Store,
        addr: SocketAddr,
        keep_alive: Duration,
        routes: Router,
    ) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = gesta_http::Api::new(store.clone())
            .keep_alive(keep_alive)
            .routes(routes)
            .into_router();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(gesta_http::serve(listener, router, shutdown));
        Server {
            base: format!("http://{addr}"),
            addr,
            stop,
            task,
        }
    }

    /// Shuts the server down; fails unless it finishes within [`WAIT`] (open streams
    /// and sockets must end rather than hold it up).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the server stops within 5 s, open streams or not")
            .unwrap()
            .unwrap();
    }
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A fresh in-memory store.
pub async fn store() -> Store {
    Store::open("sqlite::memory:", App::new("live"))
        .await
        .unwrap()
}

/// Appends `n` events of `event_type` with data `{"i": 0..n}` to `stream`.
pub async fn append(store: &Store, stream: &str, event_type: &str, n: usize) {
    let events = (0..n)
        .map(|i| NewEvent::new(stream, event_type, &serde_json::json!({ "i": i })).unwrap())
        .collect();
    let request = AppendRequest {
        stream_id: StreamId::new(stream).unwrap(),
        expected: ExpectedVersion::Any,
        events,
    };
    store.append(request, Context::default()).await.unwrap();
}

/// An SSE client of `url` that reconnects quickly, optionally resuming after
/// `last_event_id`.
pub fn sse_client(url: &str, last_event_id: Option<&str>) -> impl Client + use<> {
    let reconnect = ReconnectOptions::reconnect(true)
        .retry_initial(false)
        .delay(Duration::from_millis(50))
        .backoff_factor(1)
        .delay_max(Duration::from_millis(100))
        .build();
    let mut builder = ClientBuilder::for_url(url).unwrap().reconnect(reconnect);
    if let Some(id) = last_event_id {
        builder = builder.last_event_id(id.to_owned());
    }
    builder.build_http()
}

/// One SSE event as received.
#[derive(Debug)]
pub struct Got {
    /// `id:`, a position.
    pub id: u64,
    /// `event:`.
    pub event_type: String,
    /// `data:`, parsed.
    pub data: serde_json::Value,
}

/// Waits until the client is connected (the response headers arrived).
pub async fn connected(events: &mut impl Events) {
    match tokio::time::timeout(WAIT, events.next()).await {
        Ok(Some(Ok(SSE::Connected(details)))) => assert_eq!(details.response().status(), 200),
        other => panic!("expected to connect, got {other:?}"),
    }
}

/// The next `n` events, skipping the connection notice and comments; fails on an
/// error or after [`WAIT`] per event.
pub async fn take(events: &mut impl Events, n: usize) -> Vec<Got> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let next = tokio::time::timeout(WAIT, events.next()).await;
        match next {
            Ok(Some(Ok(SSE::Event(event)))) => got.push(Got {
                id: event.id.as_deref().unwrap_or_default().parse().unwrap(),
                data: serde_json::from_str(&event.data).unwrap(),
                event_type: event.event_type,
            }),
            Ok(Some(Ok(SSE::Connected(_) | SSE::Comment(_)))) => {}
            Ok(other) => panic!("after {} events: {other:?}", got.len()),
            Err(_) => panic!("only {} of {n} events within 5 s each", got.len()),
        }
    }
    got
}

/// The positions of `events`.
pub fn ids(events: &[Got]) -> Vec<u64> {
    events.iter().map(|e| e.id).collect()
}
