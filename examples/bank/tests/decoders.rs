//! Property-based fuzzing of the HTTP input decoders, in process (the bank's router
//! called as a service, thousands of requests a second): command bodies, appended
//! events (the CloudEvents the log returns for them), query parameters and path
//! segments, with and without authentication. Every answer is below 500, a refusal is
//! an RFC 9457 problem with the same status, and a refused request writes nothing; an
//! accepted append reads back as CloudEvents with its data unchanged.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Cases per decoder.
const CASES: u32 = 600;

struct Target {
    runtime: tokio::runtime::Runtime,
    store: gesta::Store,
    router: axum::Router,
    token: Option<String>,
}

impl Target {
    fn new(secured: bool) -> Target {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (store, router, token) = runtime.block_on(async {
            let store = gesta::Store::open("sqlite::memory:", gesta_bank::app())
                .await
                .unwrap();
            for id in ["a", "b"] {
                store
                    .dispatch(gesta_bank::commands::OpenAccount {
                        account_id: id.into(),
                        owner: "X".into(),
                    })
                    .await
                    .unwrap();
            }
            if !secured {
                return (store.clone(), gesta_bank::routes::api(store), None);
            }
            let key = gesta_auth::keys::generate("fuzz", vec!["admin".into()], None).unwrap();
            store.add_api_key(key.record).await.unwrap();
            let security = Arc::new(
                gesta_auth::Security::new(gesta_auth::Policy::builtin()).keys(store.clone()),
            );
            (
                store.clone(),
                gesta_bank::routes::secured_api(store, security),
                Some(key.token),
            )
        });
        Target {
            runtime,
            store,
            router,
            token,
        }
    }

    /// Sends a request; (status, body as JSON or Null), after checking the rules above.
    fn send(
        &self,
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(u16, Value), TestCaseError> {
        let Ok(mut request) = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
        else {
            return Ok((0, Value::Null)); // not even a request: nothing to send
        };
        if let Some(content_type) = content_type {
            request
                .headers_mut()
                .insert("content-type", content_type.parse().unwrap());
        }
        if let Some(token) = &self.token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        self.runtime.block_on(async {
            let before = self.store.head().await.unwrap();
            let response = self.router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let problem = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            prop_assert!(
                status < StatusCode::INTERNAL_SERVER_ERROR,
                "{method} {uri}: {status} {body}"
            );
            if status.is_client_error() {
                prop_assert!(problem, "{method} {uri}: {status} without a problem body");
                prop_assert_eq!(&body["status"], &json!(status.as_u16()));
                let after = self.store.head().await.unwrap();
                prop_assert_eq!(before, after, "{} {} was refused but wrote", method, uri);
            }
            Ok((status.as_u16(), body))
        })
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop_oneof!["a", "b", "account_id", "amount", "from", "to", "owner"].prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    "account_id",
                    "amount",
                    "from",
                    "to",
                    "owner",
                    "type",
                    "data",
                    "id",
                    "metadata",
                    "events",
                    "expected_version",
                    "\\PC{0,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = (Option<&'static str>, Vec<u8>)> {
    let content_type = prop_oneof![
        Just(Some("application/json")),
        Just(Some("application/json; charset=utf-8")),
        Just(Some("text/plain")),
        Just(None),
    ];
    let bytes = prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        "\\PC{0,40}".prop_map(String::into_bytes),
    ];
    (content_type, bytes)
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof!["a", "b", "account-a", "\\PC{0,12}", "[%0-9A-Fa-f./-]{0,12}"]
}

fn query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        "after",
        "limit",
        "type",
        "stream",
        "category",
        "from_version",
        "as_of",
        "from",
        "to",
        "table",
        "x",
        "\\PC{0,4}"
    ];
    let value = prop_oneof![
        "0",
        "1",
        "-1",
        "99999999999999999999",
        "now",
        "2026-12-07T10:00:00Z",
        "a",
        "account-a",
        "",
        "\\PC{0,8}"
    ];
    prop::collection::vec((name, value), 0..4).prop_map(|pairs| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            query.append_pair(&k, &v);
        }
        query.finish()
    })
}

fn run<S: Strategy>(
    name: &str,
    strategy: S,
    case: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u32 {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let count = std::cell::Cell::new(0);
    runner
        .run(&strategy, |value| {
            count.set(count.get() + 1);
            case(value)
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    count.get()
}

fn fuzz(secured: bool) {
    let target = Target::new(secured);
    let label = if secured { "authenticated" } else { "open" };
    let commands = ["OpenAccount", "Deposit", "Withdraw", "Transfer", "Nope"];
    let mut counts = Vec::new();
    counts.push((
        "command bodies",
        run(
            "command bodies",
            (0..commands.len(), body()),
            |(i, (ct, bytes))| {
                target.send("POST", &format!("/commands/{}", commands[i]), ct, bytes)?;
                Ok(())
            },
        ),
    ));
    let append = (
        segment(),
        prop::collection::vec(
            (
                prop_oneof!["Noted", "", "\\PC{0,8}"],
                json_value(),
                json_value(),
                any::<bool>(),
            ),
            0..3,
        ),
    );
    counts.push((
        "appended events",
        run("appended events", append, |(stream, events)| {
            let events: Vec<Value> = events
                .into_iter()
                .map(|(kind, data, metadata, with_meta)| {
                    let mut event = json!({"type": kind, "data": data});
                    if with_meta {
                        event["metadata"] = metadata;
                    }
                    event
                })
                .collect();
            let body = json!({"events": events});
            let uri = format!("/streams/{}", urlencode(&stream));
            let (status, answer) = target.send(
                "POST",
                &uri,
                Some("application/json"),
                body.to_string().into_bytes(),
            )?;
            if status == 200 {
                // What was appended reads back as CloudEvents with the same data.
                for (sent, back) in events.iter().zip(answer["events"].as_array().unwrap()) {
                    prop_assert_eq!(&sent["data"], &back["data"]);
                    prop_assert_eq!(&back["specversion"], &json!("1.0"));
                }
                let position = answer["position"].as_u64().unwrap();
                let (_, page) = target.send(
                    "GET",
                    &format!("/events?after={}&limit=10", position - events.len() as u64),
                    None,
                    Vec::new(),
                )?;
                let read: Vec<&Value> = page["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| &e["data"])
                    .collect();
                let sent: Vec<&Value> = events.iter().map(|e| &e["data"]).collect();
                prop_assert_eq!(read, sent);
            }
            Ok(())
        }),
    ));
    let paths = [
        "/events",
        "/streams/account-a",
        "/admin/diff",
        "/admin/snapshots",
        "/accounts/a",
        "/admin/read-models",
        "/admin/reactors",
        "/healthz",
    ];
    counts.push((
        "query strings",
        run("query strings", (0..paths.len(), query()), |(i, query)| {
            target.send("GET", &format!("{}?{query}", paths[i]), None, Vec::new())?;
            Ok(())
        }),
    ));
    counts.push((
        "path segments",
        run("path segments", (segment(), segment()), |(a, b)| {
            let (a, b) = (urlencode(&a), urlencode(&b));
            for uri in [
                format!("/streams/{a}"),
                format!("/accounts/{a}"),
                format!("/admin/read-models/{a}"),
                format!("/admin/reactors/{a}/parked/{b}"),
            ] {
                target.send("GET", &uri, None, Vec::new())?;
            }
            Ok(())
        }),
    ));
    let total: u32 = counts.iter().map(|(_, n)| n).sum();
    let detail: Vec<String> = counts
        .iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "decoder fuzzing ({label}): {total} cases ({}), no 5xx, no panic, nothing written by a refusal",
        detail.join(", ")
    );
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[test]
fn decoders_refuse_bad_input_cleanly() {
    fuzz(false);
}

#[test]
fn decoders_refuse_bad_input_cleanly_with_authentication() {
    fuzz(true);
}
