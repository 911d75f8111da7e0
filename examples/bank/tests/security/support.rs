//! A secured bank server and its callers.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use gesta_auth::{JwtConfig, Policy, Security};
use gesta_testkit::{Database, Engine};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The HS256 secret of the test servers.
pub const JWT_SECRET: &[u8] = b"a test secret that is 32 bytes or longer";

/// The backends these tests run on: SQLite always, the servers when configured.
pub fn engines() -> Vec<Engine> {
    Engine::ALL.to_vec()
}

/// A secured bank and the tokens of its callers.
pub struct Bank {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The store behind it.
    pub store: gesta::Store,
    /// The client.
    pub client: reqwest::Client,
    /// The security the server applies (for the NATS intake of the same store).
    pub security: Arc<Security>,
    /// Tokens by caller name (`teller`, `customer`, `auditor`, `admin`, `nobody`,
    /// `jwt-teller`, `expired`, ...).
    pub tokens: Vec<(&'static str, Option<String>)>,
    _stop: oneshot::Sender<()>,
    /// The database, for a second store (another process's) on it.
    pub db: Database,
}

impl Bank {
    /// A bank on a fresh database of `engine` with accounts `c1` (the customer's) and
    /// `t2`, 1000 cents each; `None` if the engine is not configured.
    pub async fn start(engine: Engine) -> Option<Bank> {
        let db = engine.fresh()?;
        let store = gesta::Store::open(db.url(), gesta_bank::app())
            .await
            .unwrap();
        let policy = Policy::from_toml(include_str!("../../policy.toml")).unwrap();
        let jwt = JwtConfig::new().hs256_secret(JWT_SECRET).unwrap();
        let security = Arc::new(Security::new(policy).keys(store.clone()).jwt(jwt));
        let mut tokens = vec![("none", None)];
        for (name, roles, subject) in [
            ("teller", "teller", None),
            ("customer", "customer", Some("c1")),
            ("auditor", "auditor", None),
            ("admin", "admin", None),
            ("nobody", "visitor", None),
        ] {
            let roles = roles.split(',').map(str::to_owned).collect();
            let key = gesta_auth::keys::generate(name, roles, subject.map(str::to_owned)).unwrap();
            store.add_api_key(key.record).await.unwrap();
            tokens.push((name, Some(key.token)));
        }
        tokens.push(("jwt-teller", Some(jwt_token("jt", &["teller"], 3600))));
        tokens.push(("expired", Some(jwt_token("jt", &["admin"], -3600))));
        tokens.push(("garbage", Some("not-a-token".into())));
        tokens.push((
            "unknown-key",
            Some(format!("gesta_{}_{}", "0".repeat(16), "0".repeat(64))),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let router = gesta_bank::routes::secured_api(store.clone(), Arc::clone(&security));
        tokio::spawn(gesta_http::serve(listener, router, async {
            let _ = stopped.await;
        }));
        let bank = Bank {
            base: format!("http://{addr}"),
            store,
            security,
            client: reqwest::Client::new(),
            tokens,
            _stop: stop,
            db,
        };
        for id in ["c1", "t2"] {
            let open = json!({"account_id": id, "owner": "Ada"});
            assert_eq!(
                bank.call("teller", "POST", "/commands/OpenAccount", Some(&open))
                    .await
                    .0,
                200
            );
            let deposit = json!({"account_id": id, "amount": 1000});
            assert_eq!(
                bank.call("teller", "POST", "/commands/Deposit", Some(&deposit))
                    .await
                    .0,
                200
            );
        }
        Some(bank)
    }

    /// The token of caller `who`.
    pub fn token(&self, who: &str) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(name, _)| *name == who)
            .unwrap_or_else(|| panic!("no caller {who}"))
            .1
            .as_deref()
    }

    /// `method path` as `who`, with a JSON body if given: status, headers, body.
    pub async fn call(
        &self,
        who: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = self.token(who) {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let streaming = headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if streaming {
            return (status, headers, Value::Null);
        }
        let text = response.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Bank {
    /// A GraphQL request as `who`: the HTTP status and the response body.
    pub async fn graphql(&self, who: &str, query: &str, variables: Value) -> (u16, Value) {
        let body = json!({"query": query, "variables": variables});
        let (status, _, body) = self.call(who, "POST", "/graphql", Some(&body)).await;
        (status, body)
    }

    /// The head of the log.
    pub async fn head(&self) -> u64 {
        self.store.head().await.unwrap().0
    }
}

/// An HS256 JWT for `sub` with `roles`, expiring `ttl` seconds from now (negative:
/// in the past).
pub fn jwt_token(sub: &str, roles: &[&str], ttl: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"sub": sub, "roles": roles, "exp": now + ttl, "iat": now});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET),
    )
    .unwrap()
}
