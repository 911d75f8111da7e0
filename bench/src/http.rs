//! (c) Bank transfers over HTTP against the real router, served on its own runtime;
//! one keep-alive HTTP/1.1 connection per client task; (d) their latency.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::backend::{Scratch, Target};
use crate::drive::{self, Caller};
use crate::report::{Compare, Report, Row};
use crate::transfer_sql::transfer_data;
use crate::{Settings, cpu};

/// The bank server on its own multi-thread runtime.
struct Server {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    /// The bearer token every request carries (with authentication on).
    token: Option<String>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Dropped after the runtime (and with it the store).
    _scratch: Scratch,
}

impl Server {
    /// Opens a fresh bank store with funded accounts and serves its API on 127.0.0.1:0:
    /// the Rust bank's router, or the JavaScript bank's (`gesta serve`'s routes).
    fn start(settings: &Settings, target: &Target, app: BankApp) -> anyhow::Result<Self> {
        let scratch = Scratch::new(settings, target, "bank")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("bench-server")
            .build()?;
        let (shutdown, stop) = oneshot::channel::<()>();
        let (addr, serving, token) = runtime.block_on(async {
            let mut token = None;
            let router = match app {
                BankApp::Rust => {
                    let store = crate::library::open_bank(&scratch.url, settings.accounts).await?;
                    gesta_bank::routes::api(store)
                }
                BankApp::RustWithAuth => {
                    let store = crate::library::open_bank(&scratch.url, settings.accounts).await?;
                    let key = gesta_auth::keys::generate("bench", vec!["teller".into()], None)?;
                    store.add_api_key(key.record).await?;
                    token = Some(key.token);
                    let policy = gesta_auth::Policy::from_toml(include_str!(
                        "../../examples/bank/policy.toml"
                    ))?;
                    let security = gesta_auth::Security::new(policy).keys(store.clone());
                    gesta_bank::routes::secured_api(store, std::sync::Arc::new(security))
                }
                BankApp::OneTxPerCommand => {
                    let path = scratch
                        .path
                        .as_deref()
                        .context("the one-transaction-per-command baseline runs on SQLite")?;
                    crate::one_tx::router(path, settings.accounts)?
                }
                BankApp::JavaScript => {
                    let (store, js) = crate::js::open_bank(&scratch.url, settings.accounts).await?;
                    gesta_http::Api::new(store.clone())
                        .routes(gesta_js::http::routes(store, js.collections()))
                        .openapi_json(gesta_js::http::openapi(js.collections()))
                        .into_router()
                }
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let serving = tokio::spawn(gesta_http::serve(listener, router, async {
                let _ = stop.await;
            }));
            anyhow::Ok((addr, serving, token))
        })?;
        Ok(Server {
            runtime,
            addr,
            shutdown,
            token,
            serving,
            _scratch: scratch,
        })
    }

    /// Stops serving (clients must be gone) and drops the store.
    fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        let served = self
            .runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), self.serving).await });
        self.runtime.shutdown_timeout(Duration::from_secs(5));
        served
            .context("server did not stop within 10 s")?
            .context("server task failed")?
            .context("server failed")
    }
}

/// One client owning one HTTP/1.1 connection.
struct HttpCaller {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    authorization: Option<String>,
}

impl HttpCaller {
    async fn connect(addr: SocketAddr, token: Option<&str>) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(connection);
        Ok(HttpCaller {
            sender,
            host: addr.to_string(),
            authorization: token.map(|t| format!("Bearer {t}")),
        })
    }
}

impl Caller for HttpCaller {
    async fn transfer(&mut self, from: String, to: String) -> bool {
        if self.sender.ready().await.is_err() {
            return false;
        }
        let mut request = Request::post("/commands/Transfer")
            .header(HOST, self.host.as_str())
            .header(CONTENT_TYPE, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization.as_str());
        }
        let request = request.body(Full::new(Bytes::from(transfer_data(&from, &to))));
        let Ok(request) = request else {
            return false;
        };
        match self.sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status() == StatusCode::OK;
                ok && response.into_body().collect().await.is_ok()
            }
            Err(_) => false,
        }
    }
}

/// Which bank a server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankApp {
    /// `gesta_bank::app()`, compiled Rust (rows `c{n}`).
    Rust,
    /// `bench/js/bank.mjs` through gesta-js, as `gesta serve --app` runs it (rows `j{n}`).
    JavaScript,
    /// The Rust bank with `--auth`, the bank's policy and a teller's API key on every
    /// request (rows `k{n}`).
    RustWithAuth,
    /// No Gesta: one SQLite transaction per request, the hand-written Transfer SQL
    /// (`one_tx`, rows `o{n}`).
    OneTxPerCommand,
}

/// Runs (c), or (j) for the JavaScript bank, for each number of `connections`, each
/// against a fresh server and store.
pub fn run(
    settings: &Settings,
    target: &Target,
    connections: &[usize],
    app: BankApp,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (section, what) = match app {
        BankApp::Rust => ("c", "gesta_bank::routes::api"),
        BankApp::RustWithAuth => ("k", "gesta_bank::routes::secured_api with an API key"),
        BankApp::OneTxPerCommand => (
            "o",
            "no Gesta: one SQLite transaction per request, hand-written Transfer SQL",
        ),
        BankApp::JavaScript => (
            "j",
            "bench/js/bank.mjs through gesta-js (as `gesta serve --app`)",
        ),
    };
    eprintln!("({section}) HTTP: {what} + gesta_http::serve, one connection per client");
    let client = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-client")
        .build()?;
    for &n in connections {
        let server = Server::start(settings, target, app).context("starting the bank server")?;
        let (addr, token) = (server.addr, server.token.clone());
        let cpu = cpu::Meter::start(target.backend);
        let load = client.block_on(async {
            let mut callers = Vec::with_capacity(n);
            for _ in 0..n {
                callers.push(HttpCaller::connect(addr, token.as_deref()).await?);
            }
            anyhow::Ok(drive::drive(callers, settings.accounts, settings.limit).await)
        })?;
        report.cpu_note(cpu.note(&format!("{section}{n}"), load.ok));
        server.stop()?;
        let language = match app {
            BankApp::Rust => "",
            BankApp::JavaScript => " (JavaScript app)",
            BankApp::RustWithAuth => " (with --auth and an API key)",
            BankApp::OneTxPerCommand => " (no Gesta: one SQLite transaction per request)",
        };
        report.add(Row {
            key: format!("{section}{n}"),
            what: format!("HTTP: POST /commands/Transfer{language}, {n} connections"),
            rate: load.rate(),
            unit: "commands/s",
            compare: Compare::Writes,
            latency: Some(load.latency()),
            count: load.ok,
            errors: load.errors,
        });
    }
    Ok(())
}
