//! Bad input to `POST /commands/{name}`: a 4xx problem naming the field at fault, and
//! nothing written.

use gesta_http::DEFAULT_BODY_LIMIT;

use crate::support::{Server, problem};

/// One bad request and the answer it must get.
struct Case {
    what: &'static str,
    command: &'static str,
    content_type: Option<&'static str>,
    body: String,
    status: u16,
    field: Option<&'static str>,
}

impl Case {
    fn status(self, status: u16) -> Case {
        Case { status, ..self }
    }

    fn content_type(self, content_type: Option<&'static str>) -> Case {
        Case {
            content_type,
            ..self
        }
    }
}

/// A 400 for `body` sent as JSON to `command`, naming `field` if given.
fn case(
    what: &'static str,
    command: &'static str,
    body: &str,
    field: Option<&'static str>,
) -> Case {
    Case {
        what,
        command,
        content_type: Some("application/json"),
        body: body.to_owned(),
        status: 400,
        field,
    }
}

#[rustfmt::skip]
fn json_cases() -> Vec<Case> {
    vec![
        case("malformed JSON", "Deposit", r#"{"account_id": "a","#, None),
        case("not JSON at all", "Deposit", "amount=5", None),
        case("trailing garbage", "Deposit", r#"{"account_id": "a", "amount": 5} x"#, None),
        case("a string amount", "Deposit", r#"{"account_id": "a", "amount": "ten"}"#, Some("amount")),
        case("a fractional amount", "Deposit", r#"{"account_id": "a", "amount": 1.5}"#, Some("amount")),
        case("a numeric account id", "Deposit", r#"{"account_id": 7, "amount": 5}"#, Some("account_id")),
        case("a missing amount", "Deposit", r#"{"account_id": "a"}"#, Some("amount")),
        case("a missing owner", "OpenAccount", r#"{"account_id": "b"}"#, Some("owner")),
        case("an unknown field", "Deposit", r#"{"account_id": "a", "amount": 5, "memo": "x"}"#, Some("memo")),
        case("a JSON array", "Deposit", r#"[{"account_id": "a", "amount": 5}]"#, None),
        case("JSON null", "Deposit", "null", None),
        case("an empty body", "Deposit", "", None),
    ]
}

#[rustfmt::skip]
fn rule_cases() -> Vec<Case> {
    vec![
        case("a zero deposit", "Deposit", r#"{"account_id": "a", "amount": 0}"#, Some("amount")),
        case("a negative deposit", "Deposit", r#"{"account_id": "a", "amount": -5}"#, Some("amount")),
        case("a zero withdrawal", "Withdraw", r#"{"account_id": "a", "amount": 0}"#, Some("amount")),
        case("a negative withdrawal", "Withdraw", r#"{"account_id": "a", "amount": -1}"#, Some("amount")),
        case("a zero transfer", "Transfer", r#"{"from": "a", "to": "b", "amount": 0}"#, Some("amount")),
        case("a negative transfer", "Transfer", r#"{"from": "a", "to": "b", "amount": -3}"#, Some("amount")),
        case("a transfer to self", "Transfer", r#"{"from": "a", "to": "a", "amount": 5}"#, Some("to")),
        case("an empty account id", "OpenAccount", r#"{"account_id": "", "owner": "Ada"}"#, Some("account_id")),
        case("an empty deposit account", "Deposit", r#"{"account_id": "", "amount": 5}"#, Some("account_id")),
        case("an empty withdrawal account", "Withdraw", r#"{"account_id": "", "amount": 5}"#, Some("account_id")),
        case("an empty transfer source", "Transfer", r#"{"from": "", "to": "a", "amount": 5}"#, Some("from")),
        case("an empty owner", "OpenAccount", r#"{"account_id": "c", "owner": " "}"#, Some("owner")),
    ]
}

#[rustfmt::skip]
fn envelope_cases() -> Vec<Case> {
    let valid = r#"{"account_id": "a", "amount": 5}"#;
    let big = format!(r#"{{"account_id": "big", "owner": "{}"}}"#, "x".repeat(DEFAULT_BODY_LIMIT));
    vec![
        case("an unknown command", "Steal", valid, None).status(404),
        case("a command name in the wrong case", "deposit", valid, None).status(404),
        case("a body over 1 MiB", "OpenAccount", &big, None).status(413),
        case("text/plain", "Deposit", valid, None).status(415).content_type(Some("text/plain")),
        case("a form", "Deposit", valid, None).status(415).content_type(Some("application/x-www-form-urlencoded")),
        case("no content type", "Deposit", valid, None).status(415).content_type(None),
    ]
}

async fn check(server: &Server, case: Case) {
    let path = format!("/commands/{}", case.command);
    let response = server.post_raw(&path, case.content_type, case.body).await;
    let body = problem(response, case.status).await;
    if let Some(field) = case.field {
        assert_eq!(body["field"], field, "{}: {body}", case.what);
    }
}

#[tokio::test]
async fn bad_input_is_a_problem_naming_the_field_and_writes_nothing() {
    let server = Server::start().await;
    server.open_account("a", 100).await;
    server.open_account("b", 0).await;
    let before = server.snapshot().await;
    let cases = json_cases()
        .into_iter()
        .chain(rule_cases())
        .chain(envelope_cases());
    for case in cases {
        let what = case.what;
        check(&server, case).await;
        assert_eq!(server.snapshot().await, before, "{what} wrote something");
    }
    assert_eq!(server.balance("a").await, 100);
    assert_eq!(server.balance("b").await, 0);
}

#[tokio::test]
async fn a_body_just_under_the_limit_is_accepted() {
    let server = Server::start().await;
    let owner = "x".repeat(150);
    let filler = " ".repeat(DEFAULT_BODY_LIMIT - 200);
    let body = format!(r#"{{"account_id": "big",{filler}"owner": "{owner}"}}"#);
    assert!(body.len() < DEFAULT_BODY_LIMIT);
    let response = server
        .post_raw("/commands/OpenAccount", Some("application/json"), body)
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn json_with_a_charset_or_a_json_suffix_type_is_accepted() {
    let server = Server::start().await;
    for (id, content_type) in [
        ("a", "application/json; charset=utf-8"),
        ("b", "application/vnd.bank+json"),
    ] {
        let body = format!(r#"{{"account_id": "{id}", "owner": "Ada"}}"#);
        let response = server
            .post_raw("/commands/OpenAccount", Some(content_type), body)
            .await;
        assert_eq!(
            response.status(),
            200,
            "{content_type}: {}",
            response.text().await.unwrap()
        );
    }
}
