//! `gesta-bench-intake`: the bank's Deposit over the three command layers (issue 15,
//! docs/PERFORMANCE.md) in the same run, on the same store: REST (`POST
//! /commands/Deposit`), GraphQL (`POST /graphql`, the `deposit` mutation) and NATS
//! request-reply (`gesta.<store>.commands.Deposit`), at 1, 16 and 64 concurrent
//! callers in a closed loop, with commands/s, each layer's ratio to REST, and p50/p99.
//!
//! The server (router and NATS intake) runs on its own runtime; each HTTP caller has
//! one keep-alive HTTP/1.1 connection, the NATS callers share one client connection
//! (as the services of an application would). At the end the accounts' balances are
//! checked against the deposits acknowledged.
//!
//! `cargo run --release -p gesta-bench --bin gesta-bench-intake -- --backend sqlite,postgres`

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

#[derive(Debug, Parser)]
#[command(name = "gesta-bench-intake")]
struct Args {
    /// sqlite, postgres and/or mysql.
    #[arg(long, value_delimiter = ',', default_value = "sqlite")]
    backend: Vec<String>,
    /// Concurrent callers.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    callers: Vec<usize>,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Rounds; each round measures every layer, in a rotated order.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Accounts the deposits are spread over.
    #[arg(long, default_value_t = 64)]
    accounts: usize,
    /// The NATS server.
    #[arg(
        long,
        env = "GESTA_TEST_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Rest,
    Graphql,
    Nats,
}

impl Layer {
    const ALL: [Layer; 3] = [Layer::Rest, Layer::Graphql, Layer::Nats];

    fn name(self) -> &'static str {
        match self {
            Layer::Rest => "REST",
            Layer::Graphql => "GraphQL",
            Layer::Nats => "NATS req-reply",
        }
    }
}

/// A fresh database of `backend`: (url, what keeps it alive).
fn fresh(backend: &str) -> anyhow::Result<(String, Box<dyn std::any::Any>)> {
    match backend {
        "sqlite" => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("intake.db").display());
            Ok((url, Box::new(dir)))
        }
        "postgres" | "mysql" => {
            let (server, default) = match backend {
                "postgres" => (
                    gesta_testkit::Server::Postgres,
                    "postgres://postgres@127.0.0.1:5432/test",
                ),
                _ => (
                    gesta_testkit::Server::Mysql,
                    "mysql://root@127.0.0.1:3306/test",
                ),
            };
            let base = server.base_url().unwrap_or_else(|| default.into());
            let db = gesta_testkit::fresh_at(server, &base).map_err(anyhow::Error::msg)?;
            Ok((db.url().to_owned(), Box::new(db)))
        }
        other => anyhow::bail!("unknown backend {other}"),
    }
}

/// What one measurement gave.
struct Run {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn deposit(account: usize) -> serde_json::Value {
    serde_json::json!({"account_id": format!("acc-{account}"), "amount": 1})
}

/// One caller's way of sending a Deposit.
enum Sender {
    Http {
        send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        addr: SocketAddr,
        graphql: bool,
    },
    Nats {
        client: async_nats::Client,
        subject: String,
    },
}

impl Sender {
    async fn new(
        layer: Layer,
        addr: SocketAddr,
        nats: &async_nats::Client,
        store: &str,
    ) -> anyhow::Result<Self> {
        Ok(match layer {
            Layer::Rest | Layer::Graphql => {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let (send, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(connection);
                Sender::Http {
                    send,
                    addr,
                    graphql: layer == Layer::Graphql,
                }
            }
            Layer::Nats => Sender::Nats {
                client: nats.clone(),
                subject: format!("gesta.{store}.commands.Deposit"),
            },
        })
    }

    /// Sends one deposit to `account`; whether it was acknowledged.
    async fn deposit(&mut self, account: usize) -> anyhow::Result<bool> {
        match self {
            Sender::Http {
                send,
                addr,
                graphql,
            } => {
                let (path, body) = if *graphql {
                    let body = serde_json::json!({
                        "query": "mutation($i: DepositInput!) { deposit(input: $i) { position } }",
                        "variables": {"i": deposit(account)},
                    });
                    ("/graphql", body)
                } else {
                    ("/commands/Deposit", deposit(account))
                };
                let request = Request::post(path)
                    .header(hyper::header::HOST, addr.to_string())
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(serde_json::to_vec(&body)?)))?;
                send.ready().await?;
                let response = send.send_request(request).await?;
                let ok = response.status() == 200;
                let body = response.into_body().collect().await?.to_bytes();
                // A GraphQL error is a 200 too: look for the data.
                Ok(ok && (!*graphql || memchr::memmem::find(&body, b"\"position\":").is_some()))
            }
            Sender::Nats { client, subject } => {
                let body = serde_json::to_vec(&deposit(account))?;
                let reply = client.request(subject.clone(), body.into()).await?;
                let ok = reply
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Gesta-Status"))
                    .is_some_and(|s| s.as_str() == "200");
                Ok(ok)
            }
        }
    }
}

/// `callers` callers sending deposits over `layer` for `seconds` (after a short
/// warm-up); acknowledged deposits are added to `acked`.
/// The server under test, as the callers reach it.
struct Target<'a> {
    addr: SocketAddr,
    nats: &'a async_nats::Client,
    store: &'a str,
    accounts: usize,
    acked: &'a Arc<AtomicU64>,
}

async fn measure(
    layer: Layer,
    callers: usize,
    seconds: f64,
    target: &Target<'_>,
) -> anyhow::Result<Run> {
    let Target {
        addr,
        nats,
        store,
        accounts,
        acked,
    } = *target;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let mut sender = Sender::new(layer, addr, nats, store).await?;
        let (measuring, stop, acked) =
            (Arc::clone(&measuring), Arc::clone(&stop), Arc::clone(acked));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = caller;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = sender.deposit(i % accounts).await?;
                anyhow::ensure!(ok, "a deposit was refused");
                acked.fetch_add(1, Ordering::Relaxed);
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(started.elapsed());
                }
                i += callers;
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    all.sort_unstable();
    Ok(Run {
        rate: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run_backend(args: &Args, backend: &str) -> anyhow::Result<()> {
    let (url, _keep) = fresh(backend)?;
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-server")
        .build()?;
    let store_name = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (addr, store, intake) = server.block_on(async {
        let store = gesta::Store::open(&url, gesta_bank::app()).await?;
        for i in 0..args.accounts {
            let id = format!("acc-{i}");
            let open = gesta_bank::commands::OpenAccount {
                account_id: id.clone(),
                owner: "bench".into(),
            };
            store.dispatch(open).await?;
        }
        let intake = gesta_nats::Intake::start(
            store.clone(),
            gesta_nats::IntakeConfig::new(&args.nats, &store_name),
        )
        .await
        .with_context(|| format!("NATS at {}", args.nats))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = gesta_bank::routes::api(store.clone());
        tokio::spawn(gesta_http::serve(listener, router, std::future::pending()));
        anyhow::Ok((addr, store, intake))
    })?;
    let clients = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-client")
        .build()?;
    let acked = Arc::new(AtomicU64::new(0));
    println!(
        "\n## {backend}: Deposit over REST, GraphQL and NATS request-reply ({} s per run, {} rounds)\n",
        args.seconds, args.rounds
    );
    println!("| callers | layer | commands/s | vs REST | p50 ms | p99 ms | every round |");
    println!("|---:|---|---:|---:|---:|---:|---|");
    clients.block_on(async {
        let nats = async_nats::ConnectOptions::new()
            .request_timeout(Some(Duration::from_secs(30)))
            .connect(&args.nats)
            .await?;
        for &callers in &args.callers {
            let mut results: Vec<(Layer, Vec<Run>)> =
                Layer::ALL.iter().map(|l| (*l, Vec::new())).collect();
            for round in 0..args.rounds {
                for k in 0..Layer::ALL.len() {
                    let layer = Layer::ALL[(k + round) % Layer::ALL.len()];
                    let target = Target {
                        addr,
                        nats: &nats,
                        store: &store_name,
                        accounts: args.accounts,
                        acked: &acked,
                    };
                    let run = measure(layer, callers, args.seconds, &target).await?;
                    results
                        .iter_mut()
                        .find(|(l, _)| *l == layer)
                        .unwrap()
                        .1
                        .push(run);
                }
            }
            // Each layer's best round (the least disturbed by the machine).
            let best = |runs: &Vec<Run>| {
                runs.iter()
                    .max_by(|a, b| a.rate.total_cmp(&b.rate))
                    .map(|r| (r.rate, r.p50, r.p99))
                    .unwrap()
            };
            let rest = best(&results[0].1).0;
            for (layer, runs) in &results {
                let (rate, p50, p99) = best(runs);
                let rounds: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rate)).collect();
                println!(
                    "| {callers} | {} | {rate:.0} | {:.2}x | {:.2} | {:.2} | {} |",
                    layer.name(),
                    rate / rest,
                    ms(p50),
                    ms(p99),
                    rounds.join(" / ")
                );
            }
        }
        anyhow::Ok(())
    })?;
    server.block_on(async {
        let rows = store
            .query("SELECT balance FROM accounts", gesta::sql::Params::new())
            .await?;
        let total = rows
            .iter()
            .map(|r| r.get::<i64>("balance").unwrap_or_default() as u64)
            .sum::<u64>();
        let expected = acked.load(Ordering::Relaxed);
        anyhow::ensure!(
            total == expected,
            "balances sum to {total}, {expected} deposits were acknowledged"
        );
        println!("\nbalances checked: {total} cents = {expected} acknowledged deposits");
        intake.stop().await;
        anyhow::Ok(())
    })?;
    drop(clients);
    server.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for backend in &args.backend {
        run_backend(&args, backend)?;
    }
    Ok(())
}
