//! `/healthz`, `/metrics`, `/openapi.json`, unknown routes and methods, and commands
//! that outlive their client.

use std::io::Write;
use std::time::Duration;

use gesta::StoreOptions;
use gesta::event::NewEvent;
use serde_json::json;

use crate::support::{Server, ok_json, problem};

#[tokio::test]
async fn healthz_reports_backend_durability_and_last_position() {
    let server = Server::start().await;
    let health = ok_json(server.get("/healthz").await).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["backend"], "sqlite");
    assert_eq!(
        health["durable"], false,
        "an in-memory store is not durable"
    );
    assert_eq!(health["last_position"], 0);
    server.open_account("a", 5).await;
    let health = ok_json(server.get("/healthz").await).await;
    assert_eq!(health["last_position"], 2);
}

#[tokio::test]
async fn a_file_store_is_durable() {
    let server = Server::start_file().await;
    server.open_account("a", 5).await;
    let health = ok_json(server.get("/healthz").await).await;
    assert_eq!(health["durable"], true, "{health}");
    assert_eq!(health["last_position"], 2);
    assert_eq!(server.balance("a").await, 5);
}

#[tokio::test]
async fn healthz_counts_commits_of_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let store = gesta::Store::open(&url, gesta_bank::app()).await.unwrap();
    let server = Server::serve(store).await;
    // Another store over the same file, as another process would be.
    let other = gesta::Store::open(&url, gesta_bank::app()).await.unwrap();
    let opened = gesta_bank::commands::OpenAccount {
        account_id: "elsewhere".into(),
        owner: "other".into(),
    };
    other.dispatch(opened).await.unwrap();
    let written = other.last_position().0;
    assert!(written > 0);
    let health = ok_json(server.get("/healthz").await).await;
    assert_eq!(health["last_position"], written, "{health}");
}

/// The value of the sample `name` (no labels) in Prometheus text.
fn sample(text: &str, name: &str) -> f64 {
    let line = text
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn metrics(server: &Server) -> String {
    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.contains("text"), "{content_type}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_commands_and_events() {
    let server = Server::start().await;
    let before = metrics(&server).await;
    let commands = sample(&before, "gesta_commands_committed_total");
    let events = sample(&before, "gesta_events_appended_total");
    server.open_account("a", 100).await;
    server.open_account("b", 0).await;
    server
        .command("Transfer", json!({"from": "a", "to": "b", "amount": 1}))
        .await;
    let after = metrics(&server).await;
    assert_eq!(
        sample(&after, "gesta_commands_committed_total"),
        commands + 4.0
    );
    assert_eq!(sample(&after, "gesta_events_appended_total"), events + 5.0);
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let server = Server::start().await;
    let doc = ok_json(server.get("/openapi.json").await).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/commands/{name}",
        "/streams/{stream}",
        "/events",
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/accounts/{id}",
    ] {
        assert!(paths.contains_key(path), "{path} missing from {paths:?}");
    }
    assert!(doc["paths"]["/streams/{stream}"]["post"].is_object());
    assert!(doc["paths"]["/streams/{stream}"]["get"].is_object());
}

#[tokio::test]
async fn openapi_types_every_command_body() {
    let server = Server::start().await;
    let doc = ok_json(server.get("/openapi.json").await).await;
    for (name, fields) in [
        ("OpenAccount", &["account_id", "owner"][..]),
        ("Deposit", &["account_id", "amount"]),
        ("Withdraw", &["account_id", "amount"]),
        ("Transfer", &["from", "to", "amount"]),
    ] {
        let op = &doc["paths"][format!("/commands/{name}")]["post"];
        let schema = &op["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(schema["type"], "object", "{name}: {schema}");
        assert_eq!(schema["additionalProperties"], false, "{name}");
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(required, fields, "{name}");
        assert_eq!(
            op["responses"]["200"],
            doc["paths"]["/commands/{name}"]["post"]["responses"]["200"]
        );
        let params = op["parameters"].as_array().unwrap();
        assert!(
            params.iter().all(|p| p["in"] != "path"),
            "{name}: {params:?}"
        );
    }
    let amount = &doc["paths"]["/commands/Deposit"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"]["amount"];
    assert_eq!(amount["minimum"], 1);
    assert_eq!(amount["maximum"], gesta_bank::commands::MAX_AMOUNT);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let server = Server::start().await;
    for path in ["/nothing", "/commands", "/accounts", "/events/1"] {
        problem(server.get(path).await, 404).await;
    }
    // (method, path, a method the route does accept)
    let wrong = [
        (reqwest::Method::GET, "/commands/Deposit", "POST"),
        (reqwest::Method::DELETE, "/streams/s", "GET"),
        (reqwest::Method::POST, "/events", "GET"),
        (reqwest::Method::PUT, "/healthz", "GET"),
        (reqwest::Method::POST, "/accounts/a", "GET"),
    ];
    for (method, path, allowed) in wrong {
        let response = server.request(method.clone(), path).send().await.unwrap();
        let allow = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        problem(response, 405).await;
        let allow = allow.unwrap_or_default();
        assert!(
            allow.split(',').any(|m| m.trim() == allowed),
            "{method} {path}: Allow {allow:?}"
        );
    }
}

/// A command that keeps the writer busy for `ms` milliseconds and writes nothing.
#[derive(serde::Deserialize)]
struct Nap {
    ms: u64,
}

impl gesta::Command for Nap {
    const NAME: &'static str = "Nap";
}

fn nap(_: &mut gesta::Tx<'_>, nap: Nap) -> Result<Vec<NewEvent>, gesta::HandlerError> {
    std::thread::sleep(Duration::from_millis(nap.ms));
    Ok(Vec::new())
}

/// Sends `request` on a fresh connection and closes it at once, without reading.
fn send_and_hang_up(server: &Server, request: &str) {
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
}

/// `OpenAccount` for `id` as raw HTTP/1.1.
fn open_request(id: &str) -> String {
    let body = format!(r#"{{"account_id": "{id}", "owner": "Ada"}}"#);
    format!(
        "POST /commands/OpenAccount HTTP/1.1\r\nhost: bank\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

// Several clients, on a multi-threaded runtime: hyper used to drop a request whose
// client had already closed its side before the handler was first polled, at random.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_do_not_cancel_their_commands() {
    // One queue slot and one unit per batch: while the writer naps and a second nap
    // holds the slot, the clients' commands are still waiting in the HTTP layer when
    // the clients hang up.
    let options = StoreOptions::default()
        .queue(1, Duration::from_secs(5))
        .max_batch(1);
    let app = gesta_bank::app().command(nap);
    let store = gesta::Store::builder(app)
        .url("sqlite::memory:")
        .options(options);
    let server = Server::serve(store.open().await.unwrap()).await;
    for _ in 0..2 {
        let request = server
            .request(reqwest::Method::POST, "/commands/Nap")
            .header("content-type", "application/json")
            .body(r#"{"ms": 200}"#)
            .send();
        tokio::spawn(request);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let ids: Vec<String> = (0..5).map(|i| format!("gone-{i}")).collect();
    for id in &ids {
        send_and_hang_up(&server, &open_request(id));
    }
    for _ in 0..100 {
        let page = server.events("type=AccountOpened").await;
        let mut opened: Vec<String> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["data"]["account_id"].as_str().unwrap().to_owned())
            .collect();
        opened.sort();
        if opened == ids {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let page = server.events("type=AccountOpened").await;
    panic!("commands were cancelled with their connections: {page}");
}
