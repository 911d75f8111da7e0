//! History over HTTP on the bank: as-of by position and by time, `/admin/query`,
//! diff, revert (accepted, refused, redo), snapshots.

use serde_json::{Value, json};

use crate::support::{Server, ok_json, problem};

/// `GET /accounts/{id}?as_of=...`: the body, or the status when not 200.
async fn account_at(server: &Server, id: &str, as_of: &str) -> Result<Value, u16> {
    let response = server
        .get(&format!("/accounts/{id}?as_of={}", urlencode(as_of)))
        .await;
    match response.status().as_u16() {
        200 => Ok(response.json().await.unwrap()),
        other => Err(other),
    }
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

fn position(body: &Value) -> u64 {
    body["position"].as_u64().unwrap()
}

#[tokio::test]
async fn an_account_as_of_a_position_or_a_time() {
    let server = Server::start_file().await;
    let opened = server
        .command("OpenAccount", json!({"account_id": "ann", "owner": "Ann"}))
        .await;
    let p_open = position(&opened);
    let deposit = server
        .command("Deposit", json!({"account_id": "ann", "amount": 500}))
        .await;
    let p_deposit = position(&deposit);
    let time_of_deposit = deposit["events"][0]["time"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    server
        .command("Withdraw", json!({"account_id": "ann", "amount": 200}))
        .await;
    assert_eq!(server.balance("ann").await, 300);

    assert_eq!(account_at(&server, "ann", "0").await, Err(404));
    assert_eq!(
        account_at(&server, "ann", &(p_open - 1).to_string()).await,
        Err(404)
    );
    let at_open = account_at(&server, "ann", &p_open.to_string())
        .await
        .unwrap();
    assert_eq!(at_open, json!({"id": "ann", "owner": "Ann", "balance": 0}));
    let at_deposit = account_at(&server, "ann", &p_deposit.to_string())
        .await
        .unwrap();
    assert_eq!(at_deposit["balance"], 500);
    let by_time = account_at(&server, "ann", &time_of_deposit).await.unwrap();
    assert_eq!(by_time["balance"], 500);

    for bad in ["-1", "yesterday", "99999", "2999-01-01T00:00:00Z"] {
        let response = server
            .get(&format!("/accounts/ann?as_of={}", urlencode(bad)))
            .await;
        let body = problem(response, 400).await;
        assert_eq!(body["field"], "as_of", "{bad}: {body}");
    }
}

#[tokio::test]
async fn admin_query_answers_rows_read_only_and_as_of() {
    let server = Server::start_file().await;
    server.open_account("a", 100).await;
    server.open_account("b", 7).await;
    let body = ok_json(
        server
            .post(
                "/admin/query",
                &json!({"sql": "SELECT id, balance FROM accounts WHERE balance > :min ORDER BY id", "params": {"min": 10}}),
            )
            .await,
    )
    .await;
    assert_eq!(body["rows"], json!([{"id": "a", "balance": 100}]));
    let head = body["position"].as_u64().unwrap();
    let earlier = ok_json(
        server
            .post(
                "/admin/query",
                &json!({"sql": "SELECT COUNT(*) AS n FROM accounts", "as_of": 2}),
            )
            .await,
    )
    .await;
    assert_eq!(earlier, json!({"position": 2, "rows": [{"n": 1}]}));
    let before = server.snapshot().await;
    for sql in [
        "DELETE FROM accounts",
        "UPDATE accounts SET balance = 0",
        "DROP TABLE accounts",
    ] {
        let body = problem(server.post("/admin/query", &json!({"sql": sql})).await, 400).await;
        assert_eq!(body["field"], "sql", "{sql}: {body}");
    }
    assert_eq!(server.snapshot().await, before);
    assert_eq!(server.balance("a").await, 100);
    for (bad, field) in [
        (json!({"sql": "SELECT 1", "as_of": -1}), "as_of"),
        (json!({"sql": "SELECT 1", "as_of": head + 1}), "as_of"),
        (json!({"sql": "SELECT 1", "as_of": true}), "as_of"),
        (json!({"sql": "SELECT 1", "params": {"x": [1]}}), "params.x"),
        (json!({"sql": "SELEKT"}), "sql"),
        (json!({"sql": "SELECT 1\0"}), "sql"),
        (
            json!({"sql": "SELECT :x", "params": {"x": "a\0"}}),
            "params.x",
        ),
    ] {
        let body = problem(server.post("/admin/query", &bad).await, 400).await;
        assert_eq!(body["field"], field, "{bad}: {body}");
    }
    problem(
        server.post("/admin/query", &json!({"query": "x"})).await,
        400,
    )
    .await;
}

#[tokio::test]
async fn the_diff_of_one_command() {
    let server = Server::start_file().await;
    server.open_account("a", 100).await;
    server.open_account("b", 0).await;
    let transfer = server
        .command("Transfer", json!({"from": "a", "to": "b", "amount": 40}))
        .await;
    let to = position(&transfer);
    let from = to - transfer["events"].as_array().unwrap().len() as u64;
    let diff = ok_json(
        server
            .get(&format!("/admin/diff?from={from}&to={to}"))
            .await,
    )
    .await;
    assert_eq!(
        diff,
        json!({"from": from, "to": to, "tables": {"accounts": {
            "inserted": [],
            "updated": [
                {"before": {"id": "a", "owner": "Ada", "balance": 100}, "after": {"id": "a", "owner": "Ada", "balance": 60}},
                {"before": {"id": "b", "owner": "Ada", "balance": 0}, "after": {"id": "b", "owner": "Ada", "balance": 40}}
            ],
            "deleted": []
        }}})
    );
    let all = ok_json(
        server
            .get(&format!("/admin/diff?from=0&to={to}&table=accounts"))
            .await,
    )
    .await;
    assert_eq!(
        all["tables"]["accounts"]["inserted"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for (query, field) in [
        (format!("from={to}&to={from}"), "from"),
        (format!("from=0&to={}", to + 1), "to"),
        ("to=1".to_owned(), "from"),
        ("from=0&to=1&table=events".to_owned(), "table"),
        ("from=x&to=1".to_owned(), "from"),
    ] {
        let body = problem(server.get(&format!("/admin/diff?{query}")).await, 400).await;
        assert_eq!(body["field"], field, "{query}: {body}");
    }
}

#[tokio::test]
async fn revert_accepted_refused_and_redone() {
    let server = Server::start_file().await;
    server.open_account("a", 0).await;
    let deposit = server
        .command("Deposit", json!({"account_id": "a", "amount": 100}))
        .await;
    let second = server
        .command("Deposit", json!({"account_id": "a", "amount": 30}))
        .await;
    assert_eq!(server.balance("a").await, 130);
    let before = position(&second);

    // Accepted: the second deposit goes, and with it 30 of the balance.
    let revert = ok_json(
        server
            .post(
                "/admin/revert",
                &json!({"command_id": second["command_id"]}),
            )
            .await,
    )
    .await;
    assert_eq!(revert["events"][0]["type"], "gesta.reverted");
    assert_eq!(
        revert["events"][0]["data"],
        json!({"command_ids": [second["command_id"]]})
    );
    assert_eq!(server.balance("a").await, 100);
    let at = account_at(&server, "a", &before.to_string()).await.unwrap();
    assert_eq!(at["balance"], 130, "history does not change");
    let again = server
        .post(
            "/admin/revert",
            &json!({"command_id": second["command_id"]}),
        )
        .await;
    problem(again, 409).await;

    // Refused: without the first deposit, this withdrawal would overdraw.
    server
        .command("Withdraw", json!({"account_id": "a", "amount": 80}))
        .await;
    let log_before = server.snapshot().await;
    let refused = problem(
        server
            .post(
                "/admin/revert",
                &json!({"command_id": deposit["command_id"]}),
            )
            .await,
        409,
    )
    .await;
    assert_eq!(refused["event_type"], "Withdrawn", "{refused}");
    assert!(refused["position"].as_u64().is_some());
    assert_eq!(server.snapshot().await, log_before);
    assert_eq!(server.balance("a").await, 20);

    // Redo: reverting the revert puts the 30 back.
    let redo = ok_json(
        server
            .post(
                "/admin/revert",
                &json!({"command_id": revert["command_id"]}),
            )
            .await,
    )
    .await;
    assert_eq!(
        redo["events"][0]["data"]["command_ids"][0],
        revert["command_id"]
    );
    assert_eq!(server.balance("a").await, 50);

    // Unknown, malformed.
    let unknown = server
        .post(
            "/admin/revert",
            &json!({"command_id": "0190d5c0-0000-7000-8000-000000000000"}),
        )
        .await;
    problem(unknown, 404).await;
    for bad in [
        json!({}),
        json!({"command_id": "x"}),
        json!({"command_id": "0190d5c0-0000-7000-8000-000000000000", "to": 1}),
    ] {
        problem(server.post("/admin/revert", &bad).await, 400).await;
    }
    // Back to a moment, with an idempotency key.
    let keyed = |body: Value| {
        server
            .request(reqwest::Method::POST, "/admin/revert")
            .header("idempotency-key", "back-to-3")
            .json(&body)
    };
    let first = keyed(json!({"to": 3})).send().await.unwrap();
    let first = ok_json(first).await;
    let retry = keyed(json!({"to": 3})).send().await.unwrap();
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(ok_json(retry).await["position"], first["position"]);
    let at3 = account_at(&server, "a", "3").await.unwrap();
    assert_eq!(server.balance("a").await, at3["balance"].as_i64().unwrap());
}

#[tokio::test]
async fn snapshots_are_taken_on_demand_and_listed() {
    let server = Server::start_file().await;
    server.open_account("a", 10).await;
    let response = server.post("/admin/snapshots", &json!({})).await;
    assert_eq!(response.status().as_u16(), 201);
    let taken: Value = response.json().await.unwrap();
    assert_eq!(taken["position"], 2);
    assert_eq!(taken["tables"], json!({"accounts": 1}));
    assert!(taken["bytes"].as_u64().unwrap() > 0);
    server.open_account("b", 10).await;
    let listed = ok_json(server.get("/admin/snapshots").await).await;
    let snapshots = listed["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 1);
    assert_eq!(snapshots[0]["position"], 2);
    assert!(snapshots[0]["created"].as_str().unwrap().ends_with('Z'));
    // As-of after the snapshot starts from it and still answers exactly.
    let at = account_at(&server, "b", "4").await.unwrap();
    assert_eq!(at["balance"], 10);
    assert_eq!(account_at(&server, "b", "2").await, Err(404));
}

#[tokio::test]
async fn a_rebuild_under_concurrent_commands_loses_nothing() {
    let server = std::sync::Arc::new(Server::start_file().await);
    for i in 0..20 {
        server.open_account(&format!("acc{i}"), 1_000).await;
    }
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let server = std::sync::Arc::clone(&server);
            tokio::spawn(async move {
                for i in 0..30 {
                    let (from, to) = ((w * 5 + i) % 20, (w * 7 + i + 1) % 20);
                    if from == to {
                        continue;
                    }
                    let body = json!({"from": format!("acc{from}"), "to": format!("acc{to}"), "amount": 1});
                    let response = server.post("/commands/Transfer", &body).await;
                    assert_eq!(response.status().as_u16(), 200);
                }
            })
        })
        .collect();
    let response = server
        .post("/admin/read-models/accounts/rebuild", &json!({}))
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let started: Value = response.json().await.unwrap();
    assert_eq!(started["name"], "accounts");
    for writer in writers {
        writer.await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        let status = ok_json(server.get("/admin/read-models/accounts").await).await;
        if status["rebuild"]["state"] == "done" {
            break status;
        }
        assert_ne!(status["rebuild"]["state"], "failed", "{status}");
        assert!(std::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(status["state"], "live");
    assert!(status["rebuild"]["pause_ms"].as_u64().is_some());
    let listed = ok_json(server.get("/admin/read-models").await).await;
    assert_eq!(listed["read_models"][0]["name"], "accounts");
    problem(server.get("/admin/read-models/nope").await, 404).await;
    problem(
        server
            .post("/admin/read-models/nope/rebuild", &json!({}))
            .await,
        404,
    )
    .await;

    // The live table equals the read model built afresh from the log at the head.
    let live = ok_json(
        server
            .post(
                "/admin/query",
                &json!({"sql": "SELECT id, owner, balance FROM accounts ORDER BY id"}),
            )
            .await,
    )
    .await;
    let head = live["position"].as_u64().unwrap();
    let built = ok_json(server.get(&format!("/admin/diff?from=0&to={head}")).await).await;
    let mut fresh = built["tables"]["accounts"]["inserted"]
        .as_array()
        .unwrap()
        .clone();
    fresh.sort_by_key(|row| row["id"].as_str().unwrap().to_owned());
    assert_eq!(live["rows"].as_array().unwrap(), &fresh);
    let total: i64 = fresh.iter().map(|r| r["balance"].as_i64().unwrap()).sum();
    assert_eq!(total, 20 * 1_000);
}
