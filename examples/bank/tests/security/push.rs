//! Filtered push under concurrent writes: a customer's subscription (SSE with a bearer
//! header, WebSocket with `?access_token=`) gets exactly the events of its own stream,
//! in order, none of anyone else's.

use std::time::Duration;

use eventsource_client::{Client, ClientBuilder, SSE};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::support::{Bank, engines};

const WRITES: usize = 120;
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_customer_is_pushed_exactly_its_own_events_while_others_write() {
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let open = json!({"account_id": "t3", "owner": "Bo"});
        assert_eq!(
            bank.call("teller", "POST", "/commands/OpenAccount", Some(&open))
                .await
                .0,
            200
        );
        let token = bank.token("customer").unwrap().to_owned();
        let sse = ClientBuilder::for_url(&format!("{}/subscribe", bank.base))
            .unwrap()
            .header("authorization", &format!("Bearer {token}"))
            .unwrap()
            .build_http();
        let mut sse = sse.stream();
        let ws_url = format!(
            "ws://{}/ws?access_token={token}",
            bank.base.trim_start_matches("http://")
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();

        let writer = {
            let (base, token) = (bank.base.clone(), bank.token("teller").unwrap().to_owned());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for i in 0..WRITES {
                    let account = ["c1", "t2", "t3"][i % 3];
                    let deposit = json!({"account_id": account, "amount": 1});
                    let response = client
                        .post(format!("{base}/commands/Deposit"))
                        .bearer_auth(&token)
                        .json(&deposit)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        };
        writer.await.unwrap();
        // AccountOpened + the set-up Deposit + a third of the writes.
        let wanted = 2 + WRITES / 3;

        let mut pushed = Vec::new();
        tokio::time::timeout(WAIT, async {
            while pushed.len() < wanted {
                match sse.next().await.unwrap().unwrap() {
                    SSE::Event(event) => {
                        pushed.push(serde_json::from_str::<Value>(&event.data).unwrap())
                    }
                    _ => continue,
                }
            }
        })
        .await
        .expect("SSE events in time");
        let mut socket = Vec::new();
        tokio::time::timeout(WAIT, async {
            while socket.len() < wanted {
                let message = ws.next().await.unwrap().unwrap();
                if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                    socket.push(serde_json::from_str::<Value>(&text).unwrap());
                }
            }
        })
        .await
        .expect("WebSocket events in time");

        for events in [&pushed, &socket] {
            let versions: Vec<u64> = events
                .iter()
                .map(|e| e["streamversion"].as_u64().unwrap_or(0))
                .collect();
            assert!(
                events.iter().all(|e| e["subject"] == "account-c1"),
                "{events:?}"
            );
            let positions: Vec<u64> = events
                .iter()
                .map(|e| e["position"].as_u64().unwrap())
                .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
            assert_eq!(
                versions,
                (1..=wanted as u64).collect::<Vec<_>>(),
                "{}",
                engine.name()
            );
        }
        // Nothing more arrives for the customer: the next write to c1 is the next event.
        let deposit = json!({"account_id": "t2", "amount": 1});
        bank.call("teller", "POST", "/commands/Deposit", Some(&deposit))
            .await;
        let deposit = json!({"account_id": "c1", "amount": 1});
        bank.call("teller", "POST", "/commands/Deposit", Some(&deposit))
            .await;
        let next = tokio::time::timeout(WAIT, async {
            loop {
                if let SSE::Event(event) = sse.next().await.unwrap().unwrap() {
                    return serde_json::from_str::<Value>(&event.data).unwrap();
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(next["subject"], "account-c1");
        report!(
            "{}: {} events pushed to the customer over SSE and WebSocket",
            engine.name(),
            wanted + 1
        );
    }
}
