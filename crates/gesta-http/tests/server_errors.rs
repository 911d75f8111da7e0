//! Statuses that need a misbehaving application: 500 for a panicking handler,
//! 503 + Retry-After when the writer queue is full or a command overruns its deadline.

use std::time::Duration;

use gesta::event::NewEvent;
use gesta::{App, Command, HandlerError, Store, StoreOptions, Tx};

mod common;

#[derive(serde::Deserialize)]
struct Panic {}
impl Command for Panic {
    const NAME: &'static str = "Panic";
}

#[derive(serde::Deserialize)]
struct Sleep {
    millis: u64,
}
impl Command for Sleep {
    const NAME: &'static str = "Sleep";
}

#[derive(serde::Deserialize)]
struct Spin {}
impl Command for Spin {
    const NAME: &'static str = "Spin";
}

#[derive(serde::Deserialize)]
struct Note {}
impl Command for Note {
    const NAME: &'static str = "Note";
}

fn panic(_tx: &mut Tx<'_>, _cmd: Panic) -> Result<Vec<NewEvent>, HandlerError> {
    panic!("handler bug");
}

fn sleep(_tx: &mut Tx<'_>, cmd: Sleep) -> Result<Vec<NewEvent>, HandlerError> {
    std::thread::sleep(Duration::from_millis(cmd.millis));
    Ok(vec![NewEvent::new(
        "sleep-1",
        "Slept",
        &serde_json::json!({}),
    )?])
}

/// Runs SQL for ever (a recursive CTE); only the deadline stops it.
fn spin(tx: &mut Tx<'_>, _cmd: Spin) -> Result<Vec<NewEvent>, HandlerError> {
    tx.query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT MAX(i) FROM n",
        &gesta::sql::Params::new(),
    )?;
    Ok(Vec::new())
}

fn note(_tx: &mut Tx<'_>, _cmd: Note) -> Result<Vec<NewEvent>, HandlerError> {
    Ok(vec![NewEvent::new(
        "note-1",
        "Noted",
        &serde_json::json!({}),
    )?])
}

fn app() -> App {
    App::new("faulty")
        .command(panic)
        .command(sleep)
        .command(spin)
        .command(note)
}

async fn serve(options: StoreOptions) -> (String, Store) {
    let store = Store::builder(app()).options(options).open().await.unwrap();
    (common::serve(store.clone()).await, store)
}

async fn post(client: &reqwest::Client, base: &str, name: &str, body: &str) -> reqwest::Response {
    client
        .post(format!("{base}/commands/{name}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn problem(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_problem_and_the_store_goes_on() {
    let (base, store) = serve(StoreOptions::default()).await;
    let client = reqwest::Client::new();
    let response = post(&client, &base, "Panic", "{}").await;
    assert_eq!(response.status(), 500);
    let body = problem(response).await;
    assert!(
        body["detail"].as_str().unwrap().contains("handler bug"),
        "{body}"
    );
    assert_eq!(store.last_position().0, 0);

    let response = post(&client, &base, "Note", "{}").await;
    assert_eq!(response.status(), 200);
    assert_eq!(store.last_position().0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after() {
    let options = StoreOptions::default()
        .queue(1, Duration::from_millis(20))
        .max_batch(1);
    let (base, _store) = serve(options).await;
    let client = reqwest::Client::new();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move { post(&client, &base, "Sleep", r#"{"millis":150}"#).await })
        })
        .collect();
    let mut overloaded = 0;
    let mut committed = 0;
    for call in calls {
        let response = call.await.unwrap();
        match response.status().as_u16() {
            200 => committed += 1,
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                let body = problem(response).await;
                assert_eq!(body["type"], "/problems/overloaded");
                overloaded += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(overloaded > 0, "no caller was told to back off");
    assert!(committed > 0, "nothing committed");
}

#[tokio::test]
async fn sql_past_the_deadline_is_interrupted_with_503_and_nothing_written() {
    let options = StoreOptions::default().command_deadline(Duration::from_millis(200));
    let (base, store) = serve(options).await;
    let client = reqwest::Client::new();
    let response = post(&client, &base, "Spin", "{}").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body = problem(response).await;
    assert_eq!(body["type"], "/problems/deadline-exceeded");
    assert_eq!(store.last_position().0, 0);

    let response = post(&client, &base, "Note", "{}").await;
    assert_eq!(
        response.status(),
        200,
        "the writer must keep serving after a deadline"
    );
}
