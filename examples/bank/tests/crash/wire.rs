//! The HTTP API as the clients see it: commands sent, outcomes, events, the log.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// An event as the HTTP API returns it (the CloudEvents fields this test checks).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: String,
    pub position: u64,
    pub streamversion: u64,
    pub commandid: Option<String>,
    pub correlationid: Option<String>,
    pub data: Value,
}

#[derive(Debug, Deserialize)]
pub struct CommandBody {
    pub command_id: String,
    pub events: Vec<Event>,
}

#[derive(Deserialize)]
struct EventsPage {
    events: Vec<Event>,
    next_after: u64,
}

/// A command as sent: its key is both the `Idempotency-Key` and the `X-Correlation-Id`,
/// so its events can be found in the log even when its response was lost.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub key: String,
    pub name: &'static str,
    pub body: Value,
}

/// What the client learnt about one command.
pub enum Outcome {
    /// 200: committed (or replayed, if `replayed`).
    Acked { replayed: bool, body: CommandBody },
    /// A definite refusal: nothing was committed.
    Refused(u16),
    /// No answer (connection dropped by the kill, refused, timed out), or a 5xx.
    InDoubt(String),
}

pub fn http_client() -> reqwest::Client {
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
    client.build().expect("reqwest client")
}

pub async fn send(client: &reqwest::Client, base: &str, cmd: &Cmd) -> Outcome {
    let sent = client
        .post(format!("{base}/commands/{}", cmd.name))
        .header("Idempotency-Key", &cmd.key)
        .header("X-Correlation-Id", &cmd.key)
        .json(&cmd.body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => return Outcome::InDoubt(e.to_string()),
    };
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    match status {
        200 => match response.json::<CommandBody>().await {
            Ok(body) => Outcome::Acked { replayed, body },
            Err(e) => Outcome::InDoubt(format!("200 with an unreadable body: {e}")),
        },
        500..=599 if status != 503 => {
            let body = response.text().await.unwrap_or_default();
            Outcome::InDoubt(format!("server error {status}: {body}"))
        }
        _ => Outcome::Refused(status),
    }
}

pub async fn get_json<T: DeserializeOwned>(client: &reqwest::Client, url: String) -> T {
    let response = client.get(&url).send().await;
    let response = response.and_then(reqwest::Response::error_for_status);
    let response = response.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response.json().await.expect("JSON body")
}

/// The whole log, read page by page over HTTP.
pub async fn fetch_log(client: &reqwest::Client, base: &str) -> Vec<Event> {
    let mut log = Vec::new();
    loop {
        let after = log.last().map_or(0, |e: &Event| e.position);
        let page = events_after(client, base, after).await;
        let page = page.unwrap_or_else(|e| panic!("GET {base}/events?after={after}: {e}"));
        if page.is_empty() {
            return log;
        }
        log.extend(page);
    }
}

/// One page of the log after position `after`.
pub async fn events_after(
    client: &reqwest::Client,
    base: &str,
    after: u64,
) -> Result<Vec<Event>, reqwest::Error> {
    let url = format!("{base}/events?after={after}&limit=1000");
    let response = client.get(&url).send().await?.error_for_status()?;
    let page: EventsPage = response.json().await?;
    if let Some(last) = page.events.last() {
        assert_eq!(page.next_after, last.position, "{url}");
    }
    Ok(page.events)
}
