//! The authorization matrix: every route × every kind of caller → the status the
//! policy (`examples/bank/policy.toml`) and the bank's own rule give, from one table;
//! a refused request writes nothing.

use serde_json::{Value, json};

use crate::support::{Bank, engines};

/// Callers that hold no valid credential: 401 on every route but the public ones.
const UNAUTHENTICATED: &[&str] = &["none", "garbage", "unknown-key", "expired"];
/// Callers with a valid credential.
const CALLERS: &[&str] = &[
    "teller",
    "customer",
    "auditor",
    "admin",
    "nobody",
    "jwt-teller",
];

struct Row {
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    /// Which callers get `ok`; every other authenticated caller gets `refused`.
    allowed: &'static [&'static str],
    ok: u16,
    refused: u16,
    public: bool,
}

fn row(method: &'static str, path: &'static str, allowed: &'static [&'static str]) -> Row {
    Row {
        method,
        path,
        body: None,
        allowed,
        ok: 200,
        refused: 403,
        public: false,
    }
}

const ALL: &[&str] = CALLERS;
const MONEY: &[&str] = &["teller", "admin", "jwt-teller"];
const OWN: &[&str] = &["teller", "customer", "auditor", "admin", "jwt-teller"];
const OTHERS: &[&str] = &["teller", "auditor", "admin", "jwt-teller"];
const ADMIN: &[&str] = &["admin"];

fn table() -> Vec<Row> {
    let with = |mut row: Row, body: Value| {
        row.body = Some(body);
        row
    };
    vec![
        Row {
            public: true,
            ..row("GET", "/healthz", ALL)
        },
        Row {
            public: true,
            ..row("GET", "/openapi.json", ALL)
        },
        // The console's page and assets hold no data: public; it asks for a key itself.
        Row {
            public: true,
            ..row("GET", "/console/read-models/accounts", ALL)
        },
        Row {
            public: true,
            ..row("GET", "/console/assets/console.js", ALL)
        },
        with(
            row("POST", "/commands/Deposit", MONEY),
            json!({"account_id": "c1", "amount": 1}),
        ),
        with(
            row(
                "POST",
                "/commands/Withdraw",
                &["teller", "customer", "admin", "jwt-teller"],
            ),
            json!({"account_id": "c1", "amount": 1}),
        ),
        // The bank's own rule: a customer moves money only out of its own account.
        with(
            row("POST", "/commands/Withdraw", MONEY),
            json!({"account_id": "t2", "amount": 1}),
        ),
        with(
            row("POST", "/commands/Transfer", MONEY),
            json!({"from": "t2", "to": "c1", "amount": 1}),
        ),
        with(
            row(
                "POST",
                "/commands/Transfer",
                &["teller", "customer", "admin", "jwt-teller"],
            ),
            json!({"from": "c1", "to": "t2", "amount": 1}),
        ),
        with(
            row("POST", "/commands/OpenAccount", MONEY),
            json!({"account_id": "", "owner": "x"}),
        )
        .expect(400),
        Row {
            ok: 404,
            ..with(row("POST", "/commands/NoSuch", ADMIN), json!({}))
        },
        row("GET", "/events", ALL),
        row("GET", "/events?stream=account-t2", ALL),
        row("GET", "/streams/account-c1", OWN),
        row("GET", "/streams/account-t2", OTHERS),
        row("GET", "/accounts/c1", OWN),
        row("GET", "/accounts/t2", OTHERS),
        row("GET", "/subscribe?after=now", ALL),
        with(
            row("POST", "/streams/note-1", ADMIN),
            json!({"events": [{"type": "Noted", "data": {}}]}),
        ),
        row("GET", "/admin/reactors", ADMIN),
        row("GET", "/admin/read-models", ADMIN),
        row("GET", "/admin/snapshots", ADMIN),
        row("GET", "/admin/diff?from=1&to=2", ADMIN),
        row("GET", "/admin/status", ADMIN),
        Row {
            ok: 404,
            ..row(
                "GET",
                "/admin/commands/0190b8f0-0000-7000-8000-000000000000",
                ADMIN,
            )
        },
        with(
            row("POST", "/admin/query", ADMIN),
            json!({"sql": "SELECT 1 AS one"}),
        ),
        row("GET", "/metrics", ADMIN),
        Row {
            ok: 404,
            refused: 404,
            ..row("GET", "/no-such-route", ALL)
        },
        Row {
            ok: 404,
            refused: 404,
            ..row("GET", "//admin/reactors", ALL)
        },
    ]
}

impl Row {
    /// The allowed callers get `status` (the command is refused by its own checks).
    fn expect(mut self, status: u16) -> Row {
        self.ok = status;
        self
    }

    fn wanted(&self, caller: &str) -> u16 {
        if self.public {
            200
        } else if UNAUTHENTICATED.contains(&caller) {
            401
        } else if self.allowed.contains(&caller) {
            self.ok
        } else {
            self.refused
        }
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_policy_says() {
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let mut failures = Vec::new();
        let mut checked = 0;
        for row in table() {
            for caller in UNAUTHENTICATED.iter().chain(CALLERS) {
                let before = bank.store.head().await.unwrap();
                let (status, headers, body) = bank
                    .call(caller, row.method, row.path, row.body.as_ref())
                    .await;
                checked += 1;
                let wanted = row.wanted(caller);
                if status != wanted {
                    failures.push(format!(
                        "{} {} as {caller}: {status}, wanted {wanted}: {body}",
                        row.method, row.path
                    ));
                }
                if status >= 400 {
                    let after = bank.store.head().await.unwrap();
                    assert_eq!(
                        before, after,
                        "{} {} as {caller} wrote",
                        row.method, row.path
                    );
                    assert_eq!(
                        body["status"], status,
                        "{} {} as {caller}: {body}",
                        row.method, row.path
                    );
                }
                if status == 401 {
                    let challenge = headers.get("www-authenticate").map(|v| v.to_str().unwrap());
                    assert!(
                        challenge.is_some_and(|c| c.starts_with("Bearer")),
                        "{} {} as {caller}: {challenge:?}",
                        row.method,
                        row.path
                    );
                }
            }
        }
        let (_, _, metrics) = bank.call("admin", "GET", "/metrics", None).await;
        let metrics = metrics.as_str().unwrap_or_default().to_owned();
        for reason in ["unauthenticated", "not_admin"] {
            let line = format!("gesta_http_refused_requests_total{{reason=\"{reason}\"}}");
            assert!(metrics.contains(&line), "{line} missing from /metrics");
        }
        assert!(
            failures.is_empty(),
            "{}:\n{}",
            engine.name(),
            failures.join("\n")
        );
        report!("{}: {checked} route x caller checks", engine.name());
    }
}

#[tokio::test]
async fn reads_are_filtered_to_the_callers_streams_and_changes_name_their_author() {
    for engine in engines() {
        let Some(bank) = Bank::start(engine).await else {
            continue;
        };
        let transfer = json!({"from": "c1", "to": "t2", "amount": 5});
        let (status, _, body) = bank
            .call("customer", "POST", "/commands/Transfer", Some(&transfer))
            .await;
        assert_eq!(status, 200, "{body}");
        for event in body["events"].as_array().unwrap() {
            assert_eq!(event["principal"], "customer", "{event}");
        }
        let (_, _, all) = bank
            .call("auditor", "GET", "/events?limit=1000", None)
            .await;
        let (_, _, mine) = bank
            .call("customer", "GET", "/events?limit=1000", None)
            .await;
        let subjects = |page: &Value| -> Vec<String> {
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["subject"].as_str().unwrap().to_owned())
                .collect()
        };
        let (all, mine_subjects) = (subjects(&all), subjects(&mine));
        assert!(all.iter().any(|s| s == "account-t2"), "{all:?}");
        assert!(!mine_subjects.is_empty());
        assert!(
            mine_subjects.iter().all(|s| s == "account-c1"),
            "{mine_subjects:?}"
        );
        assert_eq!(
            mine_subjects.len(),
            all.iter().filter(|s| *s == "account-c1").count(),
            "the customer sees every event of its stream"
        );
        // Paging a filtered log: positions keep increasing, nothing is missed.
        let (_, _, page) = bank.call("customer", "GET", "/events?limit=1", None).await;
        assert_eq!(page["events"].as_array().unwrap().len(), 1);
        let next = page["next_after"].as_u64().unwrap();
        let (_, _, rest) = bank
            .call(
                "customer",
                "GET",
                &format!("/events?after={next}&limit=1000"),
                None,
            )
            .await;
        assert_eq!(
            rest["events"].as_array().unwrap().len(),
            mine_subjects.len() - 1
        );
        // Asking for someone else's stream gives nothing of it.
        let (_, _, theirs) = bank
            .call("customer", "GET", "/events?stream=account-t2", None)
            .await;
        assert_eq!(theirs["events"], json!([]));
    }
}

#[tokio::test]
async fn a_revoked_key_stops_working_within_a_second() {
    let Some(bank) = Bank::start(gesta_testkit::Engine::Sqlite).await else {
        return;
    };
    assert_eq!(bank.call("teller", "GET", "/events", None).await.0, 200);
    assert!(bank.store.revoke_api_key("teller").await.unwrap());
    tokio::time::sleep(gesta_auth::keys::REFRESH + std::time::Duration::from_millis(50)).await;
    let (status, _, body) = bank.call("teller", "GET", "/events", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    assert!(
        !bank.store.revoke_api_key("teller").await.unwrap(),
        "revoked once only"
    );
    let keys = bank.store.api_keys().await.unwrap();
    assert!(
        keys.iter()
            .any(|k| k.name == "teller" && k.revoked_at.is_some())
    );
    assert!(keys.iter().all(|k| k.hash.starts_with("$argon2id$")));
}
