//! Commands over NATS request-reply (`gesta.<store>.commands.<Name>`) against the
//! secured bank's store, with the `async-nats` client: outcomes, problems with
//! `Gesta-Status`, bad input, idempotent retries, the token and the policy, two
//! intakes sharing the queue group, and the `$SRV.*` service protocol.
//!
//! NATS comes from `GESTA_TEST_NATS_URL`; unset, these tests are left out with a
//! message, except under `CI=true`, where that is a failure.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::{HeaderMap, Message};
use gesta_nats::{Intake, IntakeConfig};
use serde_json::{Value, json};

use crate::support::{Bank, engines};

fn nats_url() -> Option<String> {
    match std::env::var("GESTA_TEST_NATS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if gesta_testkit::in_ci() => panic!("GESTA_TEST_NATS_URL must be set under CI=true"),
        _ => {
            report!("NATS command intake tests left out: set GESTA_TEST_NATS_URL");
            None
        }
    }
}

/// A store name no other test run uses, so that subjects do not collide.
fn store_name() -> String {
    format!("bank{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

async fn client(url: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .request_timeout(Some(Duration::from_secs(10)))
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("GESTA_TEST_NATS_URL={url} is set but NATS is unreachable: {e}"))
}

/// The intake of `bank`'s store under `name`.
async fn intake(bank: &Bank, url: &str, name: &str) -> Intake {
    let config = IntakeConfig::new(url, name).security(Some(std::sync::Arc::clone(&bank.security)));
    Intake::start(bank.store.clone(), config).await.unwrap()
}

/// Sends `body` to command `command` with `headers`; the reply's status and JSON.
async fn request(
    nats: &async_nats::Client,
    name: &str,
    command: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Message, Value) {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(*k, *v);
    }
    let subject = format!("gesta.{name}.commands.{command}");
    let reply = nats
        .request_with_headers(subject, map, body.to_vec().into())
        .await
        .unwrap();
    let status: u16 = reply
        .headers
        .as_ref()
        .and_then(|h| h.get("Gesta-Status"))
        .map(|v| v.as_str().parse().unwrap())
        .expect("a Gesta-Status header");
    let json = serde_json::from_slice(&reply.payload).unwrap_or(Value::Null);
    (status, reply, json)
}

fn bearer(bank: &Bank, who: &str) -> String {
    format!("Bearer {}", bank.token(who).unwrap())
}

#[tokio::test]
async fn commands_over_request_reply_go_through_the_pipeline() {
    let Some(url) = nats_url() else { return };
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let name = store_name();
        let intake = intake(&bank, &url, &name).await;
        let nats = client(&url).await;
        let teller = bearer(&bank, "teller");
        let head = bank.head().await;

        let deposit = json!({"account_id": "c1", "amount": 40}).to_string();
        let (status, reply, body) = request(
            &nats,
            &name,
            "Deposit",
            &[("Authorization", &teller)],
            deposit.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["position"], head + 1, "{body}");
        assert_eq!(body["events"][0]["type"], "Deposited");
        assert_eq!(body["events"][0]["principal"], "teller");
        assert!(reply.headers.unwrap().get("Nats-Service-Error").is_none());
        let (_, _, account) = bank.call("teller", "GET", "/accounts/c1", None).await;
        assert_eq!(account["balance"], 1040);

        // Rejections and bad input: the problem JSON, its status in Gesta-Status and in
        // the service error headers; nothing written.
        let head = bank.head().await;
        let cases: [(&str, &[u8], u16); 6] = [
            (
                "Withdraw",
                br#"{"account_id": "c1", "amount": 999999}"#,
                422,
            ),
            ("Deposit", br#"{"account_id": "c1", "amount": 0}"#, 400),
            ("Deposit", br#"{"account_id": "c1"}"#, 400),
            ("Deposit", b"not json", 400),
            ("Deposit", br#"{"account_id": "nope", "amount": 1}"#, 404),
            ("Explode", b"{}", 404),
        ];
        for (command, payload, expected) in cases {
            let (status, reply, body) = request(
                &nats,
                &name,
                command,
                &[("Authorization", &teller)],
                payload,
            )
            .await;
            assert_eq!(
                status,
                expected,
                "{command} {}: {body}",
                String::from_utf8_lossy(payload)
            );
            assert_eq!(body["status"], expected, "{body}");
            assert!(
                body["type"].as_str().unwrap().starts_with("/problems/"),
                "{body}"
            );
            let headers = reply.headers.unwrap();
            assert_eq!(
                headers.get("Nats-Service-Error-Code").unwrap().as_str(),
                expected.to_string()
            );
            assert_eq!(
                headers.get("Content-Type").unwrap().as_str(),
                "application/problem+json"
            );
        }
        assert_eq!(bank.head().await, head, "a refused request wrote something");
        intake.stop().await;
    }
}

#[tokio::test]
async fn the_token_and_the_policy_apply_over_nats() {
    let Some(url) = nats_url() else { return };
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let name = store_name();
        let intake = intake(&bank, &url, &name).await;
        let nats = client(&url).await;
        let head = bank.head().await;
        let deposit = json!({"account_id": "c1", "amount": 5}).to_string();
        let garbage = "Bearer not-a-token".to_owned();
        let customer = bearer(&bank, "customer");
        let cases: [(&[(&str, &str)], u16); 4] = [
            (&[], 401),
            (&[("Authorization", &garbage)], 401),
            (&[("Authorization", "Basic abc")], 401),
            // The customer's role does not name Deposit.
            (&[("Authorization", &customer)], 403),
        ];
        for (headers, expected) in cases {
            let (status, _, body) =
                request(&nats, &name, "Deposit", headers, deposit.as_bytes()).await;
            assert_eq!(status, expected, "{headers:?}: {body}");
        }
        // The handler's own rule: a customer moves money only out of its own account.
        let theft = json!({"from": "t2", "to": "c1", "amount": 1}).to_string();
        let (status, _, _) = request(
            &nats,
            &name,
            "Transfer",
            &[("Authorization", &customer)],
            theft.as_bytes(),
        )
        .await;
        assert_eq!(status, 403);
        assert_eq!(bank.head().await, head, "a refused request wrote something");
        let mine = json!({"from": "c1", "to": "t2", "amount": 1}).to_string();
        let (status, _, body) = request(
            &nats,
            &name,
            "Transfer",
            &[("Authorization", &customer)],
            mine.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        intake.stop().await;
    }
}

#[tokio::test]
async fn retries_with_one_key_run_once_across_two_intakes_in_one_queue_group() {
    let Some(url) = nats_url() else { return };
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let name = store_name();
        // Two intakes, each on a store of its own over the one database, as two server
        // processes would be.
        let first = intake(&bank, &url, &name).await;
        let other = gesta::Store::open(bank.db.url(), gesta_bank::app())
            .await
            .unwrap();
        let config =
            IntakeConfig::new(&url, &name).security(Some(std::sync::Arc::clone(&bank.security)));
        let second = Intake::start(other.clone(), config).await.unwrap();
        let nats = client(&url).await;
        let teller = bearer(&bank, "teller");
        let head = bank.head().await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (nats, name, teller) = (nats.clone(), name.clone(), teller.clone());
            tasks.push(tokio::spawn(async move {
                // Each logical request sent three times with its key, as a client
                // retrying after timeouts would.
                let key = format!("nats-retry-{i}");
                let body = json!({"account_id": "t2", "amount": 1}).to_string();
                let headers = [
                    ("Authorization", teller.as_str()),
                    ("Idempotency-Key", key.as_str()),
                ];
                let mut ids = HashSet::new();
                // Two copies at once (the retry overtakes the first), then one more.
                let (a, b) = tokio::join!(
                    request(&nats, &name, "Deposit", &headers, body.as_bytes()),
                    request(&nats, &name, "Deposit", &headers, body.as_bytes()),
                );
                let c = request(&nats, &name, "Deposit", &headers, body.as_bytes()).await;
                for (status, _, reply) in [a, b, c] {
                    assert_eq!(status, 200, "{reply}");
                    ids.insert(reply["command_id"].as_str().unwrap().to_owned());
                }
                assert_eq!(ids.len(), 1, "one key, one command: {ids:?}");
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(bank.head().await, head + 40, "each key ran once");
        let (_, _, account) = bank.call("teller", "GET", "/accounts/t2", None).await;
        assert_eq!(account["balance"], 1040);
        // Both intakes took a share (the queue group spreads requests).
        let stats = |intake: &Intake| {
            let (service, id) = intake.service();
            (service.to_owned(), id.to_owned())
        };
        let (service, id1) = stats(&first);
        let (_, id2) = stats(&second);
        let mut shares = Vec::new();
        for id in [&id1, &id2] {
            let reply = nats
                .request(format!("$SRV.STATS.{service}.{id}"), "".into())
                .await
                .unwrap();
            // The reference client's own type reads it.
            let stats: async_nats::service::Stats = serde_json::from_slice(&reply.payload).unwrap();
            assert_eq!(stats.kind, "io.nats.micro.v1.stats_response");
            assert_eq!(&stats.id, id);
            let deposit = stats
                .endpoints
                .iter()
                .find(|e| e.name == "Deposit")
                .unwrap();
            assert_eq!(deposit.queue_group, "gesta");
            assert_eq!(deposit.errors, 0);
            shares.push(deposit.requests as u64);
        }
        assert_eq!(shares.iter().sum::<u64>(), 120, "{shares:?}");
        assert!(
            shares.iter().all(|s| *s > 0),
            "one intake took everything: {shares:?}"
        );
        first.stop().await;
        second.stop().await;
    }
}

#[tokio::test]
async fn the_intake_answers_the_nats_service_protocol() {
    let Some(url) = nats_url() else { return };
    let Some(bank) = Bank::start(gesta_testkit::Engine::Sqlite).await else {
        return;
    };
    let name = store_name();
    let intake = intake(&bank, &url, &name).await;
    let nats = client(&url).await;
    let (service, id) = intake.service();
    assert_eq!(service, format!("gesta-{name}"));
    // $SRV.PING reaches every service on the server: gather answers for a moment and
    // find this one.
    let inbox = nats.new_inbox();
    let mut answers = nats.subscribe(inbox.clone()).await.unwrap();
    nats.publish_with_reply("$SRV.PING", inbox, "".into())
        .await
        .unwrap();
    let mut found = false;
    while let Ok(Some(message)) = tokio::time::timeout(
        Duration::from_millis(500),
        futures_util::StreamExt::next(&mut answers),
    )
    .await
    {
        let ping: async_nats::service::PingResponse =
            serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(ping.kind, "io.nats.micro.v1.ping_response");
        found |= ping.id == id;
    }
    assert!(found, "this intake did not answer $SRV.PING");
    let reply = nats
        .request(format!("$SRV.INFO.{service}"), "".into())
        .await
        .unwrap();
    let info: async_nats::service::Info = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(info.kind, "io.nats.micro.v1.info_response");
    assert_eq!((info.name.as_str(), info.id.as_str()), (service, id));
    let subjects: HashSet<&str> = info.endpoints.iter().map(|e| e.subject.as_str()).collect();
    for command in ["OpenAccount", "Deposit", "Withdraw", "Transfer"] {
        assert!(
            subjects.contains(format!("gesta.{name}.commands.{command}").as_str()),
            "{subjects:?}"
        );
    }
    assert!(info.endpoints.iter().all(|e| e.queue_group == "gesta"));
    // A failed request counts as an error, with its code first in last_error.
    let (status, _, _) = request(&nats, &name, "Deposit", &[], b"{}").await;
    assert_eq!(status, 401);
    let reply = nats
        .request(format!("$SRV.STATS.{service}.{id}"), "".into())
        .await
        .unwrap();
    let stats: async_nats::service::Stats = serde_json::from_slice(&reply.payload).unwrap();
    let deposit = stats
        .endpoints
        .iter()
        .find(|e| e.name == "Deposit")
        .unwrap();
    assert_eq!((deposit.requests, deposit.errors), (1, 1));
    assert_eq!(deposit.last_error.as_ref().map(|e| e.code), Some(401));
    intake.stop().await;
}
