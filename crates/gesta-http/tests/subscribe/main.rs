//! `GET /subscribe` (Server-Sent Events) and `GET /ws` (WebSocket) through real
//! clients: LaunchDarkly's `eventsource-client`, `tokio-tungstenite`, and, for one
//! test, headless Chromium's `EventSource`.

mod browser;
mod support;

use std::time::{Duration, Instant};

use eventsource_client::{Client, SSE};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use support::{Server, WAIT, append, connected, ids, sse_client, store, take};

/// Three events exist; a subscriber without `after` gets them, then the two that
/// commit while it listens, each as `id:` position, `event:` type and CloudEvents JSON.
#[tokio::test]
async fn catches_up_then_follows_live_events() {
    let store = store().await;
    append(&store, "account-1", "Opened", 2).await;
    append(&store, "order-9", "Placed", 1).await;
    let server = Server::start(&store).await;

    let client = sse_client(&format!("{}/subscribe", server.base), None);
    let mut events = client.stream();
    let old = take(&mut events, 3).await;
    assert_eq!(ids(&old), [1, 2, 3]);
    assert_eq!(old[2].event_type, "Placed");
    let cloudevent = &old[2].data;
    assert_eq!(cloudevent["specversion"], "1.0");
    assert_eq!(cloudevent["type"], "Placed");
    assert_eq!(cloudevent["subject"], "order-9");
    assert_eq!(cloudevent["source"], "/streams/order-9");
    assert_eq!(cloudevent["position"], 3);
    assert_eq!(cloudevent["data"], serde_json::json!({"i": 0}));

    let live = tokio::spawn({
        let store = store.clone();
        async move { append(&store, "account-2", "Opened", 2).await }
    });
    let new = take(&mut events, 2).await;
    assert_eq!(ids(&new), [4, 5]);
    assert_eq!(new[1].data["subject"], "account-2");
    live.await.unwrap();

    // `after=P` starts after P; `after=now` only sees what commits later.
    let client = sse_client(&format!("{}/subscribe?after=4", server.base), None);
    assert_eq!(ids(&take(&mut client.stream(), 1).await), [5]);
    let client = sse_client(&format!("{}/subscribe?after=now", server.base), None);
    let mut from_now = client.stream();
    connected(&mut from_now).await; // the start is fixed now
    append(&store, "order-9", "Shipped", 1).await;
    assert_eq!(ids(&take(&mut from_now, 1).await), [6]);
    server.stop().await;
}

/// `type`, `stream` and `category` filter the catch-up and the live part alike.
#[tokio::test]
async fn filters_by_type_stream_and_category() {
    let store = store().await;
    append(&store, "account-1", "Opened", 1).await; // 1
    append(&store, "account-1", "Deposited", 2).await; // 2, 3
    append(&store, "accounts-x", "Deposited", 1).await; // 4: another category
    append(&store, "order-1", "Placed", 1).await; // 5
    append(&store, "account-2", "Deposited", 1).await; // 6
    let server = Server::start(&store).await;
    let base = &server.base;

    let client = sse_client(
        &format!("{base}/subscribe?category=account&type=Deposited"),
        None,
    );
    let mut deposits = client.stream();
    assert_eq!(ids(&take(&mut deposits, 3).await), [2, 3, 6]);
    let client = sse_client(
        &format!("{base}/subscribe?stream=order-1&category=accounts"),
        None,
    );
    let mut either = client.stream();
    assert_eq!(ids(&take(&mut either, 2).await), [4, 5]);
    let client = sse_client(&format!("{base}/subscribe?type=Opened&type=Placed"), None);
    let mut types = client.stream();
    assert_eq!(ids(&take(&mut types, 2).await), [1, 5]);

    append(&store, "order-1", "Deposited", 1).await; // 7: no account
    append(&store, "account-3", "Opened", 1).await; // 8
    append(&store, "account-3", "Deposited", 1).await; // 9
    append(&store, "accounts-x", "Closed", 1).await; // 10
    assert_eq!(ids(&take(&mut deposits, 1).await), [9]);
    assert_eq!(ids(&take(&mut either, 2).await), [7, 10]);
    assert_eq!(ids(&take(&mut types, 1).await), [8]);
    server.stop().await;
}

/// A client that read up to 3 resumes with `Last-Event-ID: 3` (which wins over
/// `after`); a client whose server restarts reconnects by itself and, through the
/// header, misses nothing and sees nothing twice.
#[tokio::test]
async fn last_event_id_resumes_without_gap_or_duplicate() {
    let store = store().await;
    append(&store, "s-1", "Noted", 5).await;
    let server = Server::start(&store).await;

    let client = sse_client(&format!("{}/subscribe?after=1", server.base), Some("3"));
    let mut resumed = client.stream();
    assert_eq!(ids(&take(&mut resumed, 2).await), [4, 5]);

    // The server goes away under a reading client (its stream must not hold the
    // shutdown up), events commit meanwhile, and a new server takes the same port.
    let client = sse_client(&format!("{}/subscribe", server.base), None);
    let mut events = client.stream();
    assert_eq!(ids(&take(&mut events, 3).await), [1, 2, 3]);
    let addr = server.addr;
    server.stop().await;
    append(&store, "s-2", "Noted", 2).await; // 6, 7
    let server = Server::on(&store, addr, Duration::from_secs(15)).await;
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < 4 {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.next()).await {
            Ok(Some(Ok(SSE::Event(event)))) => got.push(event.id.unwrap().parse::<u64>().unwrap()),
            Ok(Some(_)) => {} // the end of the old stream, refused reconnects, comments
            Ok(None) => panic!("the client gave up"),
            Err(_) => panic!("only {got:?} within 5 s"),
        }
        if got.len() == 2 {
            append(&store, "s-2", "Noted", 2).await; // 8, 9: live after the reconnect
        }
    }
    assert_eq!(got, [4, 5, 6, 7]);
    assert_eq!(ids(&take(&mut events, 2).await), [8, 9]);
    server.stop().await;
}

/// An idle stream carries keep-alive comments; an idle WebSocket gets pings.
#[tokio::test]
async fn idle_connections_get_keep_alives() {
    let store = store().await;
    let server = Server::on(
        &store,
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_millis(100),
    )
    .await;

    let client = sse_client(&format!("{}/subscribe", server.base), None);
    let mut events = client.stream();
    let mut comments = 0;
    while comments < 2 {
        match tokio::time::timeout(WAIT, events.next())
            .await
            .expect("a keep-alive within 5 s")
        {
            Some(Ok(SSE::Comment(text))) => {
                assert_eq!(text.trim(), "keep-alive");
                comments += 1;
            }
            Some(Ok(SSE::Connected(_))) => {}
            other => panic!("expected a comment, got {other:?}"),
        }
    }

    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, socket.next())
        .await
        .expect("a ping within 5 s");
    assert!(matches!(first, Some(Ok(Message::Ping(_)))), "{first:?}");
    server.stop().await;
}

/// Invalid parameters are 400 problems naming the field, before any stream starts.
#[tokio::test]
async fn bad_parameters_are_400_problems() {
    let store = store().await;
    let server = Server::start(&store).await;
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("after=-1", None, "after"),
        ("after=soon", None, "after"),
        ("after=1&after=2", None, "after"),
        ("type=", None, "type"),
        ("stream=", None, "stream"),
        ("category=account-1", None, "category"),
        ("category=", None, "category"),
        ("limit=5", None, "limit"),
        ("after=1", Some("seven"), "Last-Event-ID"),
        ("after=soon", Some("3"), "after"),
        ("after=9223372036854775808", None, "after"),
    ];
    for &(query, last_event_id, field) in cases {
        let url = format!("{}/subscribe?{query}", server.base);
        let client = sse_client(&url, last_event_id);
        let mut events = client.stream();
        let first = tokio::time::timeout(WAIT, events.next()).await.unwrap();
        let Some(Err(eventsource_client::Error::UnexpectedResponse(response, body))) = first else {
            panic!("{query}: expected an error response, got {first:?}");
        };
        assert_eq!(response.status(), 400, "{query}");
        let content_type = response.get_header_value("content-type").unwrap();
        assert_eq!(content_type, Some("application/problem+json"), "{query}");
        let problem: serde_json::Value =
            serde_json::from_slice(&body.body_bytes().await.unwrap()).unwrap();
        assert_eq!(problem["field"], field, "{query}: {problem}");
        assert_eq!(problem["status"], 400);

        let ws = format!("ws://{}/ws?{query}", server.addr);
        let mut request = ws.into_client_request().unwrap();
        if let Some(id) = last_event_id {
            request
                .headers_mut()
                .insert("last-event-id", id.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 400, "ws {query}");
                let problem: serde_json::Value =
                    serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
                assert_eq!(problem["field"], field, "ws {query}: {problem}");
            }
            other => panic!("ws {query}: expected a 400, got {other:?}"),
        }
    }
    // A plain GET of /ws is not a handshake.
    let plain = reqwest::get(format!("{}/ws", server.base)).await.unwrap();
    assert!(plain.status().is_client_error(), "{}", plain.status());
    assert_eq!(plain.headers()["content-type"], "application/problem+json");
    // Both routes are in the OpenAPI document.
    let doc: serde_json::Value = reqwest::get(format!("{}/openapi.json", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/subscribe"]["get"].is_object(), "{doc}");
    assert!(doc["paths"]["/ws"]["get"].is_object(), "{doc}");
    server.stop().await;
}

/// A client that stops reading while 1,200 events commit (more than a page of the
/// subscription) holds nothing up and later gets every one, in order.
#[tokio::test]
async fn a_client_that_falls_behind_gets_every_event_later() {
    let store = store().await;
    let server = Server::start(&store).await;
    let client = sse_client(&format!("{}/subscribe", server.base), None);
    let mut events = client.stream();
    connected(&mut events).await; // then not read for a while
    let started = Instant::now();
    for _ in 0..12 {
        append(&store, "bulk-1", "Noted", 100).await;
    }
    assert!(
        started.elapsed() < WAIT,
        "writes took {:?}",
        started.elapsed()
    );
    let got = take(&mut events, 1200).await;
    assert_eq!(ids(&got), (1..=1200).collect::<Vec<u64>>());
    server.stop().await;
}

/// The WebSocket carries the same CloudEvents with the same filters and resume
/// rules, live events included, and is closed with 1001 when the server stops.
#[tokio::test]
async fn websocket_carries_the_same_events() {
    let store = store().await;
    append(&store, "account-1", "Opened", 1).await; // 1
    append(&store, "order-1", "Placed", 1).await; // 2
    append(&store, "account-1", "Deposited", 2).await; // 3, 4
    let server = Server::start(&store).await;

    let url = format!("ws://{}/ws?category=account&after=1", server.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    assert_eq!(positions(&mut socket, 2).await, [3, 4]);
    append(&store, "order-1", "Shipped", 1).await; // 5
    append(&store, "account-2", "Opened", 1).await; // 6
    let live = next_json(&mut socket).await;
    assert_eq!(live["position"], 6);
    assert_eq!(live["type"], "Opened");
    assert_eq!(live["subject"], "account-2");
    assert_eq!(live["specversion"], "1.0");

    // Last-Event-ID wins over `after` here too; client pings are answered.
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("last-event-id", "4".parse().unwrap());
    let (mut resumed, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    resumed.send(Message::Ping("hi".into())).await.unwrap();
    let mut pong = false;
    let mut got = Vec::new();
    while !pong || got.is_empty() {
        match tokio::time::timeout(WAIT, resumed.next()).await.unwrap() {
            Some(Ok(Message::Pong(payload))) => pong = payload == "hi",
            Some(Ok(Message::Text(text))) => {
                let event: serde_json::Value = serde_json::from_str(&text).unwrap();
                got.push(event["position"].as_u64().unwrap());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, [6]);

    let stopping = tokio::spawn(server.stop());
    match tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
    stopping.await.unwrap();
}

/// The next `n` WebSocket events' positions.
async fn positions(socket: &mut support::Socket, n: usize) -> Vec<u64> {
    let mut positions = Vec::new();
    for _ in 0..n {
        positions.push(next_json(socket).await["position"].as_u64().unwrap());
    }
    positions
}

/// The next text message as JSON, skipping pings; fails after 5 s.
async fn next_json(socket: &mut support::Socket) -> serde_json::Value {
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message within 5 s")
        {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("expected an event, got {other:?}"),
        }
    }
}
