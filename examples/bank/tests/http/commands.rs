//! `POST /commands/{name}`: the response shape, CloudEvents, correlation and
//! idempotent retries.

use serde_json::{Value, json};

use crate::support::{Server, ok_json, problem};

/// Whether `s` looks like a hyphenated UUID of `version`.
fn is_uuid(s: &str, version: char) -> bool {
    let dashes = [8, 13, 18, 23];
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if dashes.contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
        && s.as_bytes()[14] as char == version
}

/// Whether `s` is an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    if b.len() < 20 || !digits(0..4) || !digits(5..7) || !digits(8..10) {
        return false;
    }
    if (b[4], b[7], b[10], b[13], b[16]) != (b'-', b'-', b'T', b':', b':') {
        return false;
    }
    if !digits(11..13) || !digits(14..16) || !digits(17..19) {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let offset = rest.as_bytes();
    rest == "Z"
        || (offset.len() == 6
            && matches!(offset[0], b'+' | b'-')
            && offset[3] == b':'
            && [1, 2, 4, 5].iter().all(|&i| offset[i].is_ascii_digit()))
}

/// Asserts every CloudEvents 1.0 attribute Gesta promises on `event`.
pub fn assert_cloudevent(event: &Value, stream: &str, event_type: &str) {
    assert_eq!(event["specversion"], "1.0", "{event}");
    assert!(is_uuid(event["id"].as_str().unwrap(), '7'), "{event}");
    assert_eq!(event["source"], format!("/streams/{stream}"), "{event}");
    assert_eq!(event["type"], event_type, "{event}");
    assert_eq!(event["subject"], stream, "{event}");
    assert!(is_rfc3339(event["time"].as_str().unwrap()), "{event}");
    assert_eq!(event["datacontenttype"], "application/json", "{event}");
    assert!(event["data"].is_object(), "{event}");
    assert!(event["position"].as_u64().unwrap() >= 1, "{event}");
    assert!(event["streamversion"].as_u64().unwrap() >= 1, "{event}");
    for attribute in ["commandid", "correlationid", "causationid"] {
        assert!(event[attribute].is_string(), "{attribute} missing: {event}");
    }
}

#[test]
fn the_format_checkers_refuse_near_misses() {
    assert!(is_rfc3339("2024-05-01T12:30:00Z"));
    assert!(is_rfc3339("2024-05-01T12:30:00.123456+02:00"));
    assert!(!is_rfc3339("2024-05-01 12:30:00Z"));
    assert!(!is_rfc3339("2024-05-01T12:30:00"));
    assert!(!is_rfc3339("1714566600"));
    assert!(is_uuid("0190a3c4-1f2e-7abc-8def-0123456789ab", '7'));
    assert!(!is_uuid("0190a3c4-1f2e-4abc-8def-0123456789ab", '7'));
    assert!(!is_uuid("not-a-uuid", '7'));
}

#[tokio::test]
async fn a_command_answers_with_its_id_position_and_cloudevents() {
    let server = Server::start().await;
    let response = server
        .request(reqwest::Method::POST, "/commands/OpenAccount")
        .header("content-type", "application/json")
        .body(r#"{"account_id": "x", "owner": "Ada"}"#)
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("idempotent-replayed").is_none());
    let body = ok_json(response).await;
    let command_id = body["command_id"].as_str().unwrap();
    assert!(is_uuid(command_id, '7'), "{body}");
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    let event = &events[0];
    assert_cloudevent(event, "account-x", "AccountOpened");
    assert_eq!(event["data"], json!({"account_id": "x", "owner": "Ada"}));
    assert_eq!(event["position"], 1);
    assert_eq!(event["streamversion"], 1);
    assert_eq!(body["position"], event["position"]);
    assert_eq!(event["commandid"], command_id);
    // With no X-Correlation-Id, the command itself starts the correlation.
    assert_eq!(event["correlationid"], command_id);
    assert_eq!(event["causationid"], command_id);
    // The log serves the same event.
    let log = server.events("").await;
    assert_eq!(log["events"][0]["id"], event["id"]);
    assert_eq!(log["events"][0]["time"], event["time"]);
}

#[tokio::test]
async fn x_correlation_id_becomes_the_events_correlationid() {
    let server = Server::start().await;
    server.open_account("a", 100).await;
    server.open_account("b", 0).await;
    let response = server
        .request(reqwest::Method::POST, "/commands/Transfer")
        .header("content-type", "application/json")
        .header("x-correlation-id", "checkout-42")
        .body(r#"{"from": "a", "to": "b", "amount": 5}"#)
        .send()
        .await
        .unwrap();
    let body = ok_json(response).await;
    for event in body["events"].as_array().unwrap() {
        assert_eq!(event["correlationid"], "checkout-42", "{event}");
        assert_eq!(event["commandid"], body["command_id"], "{event}");
    }
    let log = server.events("type=TransferSent").await;
    assert_eq!(log["events"][0]["correlationid"], "checkout-42");
}

async fn deposit_with_key(server: &Server, key: &str) -> reqwest::Response {
    server
        .request(reqwest::Method::POST, "/commands/Deposit")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(r#"{"account_id": "a", "amount": 25}"#)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_replays_the_first_outcome() {
    let server = Server::start().await;
    server.open_account("a", 0).await;
    let first = deposit_with_key(&server, "retry-1").await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = ok_json(first).await;
    let before = server.snapshot().await;

    let retry = deposit_with_key(&server, "retry-1").await;
    assert_eq!(
        retry.headers().get("idempotent-replayed").unwrap(),
        "true",
        "a replay says so"
    );
    let retry = ok_json(retry).await;
    assert_eq!(retry["command_id"], first["command_id"]);
    assert_eq!(retry["position"], first["position"]);
    assert_eq!(retry["events"][0]["id"], first["events"][0]["id"]);
    assert_eq!(
        retry["events"][0]["position"],
        first["events"][0]["position"]
    );
    assert_eq!(server.snapshot().await, before, "a replay writes nothing");
    assert_eq!(server.balance("a").await, 25, "deposited once");
}

#[tokio::test]
async fn an_idempotency_key_used_by_another_command_is_409() {
    let server = Server::start().await;
    server.open_account("a", 0).await;
    ok_json(deposit_with_key(&server, "k").await).await;
    let before = server.snapshot().await;
    let response = server
        .request(reqwest::Method::POST, "/commands/Withdraw")
        .header("content-type", "application/json")
        .header("idempotency-key", "k")
        .body(r#"{"account_id": "a", "amount": 5}"#)
        .send()
        .await
        .unwrap();
    let body = problem(response, 409).await;
    assert!(
        body["detail"].as_str().unwrap().contains("Deposit"),
        "{body}"
    );
    assert_eq!(server.snapshot().await, before);
    assert_eq!(server.balance("a").await, 25);
}
