//! The one way these tests start a server and talk to it.

use std::net::SocketAddr;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A bank server on 127.0.0.1 with a port of its own, stopped when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bound address, for raw TCP clients.
    pub addr: SocketAddr,
    client: reqwest::Client,
    _stop: oneshot::Sender<()>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A server over a fresh in-memory store.
    pub async fn start() -> Server {
        let store = gesta::Store::open("sqlite::memory:", gesta_bank::app()).await;
        Server::serve(store.unwrap()).await
    }

    /// A server over a fresh SQLite file in a temporary directory.
    pub async fn start_file() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        let store = gesta::Store::open(&url, gesta_bank::app()).await;
        Server {
            _dir: Some(dir),
            ..Server::serve(store.unwrap()).await
        }
    }

    /// A server for `store` with the bank's routes.
    pub async fn serve(store: gesta::Store) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let router = gesta_bank::routes::api(store);
        tokio::spawn(gesta_http::serve(listener, router, async {
            let _ = stopped.await;
        }));
        Server {
            base: format!("http://{addr}"),
            addr,
            client: reqwest::Client::new(),
            _stop: stop,
            _dir: None,
        }
    }

    /// A request builder for `method` on `path`.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap()
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.post_raw(path, Some("application/json"), body.to_string())
            .await
    }

    /// `POST path` with `body` as is and the given content type (none if `None`).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut request = self.request(reqwest::Method::POST, path).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.unwrap()
    }

    /// Runs command `name` and returns its 200 body.
    pub async fn command(&self, name: &str, data: Value) -> Value {
        let response = self.post(&format!("/commands/{name}"), &data).await;
        ok_json(response).await
    }

    /// Opens account `id` and deposits `cents` into it (if any).
    pub async fn open_account(&self, id: &str, cents: u64) {
        self.command("OpenAccount", json!({"account_id": id, "owner": "Ada"}))
            .await;
        if cents > 0 {
            self.command("Deposit", json!({"account_id": id, "amount": cents}))
                .await;
        }
    }

    /// The balance of account `id` from `GET /accounts/{id}`.
    pub async fn balance(&self, id: &str) -> i64 {
        let account = ok_json(self.get(&format!("/accounts/{id}")).await).await;
        account["balance"].as_i64().unwrap()
    }

    /// `GET /events` with `query`, its 200 body.
    pub async fn events(&self, query: &str) -> Value {
        ok_json(self.get(&format!("/events?{query}")).await).await
    }

    /// The whole log (up to 1000 events) and the last position from `/healthz`:
    /// compare two of these to prove nothing was written in between.
    pub async fn snapshot(&self) -> (Value, u64) {
        let log = self.events("limit=1000").await["events"].clone();
        let health = ok_json(self.get("/healthz").await).await;
        (log, health["last_position"].as_u64().unwrap())
    }
}

/// Asserts a 200 JSON response and returns its body.
pub async fn ok_json(response: Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "body: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Asserts an RFC 9457 problem with `status` and returns its body.
pub async fn problem(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "body: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(
        body["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    body
}
