//! `POST /graphql` against the secured bank: mutations through the command pipeline,
//! rejections and bad input as errors carrying the problem, idempotent retries, the
//! same refusals as REST, queries with `asOf`, and the depth and introspection limits.

use serde_json::{Value, json};

use crate::support::{Bank, engines};

const DEPOSIT: &str = "mutation($input: DepositInput!, $key: String) {
    deposit(input: $input, idempotencyKey: $key) {
        commandId position replayed
        events { id type subject position streamVersion data principal }
    }
}";

/// The first error's extensions (the problem), or a panic naming the body.
fn problem(body: &Value) -> &Value {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"));
    &errors[0]["extensions"]
}

#[tokio::test]
async fn mutations_run_the_command_pipeline_and_queries_read_the_log() {
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let head = bank.head().await;
        let (status, body) = bank
            .graphql(
                "teller",
                DEPOSIT,
                json!({"input": {"account_id": "c1", "amount": 250}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let outcome = &body["data"]["deposit"];
        assert_eq!(outcome["position"], head + 1, "{body}");
        assert_eq!(outcome["replayed"], false);
        let event = &outcome["events"][0];
        assert_eq!(event["type"], "Deposited");
        assert_eq!(event["subject"], "account-c1");
        assert_eq!(event["data"]["amount"], 250);
        assert_eq!(event["principal"], "teller");
        // The same read model the REST route reads.
        let (_, _, account) = bank.call("teller", "GET", "/accounts/c1", None).await;
        assert_eq!(account["balance"], 1250, "{account}");

        // Amounts beyond 32 bits go through (Int carries 64-bit integers).
        let (_, body) = bank
            .graphql(
                "teller",
                DEPOSIT,
                json!({"input": {"account_id": "t2", "amount": 5_000_000_000u64}}),
            )
            .await;
        assert_eq!(
            body["data"]["deposit"]["events"][0]["data"]["amount"], 5_000_000_000u64,
            "{body}"
        );

        // Queries: the log by category and type, a stream, as of a position.
        let (_, body) = bank
            .graphql(
                "teller",
                "query($after: Int) { events(after: $after, types: [\"Deposited\"], category: \"account\") { position type }
                                      stream(name: \"account-c1\") { streamVersion type }
                                      before: stream(name: \"account-c1\", asOf: \"1\") { type } }",
                json!({"after": head}),
            )
            .await;
        let events = body["data"]["events"].as_array().unwrap();
        assert_eq!(events.len(), 2, "{body}");
        assert!(events.iter().all(|e| e["type"] == "Deposited"));
        let stream: Vec<&str> = body["data"]["stream"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(stream, ["AccountOpened", "Deposited", "Deposited"]);
        assert_eq!(
            body["data"]["before"],
            json!([{"type": "AccountOpened"}]),
            "{body}"
        );
    }
}

#[tokio::test]
async fn rejections_and_bad_input_are_errors_carrying_the_problem_and_write_nothing() {
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let head = bank.head().await;
        // The handler's rejection: 422 as over REST.
        let withdraw =
            "mutation { withdraw(input: {account_id: \"c1\", amount: 999999}) { position } }";
        let (status, body) = bank.graphql("teller", withdraw, json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["withdraw"], Value::Null, "{body}");
        let p = problem(&body);
        assert_eq!(p["status"], 422, "{body}");
        assert!(
            p["detail"].as_str().unwrap().contains("insufficient funds"),
            "{body}"
        );
        // The schema's check: 400 naming the field.
        let (_, body) = bank
            .graphql(
                "teller",
                DEPOSIT,
                json!({"input": {"account_id": "c1", "amount": 0}}),
            )
            .await;
        assert_eq!(problem(&body)["status"], 400, "{body}");
        assert_eq!(problem(&body)["field"], "amount", "{body}");
        // Unknown account: 404.
        let (_, body) = bank
            .graphql(
                "teller",
                DEPOSIT,
                json!({"input": {"account_id": "zz", "amount": 5}}),
            )
            .await;
        assert_eq!(problem(&body)["status"], 404, "{body}");
        // GraphQL's own validation: a missing field, a wrong type, unknown fields.
        for (query, variables) in [
            (DEPOSIT, json!({"input": {"account_id": "c1"}})),
            (
                DEPOSIT,
                json!({"input": {"account_id": "c1", "amount": "lots"}}),
            ),
            (
                "mutation { deposit(input: {account_id: \"c1\", amount: 1, extra: 2}) { position } }",
                json!({}),
            ),
            ("{ nothing }", json!({})),
            ("{ events(limit: 5000) { position } }", json!({})),
            ("not graphql at all", json!({})),
        ] {
            let (status, body) = bank.graphql("teller", query, variables).await;
            assert_eq!(status, 200, "{body}");
            assert!(
                body["errors"].as_array().is_some_and(|e| !e.is_empty()),
                "{query}: {body}"
            );
        }
        // Not a GraphQL request at all: a 400 problem over HTTP.
        let response = bank
            .client
            .post(format!("{}/graphql", bank.base))
            .bearer_auth(bank.token("teller").unwrap())
            .header("content-type", "application/json")
            .body("[1, 2")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(bank.head().await, head, "a refused request wrote something");
    }
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_runs_once() {
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let variables = json!({"input": {"account_id": "t2", "amount": 7}, "key": "gql-retry-1"});
        let (_, first) = bank.graphql("teller", DEPOSIT, variables.clone()).await;
        let (_, again) = bank.graphql("teller", DEPOSIT, variables).await;
        let (first, again) = (&first["data"]["deposit"], &again["data"]["deposit"]);
        assert_eq!(first["commandId"], again["commandId"], "{first} {again}");
        assert_eq!(first["position"], again["position"]);
        assert_eq!(again["replayed"], true);
        let (_, _, account) = bank.call("teller", "GET", "/accounts/t2", None).await;
        assert_eq!(account["balance"], 1007, "deposited twice: {account}");
        // The key is the store's: a REST retry with it gets the same outcome.
        let response = bank
            .client
            .post(format!("{}/commands/Deposit", bank.base))
            .bearer_auth(bank.token("teller").unwrap())
            .header("idempotency-key", "gql-retry-1")
            .json(&json!({"account_id": "t2", "amount": 7}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["idempotent-replayed"], "true");
    }
}

#[tokio::test]
async fn graphql_refuses_what_rest_refuses() {
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let head = bank.head().await;
        let deposit = json!({"input": {"account_id": "c1", "amount": 5}});
        // No or a bad token: 401 before any GraphQL runs.
        for who in ["none", "garbage", "expired", "unknown-key"] {
            let (status, body) = bank.graphql(who, DEPOSIT, deposit.clone()).await;
            assert_eq!(status, 401, "{who}: {body}");
        }
        // A customer may not deposit (the policy), nor take from another's account
        // (the handler), nor read another's stream.
        let (_, body) = bank.graphql("customer", DEPOSIT, deposit.clone()).await;
        assert_eq!(problem(&body)["status"], 403, "{body}");
        let transfer =
            "mutation { transfer(input: {from: \"t2\", to: \"c1\", amount: 1}) { position } }";
        let (_, body) = bank.graphql("customer", transfer, json!({})).await;
        assert_eq!(problem(&body)["status"], 403, "{body}");
        let (_, body) = bank
            .graphql(
                "customer",
                "{ stream(name: \"account-t2\") { position } }",
                json!({}),
            )
            .await;
        assert_eq!(problem(&body)["status"], 403, "{body}");
        // The log shows a customer only its own stream.
        let (_, body) = bank
            .graphql("customer", "{ events(limit: 1000) { subject } }", json!({}))
            .await;
        let subjects: Vec<&str> = body["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["subject"].as_str().unwrap())
            .collect();
        assert!(
            !subjects.is_empty() && subjects.iter().all(|s| *s == "account-c1"),
            "{body}"
        );
        // A visitor role names no command.
        let (_, body) = bank.graphql("nobody", DEPOSIT, deposit).await;
        assert_eq!(problem(&body)["status"], 403, "{body}");
        assert_eq!(bank.head().await, head, "a refused request wrote something");
    }
}

#[tokio::test]
async fn deep_queries_and_introspection_follow_the_limits() {
    let Some(bank) = Bank::start(gesta_testkit::Engine::Sqlite).await else {
        return;
    };
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }";
    let (_, body) = bank.graphql("teller", deep, json!({})).await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("nested too deep"), "{body}");
    let (_, body) = bank
        .graphql("teller", "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );

    // A server with introspection off and a small complexity cap.
    let store = bank.store.clone();
    let router = gesta_http::Api::new(store)
        .graphql(gesta_http::graphql::GraphqlOptions {
            max_depth: 4,
            max_complexity: 5,
            introspection: false,
        })
        .security(std::sync::Arc::clone(&bank.security))
        .into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gesta_http::serve(listener, router, std::future::pending()));
    let ask = |query: &'static str| {
        let request = bank
            .client
            .post(format!("{base}/graphql"))
            .bearer_auth(bank.token("teller").unwrap())
            .json(&json!({"query": query}));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let body = ask("{ __schema { queryType { name } } }").await;
    assert!(
        body["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    let body = ask("{ events { id type subject time position data } }").await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("too complex"), "{body}");
    let body = ask("{ events { position } }").await;
    assert!(body["data"]["events"].is_array(), "{body}");
    let sdl = bank
        .client
        .get(format!("{base}/graphql/schema.graphql"))
        .bearer_auth(bank.token("teller").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(sdl.status(), 404);
}
