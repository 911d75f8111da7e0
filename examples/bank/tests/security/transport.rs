//! Transport and limits: HTTPS with HTTP/1.1 and HTTP/2, CORS, per-caller rate limits
//! and subscription caps, header-read and idle timeouts against half-open clients, and
//! the refusal to listen beyond loopback without authentication.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gesta_http::{SecurityArgs, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

struct Running {
    addr: std::net::SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn serve(router: axum::Router, options: ServeOptions) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    tokio::spawn(gesta_http::serve_with(listener, router, shutdown, options));
    Running { addr, _stop: stop }
}

async fn bank_store() -> gesta::Store {
    gesta::Store::open("sqlite::memory:", gesta_bank::app())
        .await
        .unwrap()
}

/// A test CA and a certificate it signed for localhost and 127.0.0.1, made with
/// openssl: (CA certificate, server certificate, server key).
fn certificate(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let path = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl makes the test certificates");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=gesta test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        path("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    (path("ca.pem"), path("cert.pem"), path("key.pem"))
}

#[tokio::test]
async fn https_serves_http1_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificate(dir.path());
    let args = SecurityArgs {
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..SecurityArgs::default()
    };
    assert_eq!(args.scheme(), "https");
    let server = serve(
        gesta_bank::routes::api(bank_store().await),
        args.serve_options().unwrap(),
    )
    .await;
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let url = format!(
        "https://localhost:{}/commands/OpenAccount",
        server.addr.port()
    );
    for (http2, version) in [
        (false, reqwest::Version::HTTP_11),
        (true, reqwest::Version::HTTP_2),
    ] {
        let mut client = reqwest::Client::builder()
            .add_root_certificate(root.clone())
            .resolve("localhost", server.addr);
        client = if http2 { client } else { client.http1_only() };
        let client = client.build().unwrap();
        let body = serde_json::json!({"account_id": format!("a{http2}"), "owner": "Ada"});
        let response = client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.version(), version);
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    // Plain HTTP on the TLS port gets nowhere.
    let plain = reqwest::get(format!("http://127.0.0.1:{}/healthz", server.addr.port())).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // Bad files are refused at start with the flag named.
    let bad = SecurityArgs {
        tls_cert: Some(dir.path().join("missing.pem")),
        tls_key: Some(dir.path().join("key.pem")),
        ..SecurityArgs::default()
    };
    let err = bad.serve_options().unwrap_err();
    assert!(err.to_string().contains("--tls-cert"), "{err}");
}

#[tokio::test]
async fn cors_lets_only_the_named_origins_in() {
    let store = bank_store().await;
    let args = SecurityArgs {
        cors_origins: vec!["https://app.example".into()],
        ..SecurityArgs::default()
    };
    let router = args
        .apply(gesta_bank::routes::builder(store.clone()), &store)
        .unwrap()
        .into_router();
    let server = serve(router, ServeOptions::default()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/commands/Deposit", server.addr);
    for (origin, allowed) in [
        ("https://app.example", true),
        ("https://evil.example", false),
    ] {
        let preflight = client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,idempotency-key",
            )
            .send()
            .await
            .unwrap();
        let allow = preflight.headers().get("access-control-allow-origin");
        assert_eq!(
            allow.is_some(),
            allowed,
            "{origin}: {:?}",
            preflight.headers()
        );
        if allowed {
            let headers = preflight.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                headers.contains("authorization") && headers.contains("idempotency-key"),
                "{headers}"
            );
        }
    }
}

#[tokio::test]
async fn rate_limits_count_per_principal_and_spare_healthz() {
    let store = bank_store().await;
    let policy = gesta_auth::Policy::builtin();
    let security = Arc::new(gesta_auth::Security::new(policy).keys(store.clone()));
    let mut tokens = Vec::new();
    for name in ["busy", "calm"] {
        let key = gesta_auth::keys::generate(name, vec![], None).unwrap();
        store.add_api_key(key.record).await.unwrap();
        tokens.push(key.token);
    }
    let router = gesta_bank::routes::builder(store.clone())
        .security(security)
        .rate_limit(std::num::NonZeroU32::new(5).unwrap())
        .into_router();
    let server = serve(router, ServeOptions::default()).await;
    let client = reqwest::Client::new();
    let get = |path: &str, token: &str| {
        client
            .get(format!("http://{}{path}", server.addr))
            .bearer_auth(token.to_owned())
            .send()
    };
    let mut refused = 0;
    for _ in 0..12 {
        let response = get("/events", &tokens[0]).await.unwrap();
        if response.status() == 429 {
            let retry: u32 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["status"], 429);
            refused += 1;
        }
    }
    assert!(
        refused >= 5,
        "12 requests against a burst of 5: {refused} refused"
    );
    let limited = {
        let mut limited = 0;
        for _ in 0..5 {
            if get("/events", &tokens[0]).await.unwrap().status() == 429 {
                limited += 1;
            }
        }
        limited
    };
    assert!(
        limited >= 4,
        "the busy caller is limited ({limited} of 5 refused)"
    );
    assert_eq!(
        get("/events", &tokens[1]).await.unwrap().status(),
        200,
        "another principal is not"
    );
    for _ in 0..20 {
        assert_eq!(get("/healthz", &tokens[0]).await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn subscriptions_are_capped_per_caller() {
    let store = bank_store().await;
    let router = gesta_bank::routes::builder(store.clone())
        .subscriber_limit(2)
        .keep_alive(Duration::from_millis(50))
        .into_router();
    let server = serve(router, ServeOptions::default()).await;
    let url = format!("http://{}/subscribe", server.addr);
    let first = reqwest::get(&url).await.unwrap();
    let second = reqwest::get(&url).await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = reqwest::get(&url).await.unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    drop(first);
    // The server notices at its next keep-alive that the stream is gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = reqwest::get(&url).await.unwrap();
        if again.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn half_open_and_idle_connections_are_closed() {
    let store = bank_store().await;
    let options = ServeOptions::default()
        .header_read_timeout(Duration::from_millis(500))
        .idle_timeout(Duration::from_secs(1));
    let server = serve(gesta_bank::routes::api(store), options).await;
    // Hundreds of clients: some send nothing, some half a request, some a byte of
    // their headers every 100 ms (never finishing them).
    let mut sockets = Vec::new();
    for i in 0..300 {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        if i % 3 == 1 {
            socket
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        sockets.push(socket);
    }
    let started = Instant::now();
    let mut tricklers = Vec::new();
    for (i, mut socket) in sockets.into_iter().enumerate() {
        tricklers.push(tokio::spawn(async move {
            let mut buf = [0_u8; 512];
            let request =
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            let mut next = 0;
            loop {
                if i % 3 == 2 && next < request.len() {
                    if socket.write_all(&request[next..=next]).await.is_err() {
                        return;
                    }
                    next += 1;
                }
                match tokio::time::timeout(Duration::from_millis(100), socket.read(&mut buf)).await
                {
                    Ok(Ok(0) | Err(_)) => return,
                    Ok(Ok(_)) | Err(_) => continue,
                }
            }
        }));
    }
    // Real clients are served meanwhile.
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let response = client
            .get(format!("http://{}/healthz", server.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let served = started.elapsed();
    for trickler in tricklers {
        tokio::time::timeout(Duration::from_secs(5), trickler)
            .await
            .expect("a half-open or trickling connection stayed open")
            .unwrap();
    }
    report!(
        "300 half-open and trickling connections closed within {:?}; 20 real requests served in {served:?} meanwhile",
        started.elapsed()
    );
    // A kept-alive connection that goes quiet is closed after the idle timeout.
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0_u8; 4096];
    let n = socket.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let quiet = Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await;
    assert!(matches!(end, Ok(Ok(0)) | Ok(Err(_))), "{end:?}");
    assert!(
        quiet.elapsed() >= Duration::from_millis(400),
        "closed too early: {:?}",
        quiet.elapsed()
    );
    // The server still serves.
    let health = reqwest::get(format!("http://{}/healthz", server.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[test]
fn the_bank_refuses_to_listen_beyond_loopback_without_auth() {
    let output = Command::new(env!("CARGO_BIN_EXE_gesta-bank"))
        .args(["--db", "sqlite::memory:", "--listen", "0.0.0.0:0"])
        .env_remove("GESTA_AUTH")
        .env_remove("GESTA_INSECURE_NO_AUTH")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("without authentication") && stderr.contains("--auth"),
        "{stderr}"
    );
}

/// A client that sends its body after its headers (Python's `http.client` does) gets
/// the refusal, not a reset connection: refused requests' bodies are read first.
#[tokio::test]
async fn refusals_wait_for_a_body_sent_after_the_headers() {
    let store = bank_store().await;
    let security =
        Arc::new(gesta_auth::Security::new(gesta_auth::Policy::builtin()).keys(store.clone()));
    let open = serve(
        gesta_bank::routes::api(store.clone()),
        ServeOptions::default(),
    )
    .await;
    let secured = serve(
        gesta_bank::routes::secured_api(store, security),
        ServeOptions::default(),
    )
    .await;
    let body = br#"{"from":"a","to":"b","amount":1}"#;
    for (addr, method, wanted) in [
        (open.addr, "PUT", "HTTP/1.1 405"),
        (secured.addr, "POST", "HTTP/1.1 401"),
        (open.addr, "POST /nowhere", "HTTP/1.1 404"),
    ] {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let line = if method.contains(' ') {
            method.to_owned()
        } else {
            format!("{method} /commands/Transfer")
        };
        let head = format!(
            "{line} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        socket.write_all(body).await.unwrap();
        let mut answer = vec![0_u8; 4096];
        let n = socket.read(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with(wanted), "{line}: {answer}");
        // The connection is still good for the next request.
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut next = vec![0_u8; 4096];
        let n = socket.read(&mut next).await.unwrap();
        assert!(
            next[..n].starts_with(b"HTTP/1.1 200"),
            "{line}: then {}",
            String::from_utf8_lossy(&next[..n])
        );
    }
}
