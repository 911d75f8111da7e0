//! What the console stands on: its page and assets under `/console` (deep links answer
//! the page), `GET /admin/status` and `GET /admin/commands/{command_id}`.

use serde_json::json;

use crate::support::{Server, ok_json, problem};

#[tokio::test]
async fn every_console_path_answers_the_page_and_assets_have_their_types() {
    let server = Server::start().await;
    // `/console` redirects to `/console/` (followed by the client).
    let redirect = server.get("/console").await;
    assert_eq!(redirect.status().as_u16(), 200);
    assert_eq!(redirect.url().path(), "/console/");
    for path in [
        "/console/",
        "/console/events",
        "/console/streams/account-alice",
        "/console/read-models/accounts?as_of=3",
        "/console/commands/0190b8f0-0000-7000-8000-000000000000",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        let page = response.text().await.unwrap();
        assert!(page.contains("/console/assets/console.js"), "{path}");
    }
    let script = server.get("/console/assets/console.js").await;
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = script.headers()["etag"].clone();
    let again = server
        .request(reqwest::Method::GET, "/console/assets/console.js")
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
    let gzipped = server
        .request(reqwest::Method::GET, "/console/assets/console.css")
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    problem(server.get("/console/assets/nothing.js").await, 404).await;
    // Not the console's prefix.
    problem(server.get("/consoles").await, 404).await;
}

#[tokio::test]
async fn status_counts_commands_and_events_since_start() {
    let server = Server::start().await;
    let before = ok_json(server.get("/admin/status").await).await;
    assert_eq!(before["head"], 0);
    assert_eq!(before["backend"], "sqlite");
    server.open_account("ann", 100).await;
    server.open_account("bob", 0).await;
    server
        .command("Transfer", json!({"from": "ann", "to": "bob", "amount": 1}))
        .await;
    let after = ok_json(server.get("/admin/status").await).await;
    let head = after["head"].as_u64().unwrap();
    assert_eq!(after["events_appended"].as_u64().unwrap(), head);
    assert!(after["commands_committed"].as_u64().unwrap() >= 2);
    assert_eq!(after["subscribers"], 0);
    assert!(after["started"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn a_commands_events_and_span_by_its_id() {
    let server = Server::start().await;
    server.open_account("ann", 500).await;
    server.open_account("bob", 0).await;
    let transfer = server
        .command(
            "Transfer",
            json!({"from": "ann", "to": "bob", "amount": 200}),
        )
        .await;
    let id = transfer["command_id"].as_str().unwrap();
    let found = ok_json(server.get(&format!("/admin/commands/{id}")).await).await;
    let to = transfer["position"].as_u64().unwrap();
    assert_eq!(found["command_id"], id);
    assert_eq!(
        (found["from"].as_u64(), found["to"].as_u64()),
        (Some(to - 2), Some(to))
    );
    assert_eq!(found["events"], transfer["events"]);
    let diff = ok_json(
        server
            .get(&format!("/admin/diff?from={}&to={to}", to - 2))
            .await,
    )
    .await;
    let updated = diff["tables"]["accounts"]["updated"].as_array().unwrap();
    assert_eq!(updated.len(), 2);

    let bad = problem(server.get("/admin/commands/not-a-uuid").await, 400).await;
    assert_eq!(bad["field"], "command_id");
    problem(
        server
            .get("/admin/commands/0190b8f0-0000-7000-8000-000000000000")
            .await,
        404,
    )
    .await;
}
