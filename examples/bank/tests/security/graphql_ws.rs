//! GraphQL subscriptions over a WebSocket (`graphql-transport-ws`) against the secured
//! bank: the token in `connection_init`, a subscription that drops and resumes from
//! the last position it saw with nothing lost or repeated, the caller's read rights,
//! and a 4403 close without a valid token.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{Bank, engines};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(20);

/// A `graphql-transport-ws` connection to the bank, `connection_init` sent with
/// `payload`.
async fn connect(bank: &Bank, payload: Value) -> Socket {
    let url = format!("ws://{}/graphql", bank.base.trim_start_matches("http://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    let init = json!({"type": "connection_init", "payload": payload});
    socket.send(Message::text(init.to_string())).await.unwrap();
    socket
}

/// The next protocol message (pings skipped), or `None` when the socket closed (with
/// its close code in the error case).
async fn next(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("no message from the server in time");
        match message {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| f.code.into())),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

async fn subscribe(socket: &mut Socket, id: &str, after: u64) {
    let subscribe = json!({
        "id": id,
        "type": "subscribe",
        "payload": {
            "query": "subscription($after: Int) { events(after: $after, category: \"account\") { position type subject } }",
            "variables": {"after": after},
        },
    });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
}

/// The next `n` events of subscription `id`.
async fn events(socket: &mut Socket, id: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let message = next(socket)
            .await
            .unwrap_or_else(|code| panic!("closed: {code:?}"));
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], id);
        out.push(message["payload"]["data"]["events"].clone());
    }
    out
}

#[tokio::test]
async fn a_subscription_resumes_after_a_drop_with_nothing_lost_or_repeated() {
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let token = bank.token("teller").unwrap().to_owned();
        let mut socket = connect(&bank, json!({"Authorization": format!("Bearer {token}")})).await;
        assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
        subscribe(&mut socket, "1", 0).await;
        // What the bank wrote before: two accounts opened and funded.
        let first = events(&mut socket, "1", 4).await;
        let positions: Vec<u64> = first
            .iter()
            .map(|e| e["position"].as_u64().unwrap())
            .collect();
        assert_eq!(positions, [1, 2, 3, 4], "{first:?}");
        // Live: deposits made while subscribed arrive.
        for _ in 0..3 {
            let body = json!({"account_id": "c1", "amount": 1});
            assert_eq!(
                bank.call("teller", "POST", "/commands/Deposit", Some(&body))
                    .await
                    .0,
                200
            );
        }
        let live = events(&mut socket, "1", 3).await;
        assert!(live.iter().all(|e| e["type"] == "Deposited"), "{live:?}");
        let last = live[2]["position"].as_u64().unwrap();
        assert_eq!(last, 7);
        // The client drops; commands go on; it comes back after the last it saw.
        drop(socket);
        for _ in 0..5 {
            let body = json!({"account_id": "t2", "amount": 2});
            assert_eq!(
                bank.call("teller", "POST", "/commands/Deposit", Some(&body))
                    .await
                    .0,
                200
            );
        }
        let mut socket = connect(&bank, json!({"authorization": format!("Bearer {token}")})).await;
        assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
        subscribe(&mut socket, "again", last).await;
        let resumed = events(&mut socket, "again", 5).await;
        let positions: Vec<u64> = resumed
            .iter()
            .map(|e| e["position"].as_u64().unwrap())
            .collect();
        assert_eq!(positions, [8, 9, 10, 11, 12], "{resumed:?}");
        // Complete ends the subscription; the socket stays usable.
        socket
            .send(Message::text(
                json!({"id": "again", "type": "complete"}).to_string(),
            ))
            .await
            .unwrap();
        socket
            .send(Message::text(json!({"type": "ping"}).to_string()))
            .await
            .unwrap();
        let mut message = next(&mut socket).await.unwrap();
        if message["type"] == "complete" {
            assert_eq!(message["id"], "again");
            message = next(&mut socket).await.unwrap();
        }
        assert_eq!(message["type"], "pong", "{message}");
    }
}

#[tokio::test]
async fn a_subscription_sees_only_the_streams_its_caller_may_read() {
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let token = bank.token("customer").unwrap().to_owned();
        let mut socket = connect(&bank, json!({"token": token})).await;
        assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
        subscribe(&mut socket, "mine", 0).await;
        for account in ["t2", "c1", "t2"] {
            let body = json!({"account_id": account, "amount": 3});
            assert_eq!(
                bank.call("teller", "POST", "/commands/Deposit", Some(&body))
                    .await
                    .0,
                200
            );
        }
        // c1's AccountOpened, Deposited (setup), then the live c1 deposit; never t2's.
        let seen = events(&mut socket, "mine", 3).await;
        assert!(
            seen.iter().all(|e| e["subject"] == "account-c1"),
            "{seen:?}"
        );
        assert_eq!(seen[2]["position"], 6, "{seen:?}");
    }
}

#[tokio::test]
async fn a_websocket_without_a_valid_token_is_closed_with_4403() {
    let Some(bank) = Bank::start(gesta_testkit::Engine::Sqlite).await else {
        return;
    };
    for payload in [
        json!({}),
        json!({"Authorization": "Bearer not-a-token"}),
        json!({"token": 42}),
    ] {
        let mut socket = connect(&bank, payload.clone()).await;
        assert_eq!(next(&mut socket).await, Err(Some(4403)), "{payload}");
    }
    // A WebSocket without the subprotocol is refused at the handshake; a plain GET too.
    let (status, _, _) = bank.call("teller", "GET", "/graphql", None).await;
    assert_eq!(status, 405);
    // Without the upgrade, GET /graphql needs a token like every route.
    let (status, _, _) = bank.call("none", "GET", "/graphql", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn one_socket_runs_at_most_sixteen_subscriptions() {
    let Some(bank) = Bank::start(gesta_testkit::Engine::Sqlite).await else {
        return;
    };
    let token = bank.token("teller").unwrap().to_owned();
    let mut socket = connect(&bank, json!({"token": token})).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    // Sixteen subscriptions after the head: they wait for new events.
    for i in 0..16 {
        subscribe(&mut socket, &format!("s{i}"), 4).await;
    }
    subscribe(&mut socket, "s16", 4).await;
    // One of the seventeen (whichever the server polls last) is refused.
    let refused = next(&mut socket).await.unwrap();
    let text = refused.to_string();
    assert!(
        text.contains("429") && text.contains("Too many subscriptions"),
        "{refused}"
    );
    let refused = refused["id"].as_str().unwrap().to_owned();
    let done = if refused == "s0" { "s1" } else { "s0" };
    // Completing one frees its slot.
    socket
        .send(Message::text(
            json!({"id": done, "type": "complete"}).to_string(),
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    subscribe(&mut socket, "room-again", 4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = json!({"account_id": "c1", "amount": 1});
    assert_eq!(
        bank.call("teller", "POST", "/commands/Deposit", Some(&body))
            .await
            .0,
        200
    );
    let mut ids = std::collections::HashSet::new();
    while ids.len() < 16 {
        let message = next(&mut socket).await.unwrap();
        if message["type"] == "next" {
            assert_eq!(
                message["payload"]["data"]["events"]["position"], 5,
                "{message}"
            );
            ids.insert(message["id"].as_str().unwrap().to_owned());
        }
    }
    assert!(
        ids.contains("room-again") && !ids.contains(done) && !ids.contains(&refused),
        "{ids:?}"
    );
}
