//! `gesta keys add|list|revoke` on every backend, and a key it printed used against a
//! server started with authentication, by curl-like calls and by `gesta`'s own verbs
//! that talk to a server (`--token`).

mod common;

use std::sync::Arc;

use gesta_testkit::Engine;
use tokio::sync::oneshot;

use crate::common::{gesta, on, stdout};

async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        gesta(&args)
    })
    .await
    .unwrap()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_added_listed_used_and_revoked() {
    for engine in Engine::ALL {
        on(engine, async |url| {
            let url = url.to_owned();
            let added = run(strings(&[
                "keys",
                "add",
                "--db",
                &url,
                "--name",
                "ops",
                "--roles",
                "admin,teller",
            ]))
            .await;
            let token = stdout(&added).trim().to_owned();
            assert!(token.starts_with("gesta_"), "{token}");
            let customer = run(strings(&[
                "keys",
                "add",
                "--db",
                &url,
                "--name",
                "ann",
                "--roles",
                "customer",
                "--subject",
                "c1",
            ]))
            .await;
            let customer_token = stdout(&customer).trim().to_owned();
            let again = run(strings(&["keys", "add", "--db", &url, "--name", "ops"])).await;
            assert!(!again.status.success(), "a second live key of one name");
            assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

            let list = stdout(&run(strings(&["keys", "list", "--db", &url])).await);
            assert!(
                list.contains("ops") && list.contains("admin,teller") && list.contains("c1"),
                "{list}"
            );
            let secret = token.rsplit('_').next().unwrap();
            assert!(!list.contains(secret), "the secret is never shown again");
            let json: serde_json::Value = serde_json::from_str(&stdout(
                &run(strings(&["keys", "list", "--db", &url, "--json"])).await,
            ))
            .unwrap();
            assert_eq!(json["keys"].as_array().unwrap().len(), 2);
            assert!(!json.to_string().contains(secret));

            // The key works against a server with --auth on the same store.
            let store = gesta::Store::open(&url, gesta_bank::app()).await.unwrap();
            let policy =
                gesta_auth::Policy::from_toml(include_str!("../../../examples/bank/policy.toml"))
                    .unwrap();
            let security = Arc::new(gesta_auth::Security::new(policy).keys(store.clone()));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let (_stop, stopped) = oneshot::channel::<()>();
            let router = gesta_bank::routes::secured_api(store.clone(), security);
            tokio::spawn(gesta_http::serve(listener, router, async {
                let _ = stopped.await;
            }));
            let client = reqwest::Client::new();
            let open = serde_json::json!({"account_id": "c1", "owner": "Ann"});
            let opened = client
                .post(format!("{base}/commands/OpenAccount"))
                .bearer_auth(&token)
                .json(&open)
                .send()
                .await
                .unwrap();
            assert_eq!(opened.status(), 200);
            let body: serde_json::Value = opened.json().await.unwrap();
            assert_eq!(body["events"][0]["principal"], "ops");
            let refused = client
                .post(format!("{base}/commands/OpenAccount"))
                .bearer_auth(&customer_token)
                .json(&open)
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), 403);

            // gesta's server verbs send the token; without it the server refuses.
            let listed = run(strings(&[
                "snapshots",
                "list",
                "--server",
                &base,
                "--token",
                &token,
            ]))
            .await;
            stdout(&listed);
            let anonymous = run(strings(&["snapshots", "list", "--server", &base])).await;
            assert!(!anonymous.status.success());
            assert!(String::from_utf8_lossy(&anonymous.stderr).contains("401"));
            let not_admin = run(strings(&[
                "snapshots",
                "list",
                "--server",
                &base,
                "--token",
                &customer_token,
            ]))
            .await;
            assert!(String::from_utf8_lossy(&not_admin.stderr).contains("403"));

            let revoked = run(strings(&["keys", "revoke", "--db", &url, "--name", "ops"])).await;
            stdout(&revoked);
            tokio::time::sleep(gesta_auth::keys::REFRESH + std::time::Duration::from_millis(100))
                .await;
            let after = client
                .get(format!("{base}/events"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                after.status(),
                401,
                "revoked on another process, refused within a second"
            );
            let twice = run(strings(&["keys", "revoke", "--db", &url, "--name", "ops"])).await;
            assert!(!twice.status.success());
            let list = stdout(&run(strings(&["keys", "list", "--db", &url])).await);
            assert!(
                list.lines()
                    .any(|l| l.starts_with("ops") && !l.trim_end().ends_with('-')),
                "{list}"
            );
        })
        .await;
    }
}
