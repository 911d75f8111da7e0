//! `GET /events`: the global log, its filters and paging.

use serde_json::{Value, json};

use crate::support::{Server, problem};

/// The positions of a page's events.
fn positions(page: &Value) -> Vec<u64> {
    let events = page["events"].as_array().unwrap();
    events
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect()
}

/// The types of a page's events.
fn types(page: &Value) -> Vec<String> {
    let events = page["events"].as_array().unwrap();
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// Positions 1..=6: opened a, deposited a, opened b, transfer a->b (2), withdrawn b.
async fn bank_log() -> Server {
    let server = Server::start().await;
    server.open_account("a", 100).await;
    server.open_account("b", 0).await;
    server
        .command("Transfer", json!({"from": "a", "to": "b", "amount": 40}))
        .await;
    server
        .command("Withdraw", json!({"account_id": "b", "amount": 10}))
        .await;
    server
}

#[tokio::test]
async fn the_log_pages_in_position_order() {
    let server = bank_log().await;
    let all = server.events("").await;
    assert_eq!(positions(&all), [1, 2, 3, 4, 5, 6]);
    assert_eq!(all["next_after"], 6);
    let page = server.events("limit=2").await;
    assert_eq!(positions(&page), [1, 2]);
    assert_eq!(page["next_after"], 2);
    let page = server.events("after=2&limit=3").await;
    assert_eq!(positions(&page), [3, 4, 5]);
    assert_eq!(page["next_after"], 5);
    let page = server.events("after=5&limit=3").await;
    assert_eq!(positions(&page), [6]);
    let end = server.events("after=6").await;
    assert_eq!(positions(&end), Vec::<u64>::new());
    assert_eq!(end["next_after"], 6, "an empty page keeps the cursor");
}

#[tokio::test]
async fn following_next_after_visits_every_event_once() {
    let server = bank_log().await;
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = server.events(&format!("after={after}&limit=4")).await;
        if page["events"].as_array().unwrap().is_empty() {
            break;
        }
        seen.extend(positions(&page));
        after = page["next_after"].as_u64().unwrap();
    }
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn the_log_filters_by_type_and_stream() {
    let server = bank_log().await;
    let page = server.events("type=Deposited").await;
    assert_eq!(positions(&page), [2]);
    let page = server.events("type=TransferReceived&type=Withdrawn").await;
    assert_eq!(types(&page), ["TransferReceived", "Withdrawn"]);
    assert_eq!(positions(&page), [5, 6]);
    let page = server.events("stream=account-b").await;
    assert_eq!(positions(&page), [3, 5, 6]);
    let page = server
        .events("stream=account-a&type=AccountOpened&type=TransferSent")
        .await;
    assert_eq!(positions(&page), [1, 4]);
    let page = server
        .events("stream=account-a&stream=account-b&after=3&limit=1")
        .await;
    assert_eq!(positions(&page), [4]);
    assert_eq!(page["next_after"], 4);
    let page = server.events("type=Nothing").await;
    assert_eq!(positions(&page), Vec::<u64>::new());
}

#[tokio::test]
async fn the_log_filters_by_category() {
    let server = bank_log().await;
    let page = server.events("category=account").await;
    assert_eq!(positions(&page), [1, 2, 3, 4, 5, 6]);
    let page = server.events("category=account&type=Deposited").await;
    assert_eq!(positions(&page), [2]);
    let page = server.events("category=order").await;
    assert_eq!(positions(&page), Vec::<u64>::new());
    let page = server.events("category=order&stream=account-b").await;
    assert_eq!(positions(&page), [3, 5, 6]);
}

#[tokio::test]
async fn bad_log_parameters_are_400_naming_the_parameter() {
    let server = bank_log().await;
    let cases = [
        ("after=-1", "after"),
        ("after=x", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("from=3", "from"),
        ("types=Deposited", "types"),
        ("type=", "type"),
        ("stream=", "stream"),
        ("category=", "category"),
        ("category=account-a", "category"),
    ];
    for (query, field) in cases {
        let body = problem(server.get(&format!("/events?{query}")).await, 400).await;
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let many = vec!["stream=account-a"; 101].join("&");
    let body = problem(server.get(&format!("/events?{many}")).await, 400).await;
    assert_eq!(body["field"], "stream", "{body}");
    let enough = vec!["stream=account-a"; 100].join("&");
    assert_eq!(positions(&server.events(&enough).await), [1, 2, 4]);
}
