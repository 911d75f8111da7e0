//! What the HTTP test binaries share: a server on a free port, and reading a JSON or
//! text answer that must be 200.

use gesta::Store;
use serde_json::Value;

/// Serves Gesta's routes over `store` on a free local port until the test ends;
/// returns `http://host:port`.
pub async fn serve(store: Store) -> String {
    let router = gesta_http::Api::new(store).into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gesta_http::serve(listener, router, std::future::pending()));
    base
}

/// `GET url`, which must answer 200 with JSON.
#[allow(dead_code)] // Not every test binary reads JSON.
pub async fn get_json(url: &str) -> Value {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

/// `GET url`, which must answer 200 with text.
#[allow(dead_code)] // Not every test binary reads text.
pub async fn get_text(url: &str) -> String {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.text().await.unwrap()
}
