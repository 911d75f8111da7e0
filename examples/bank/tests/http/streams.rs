//! `POST /streams/{stream}` (direct appends) and `GET /streams/{stream}`.

use gesta_http::DEFAULT_BODY_LIMIT;
use serde_json::{Value, json};

use crate::commands::assert_cloudevent;
use crate::support::{Server, ok_json, problem};

const V4: &str = "3f1c9a52-8d4e-4b7a-9c2e-5a6b7c8d9e0f";
const V7: &str = "0190a3c4-1f2e-7abc-8def-0123456789ab";
const V1: &str = "6fa459ea-ee8a-11d3-a3ad-0050da2e4ae0";

/// An append body of `count` `Noted` events with `expected_version`.
fn append(expected: Value, count: usize) -> Value {
    let events: Vec<Value> = (0..count)
        .map(|i| json!({"type": "Noted", "data": {"n": i}}))
        .collect();
    json!({"expected_version": expected, "events": events})
}

async fn post(server: &Server, stream: &str, body: &Value) -> reqwest::Response {
    server.post(&format!("/streams/{stream}"), body).await
}

/// Asserts a 409 wrong-expected-version problem with its members.
async fn assert_conflict(response: reqwest::Response, stream: &str, expected: Value, actual: u64) {
    let body = problem(response, 409).await;
    assert_eq!(body["stream"], stream, "{body}");
    assert_eq!(body["expected"], expected, "{body}");
    assert_eq!(body["actual"], actual, "{body}");
}

#[tokio::test]
async fn an_append_answers_with_position_version_and_cloudevents() {
    let server = Server::start().await;
    let body = json!({"events": [
        {"type": "Noted", "data": {"n": 1}, "metadata": {"source_system": "legacy"}},
        {"type": "Noted", "data": {"n": 2}},
    ]});
    let reply = ok_json(post(&server, "notes-1", &body).await).await;
    assert_eq!(reply["stream_version"], 2, "{reply}");
    assert_eq!(reply["position"], 2, "{reply}");
    let events = reply["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for (i, event) in events.iter().enumerate() {
        assert_cloudevent(event, "notes-1", "Noted");
        assert_eq!(event["streamversion"], i + 1);
        assert_eq!(event["data"]["n"], i + 1);
    }
    assert_eq!(events[0]["metadata"]["source_system"], "legacy", "{reply}");
}

#[tokio::test]
async fn expected_version_is_checked_for_every_form() {
    let server = Server::start().await;
    let ok = |r| async { ok_json(r).await["stream_version"].as_u64().unwrap() };
    assert_eq!(
        ok(post(&server, "s", &append(json!("no_stream"), 1)).await).await,
        1
    );
    assert_eq!(ok(post(&server, "s", &append(json!(1), 2)).await).await, 3);
    assert_eq!(
        ok(post(&server, "s", &append(json!("stream_exists"), 1)).await).await,
        4
    );
    assert_eq!(
        ok(post(&server, "s", &append(json!("any"), 1)).await).await,
        5
    );
    assert_eq!(
        ok(post(&server, "t", &append(json!("any"), 1)).await).await,
        1
    );
    assert_eq!(ok(post(&server, "u", &append(json!(0), 1)).await).await, 1);
    let before = server.snapshot().await;
    let conflicts = [
        ("s", json!("no_stream"), 5),
        ("s", json!(4), 5),
        ("s", json!(6), 5),
        ("v", json!("stream_exists"), 0),
        ("v", json!(1), 0),
    ];
    for (stream, expected, actual) in conflicts {
        let response = post(&server, stream, &append(expected.clone(), 1)).await;
        assert_conflict(response, stream, expected, actual).await;
    }
    assert_eq!(server.snapshot().await, before);
}

#[tokio::test]
async fn appends_run_the_reducers() {
    let server = Server::start().await;
    server.open_account("a", 10).await;
    let body = json!({"expected_version": 2, "events": [
        {"type": "Deposited", "data": {"account_id": "a", "amount": 5}},
    ]});
    ok_json(post(&server, "account-a", &body).await).await;
    assert_eq!(server.balance("a").await, 15);
}

#[tokio::test]
async fn client_event_ids_must_be_uuid_v4_or_v7_and_unique() {
    let server = Server::start().await;
    for (stream, id) in [("s", V4), ("t", V7)] {
        let body = json!({"events": [{"id": id, "type": "Noted", "data": {}}]});
        let reply = ok_json(post(&server, stream, &body).await).await;
        assert_eq!(reply["events"][0]["id"], id);
    }
    let before = server.snapshot().await;
    for id in [json!(V1), json!("not-a-uuid"), json!(7)] {
        let body = json!({"events": [{"type": "Noted", "data": {}}, {"id": id, "type": "Noted", "data": {}}]});
        let problem = problem(post(&server, "s", &body).await, 400).await;
        assert_eq!(problem["field"], "events[1].id", "{id}: {problem}");
    }
    for stream in ["s", "elsewhere"] {
        let body = json!({"events": [{"id": V4, "type": "Noted", "data": {}}]});
        let problem = problem(post(&server, stream, &body).await, 409).await;
        assert!(
            problem["detail"].as_str().unwrap().contains(V4),
            "{problem}"
        );
    }
    assert_eq!(server.snapshot().await, before);
}

#[tokio::test]
async fn malformed_appends_are_400_and_write_nothing() {
    let server = Server::start().await;
    ok_json(post(&server, "s", &append(json!("any"), 1)).await).await;
    let before = server.snapshot().await;
    let cases = [
        (json!({"events": []}), Some("events")),
        (
            json!({"expected_version": "maybe", "events": [{"type": "Noted", "data": {}}]}),
            Some("expected_version"),
        ),
        (
            json!({"expected_version": -1, "events": [{"type": "Noted", "data": {}}]}),
            Some("expected_version"),
        ),
        (
            json!({"events": [{"type": "Noted", "data": {}}], "when": "now"}),
            Some("when"),
        ),
        (
            json!({"events": [{"type": "Noted", "data": {}, "extra": 1}]}),
            Some("events[0].extra"),
        ),
        (json!({"events": [{"data": {}}]}), Some("events[0].type")),
        (
            json!({"events": [{"type": "", "data": {}}]}),
            Some("events[0].type"),
        ),
        (
            json!({"events": [{"type": "Noted", "data": {}, "metadata": [1]}]}),
            Some("events[0].metadata"),
        ),
        (json!({"expected_version": "any"}), Some("events")),
        (json!([{"type": "Noted", "data": {}}]), None),
    ];
    for (body, field) in cases {
        let problem = problem(post(&server, "s", &body).await, 400).await;
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{body}: {problem}");
        }
        assert_eq!(server.snapshot().await, before, "{body} wrote something");
    }
    let response = server
        .post_raw("/streams/s", Some("text/plain"), "{}")
        .await;
    problem(response, 415).await;
    problem(server.post_raw("/streams/s", None, "{}").await, 415).await;
    let big = json!({"events": [{"type": "Noted", "data": "x".repeat(DEFAULT_BODY_LIMIT)}]});
    problem(post(&server, "s", &big).await, 413).await;
    let response = server
        .post_raw("/streams/s", Some("application/json"), "{")
        .await;
    problem(response, 400).await;
    assert_eq!(server.snapshot().await, before);
}

#[tokio::test]
async fn reading_a_stream_pages_through_it_in_order() {
    let server = Server::start().await;
    ok_json(post(&server, "s", &append(json!("no_stream"), 5)).await).await;
    ok_json(post(&server, "other", &append(json!("no_stream"), 1)).await).await;
    let versions = |page: Value| -> Vec<u64> {
        let events = page["events"].as_array().unwrap().clone();
        events
            .iter()
            .map(|e| e["streamversion"].as_u64().unwrap())
            .collect()
    };
    let page = ok_json(server.get("/streams/s").await).await;
    assert_eq!(page["stream_id"], "s");
    assert_cloudevent(&page["events"][0], "s", "Noted");
    assert_eq!(versions(page), [1, 2, 3, 4, 5]);
    let page = ok_json(server.get("/streams/s?from_version=3").await).await;
    assert_eq!(versions(page), [3, 4, 5]);
    let page = ok_json(server.get("/streams/s?from_version=2&limit=2").await).await;
    assert_eq!(versions(page), [2, 3]);
    let page = ok_json(server.get("/streams/s?from_version=9").await).await;
    assert_eq!(versions(page), Vec::<u64>::new());
}

#[tokio::test]
async fn reading_a_missing_stream_is_404_and_bad_parameters_are_400() {
    let server = Server::start().await;
    ok_json(post(&server, "s", &append(json!("any"), 1)).await).await;
    problem(server.get("/streams/nowhere").await, 404).await;
    let cases = [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("from_version=x", "from_version"),
        ("limit=5&limit=6", "limit"),
        ("colour=blue", "colour"),
    ];
    for (query, field) in cases {
        let body = problem(server.get(&format!("/streams/s?{query}")).await, 400).await;
        assert_eq!(body["field"], field, "{query}: {body}");
    }
}
