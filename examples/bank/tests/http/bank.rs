//! The bank's flows over HTTP: open, deposit, transfer, refusals, `GET /accounts/{id}`.

use serde_json::json;

use crate::commands::assert_cloudevent;
use crate::support::{Server, ok_json, problem};

#[tokio::test]
async fn open_deposit_and_read_an_account() {
    let server = Server::start().await;
    server.open_account("alice", 0).await;
    let body = server
        .command("Deposit", json!({"account_id": "alice", "amount": 250}))
        .await;
    assert_cloudevent(&body["events"][0], "account-alice", "Deposited");
    assert_eq!(body["events"][0]["streamversion"], 2);
    assert_eq!(body["events"][0]["data"]["amount"], 250);
    let account = ok_json(server.get("/accounts/alice").await).await;
    assert_eq!(
        account,
        json!({"id": "alice", "owner": "Ada", "balance": 250})
    );
}

#[tokio::test]
async fn a_transfer_writes_one_event_on_each_account_stream() {
    let server = Server::start().await;
    server.open_account("a", 100).await;
    server.open_account("b", 0).await;
    let body = server
        .command("Transfer", json!({"from": "a", "to": "b", "amount": 30}))
        .await;
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{body}");
    assert_cloudevent(&events[0], "account-a", "TransferSent");
    assert_cloudevent(&events[1], "account-b", "TransferReceived");
    let first = events[0]["position"].as_u64().unwrap();
    assert_eq!(events[1]["position"].as_u64().unwrap(), first + 1);
    assert_eq!(body["position"], events[1]["position"]);
    assert_eq!(events[0]["commandid"], events[1]["commandid"]);
    assert_eq!(server.balance("a").await, 70);
    assert_eq!(server.balance("b").await, 30);
}

#[tokio::test]
async fn an_overdraft_is_422_and_changes_nothing() {
    let server = Server::start().await;
    server.open_account("a", 100).await;
    server.open_account("b", 0).await;
    let before = server.snapshot().await;
    let cases = [
        ("Withdraw", json!({"account_id": "a", "amount": 101})),
        ("Transfer", json!({"from": "a", "to": "b", "amount": 101})),
    ];
    for (name, data) in cases {
        let response = server.post(&format!("/commands/{name}"), &data).await;
        let body = problem(response, 422).await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("insufficient funds"), "{name}: {body}");
        assert_eq!(server.snapshot().await, before, "{name} wrote something");
    }
    assert_eq!(server.balance("a").await, 100);
    assert_eq!(server.balance("b").await, 0);
}

#[tokio::test]
async fn opening_an_existing_account_is_409() {
    let server = Server::start().await;
    server.open_account("a", 10).await;
    let before = server.snapshot().await;
    let data = json!({"account_id": "a", "owner": "Bob"});
    let body = problem(server.post("/commands/OpenAccount", &data).await, 409).await;
    assert!(body["detail"].as_str().unwrap().contains("already exists"));
    assert_eq!(server.snapshot().await, before);
    let account = ok_json(server.get("/accounts/a").await).await;
    assert_eq!(account["owner"], "Ada");
}

#[tokio::test]
async fn an_unknown_account_is_404() {
    let server = Server::start().await;
    server.open_account("a", 100).await;
    let before = server.snapshot().await;
    let cases = [
        ("Deposit", json!({"account_id": "ghost", "amount": 1})),
        ("Withdraw", json!({"account_id": "ghost", "amount": 1})),
        ("Transfer", json!({"from": "a", "to": "ghost", "amount": 1})),
        ("Transfer", json!({"from": "ghost", "to": "a", "amount": 1})),
    ];
    for (name, data) in cases {
        let response = server.post(&format!("/commands/{name}"), &data).await;
        let body = problem(response, 404).await;
        assert!(body["detail"].as_str().unwrap().contains("ghost"), "{body}");
    }
    assert_eq!(server.snapshot().await, before);
    assert_eq!(server.balance("a").await, 100);
    let body = problem(server.get("/accounts/ghost").await, 404).await;
    assert!(body["detail"].as_str().unwrap().contains("ghost"), "{body}");
}
