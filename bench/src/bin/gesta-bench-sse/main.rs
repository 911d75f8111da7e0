//! `gesta-bench-sse`: events/s delivered to 0, 1, 10 and 100 concurrent SSE
//! subscribers while bank transfers are being written, the write throughput with and
//! without them, and the latency from commit to a subscriber receiving the event.
//!
//! Run as `cargo run --release -p gesta-bench --bin gesta-bench-sse -- [--seconds S]
//! [--writers N] [--subscribers 0,1,10,100]`. One SQLite file (WAL, synchronous=FULL)
//! per run; the server runs on its own runtime, writers use the library on it, and the
//! subscribers read `GET /subscribe?after=now` over HTTP/1.1 on another runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use gesta::Store;
use gesta_bank::commands::{Deposit, OpenAccount, Transfer};
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;

const ACCOUNTS: usize = 1000;

#[derive(Debug, Parser)]
#[command(
    name = "gesta-bench-sse",
    about = "SSE fan-out while writing: throughput and latency"
)]
struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Concurrent library callers writing transfers.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Subscriber counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1, 10, 100])]
    subscribers: Vec<usize>,
}

struct Measured {
    subscribers: usize,
    writes_per_s: f64,
    delivered_per_s: f64,
    latency: Histogram<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut results = Vec::new();
    for &subscribers in &args.subscribers {
        eprintln!("measuring with {subscribers} subscribers");
        results.push(measure(&args, subscribers)?);
    }
    print_report(&args, &results);
    Ok(())
}

fn measure(args: &Args, subscribers: usize) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("sse.db").display());
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (store, addr) = server.block_on(async {
        let store = open_bank(&url).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(gesta_http::serve(
            listener,
            gesta_bank::routes::api(store.clone()),
            std::future::pending(),
        ));
        anyhow::Ok((store, addr))
    })?;
    let clients = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let readers: Vec<_> = (0..subscribers)
        .map(|_| {
            clients.spawn(subscribe(
                addr,
                Arc::clone(&stop),
                Arc::clone(&delivered),
                Arc::clone(&latency),
            ))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let duration = Duration::from_secs_f64(args.seconds);
    let written = server.block_on(write(store, args.writers, duration))?;
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.abort();
    }
    let latency = clients.block_on(async { latency.lock().await.clone() });
    drop(clients);
    drop(server);
    Ok(Measured {
        subscribers,
        writes_per_s: written as f64 / duration.as_secs_f64(),
        delivered_per_s: delivered.load(Ordering::Relaxed) as f64 / duration.as_secs_f64(),
        latency,
    })
}

async fn open_bank(url: &str) -> anyhow::Result<Store> {
    let store = Store::open(url, gesta_bank::app()).await?;
    for i in 0..ACCOUNTS {
        let account_id = format!("a{i}");
        store
            .dispatch(OpenAccount {
                account_id: account_id.clone(),
                owner: "bench".into(),
            })
            .await?;
        store
            .dispatch(Deposit {
                account_id,
                amount: 1_000_000_000,
            })
            .await?;
    }
    Ok(store)
}

/// `writers` callers transferring for `duration`; returns the commands committed.
async fn write(store: Store, writers: usize, duration: Duration) -> anyhow::Result<u64> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = 0_u64;
                while started.elapsed() < duration {
                    let from = (w * 7919 + n as usize * 31) % ACCOUNTS;
                    let to = (from + 1 + w) % ACCOUNTS;
                    if from != to {
                        let transfer = Transfer {
                            from: format!("a{from}"),
                            to: format!("a{to}"),
                            amount: 1,
                        };
                        store.dispatch(transfer).await?;
                    }
                    n += 1;
                }
                anyhow::Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.context("writer")??;
    }
    Ok(total)
}

/// One SSE subscriber from now on: counts events and records commit-to-receive latency
/// (from the event's `time`, set when the writer appended it).
async fn subscribe(
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    delivered: Arc<AtomicU64>,
    latency: Arc<Mutex<Histogram<u64>>>,
) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get("/subscribe?after=now")
        .header(hyper::header::HOST, addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let mut body = sender.send_request(request).await?.into_body();
    let mut pending = String::new();
    let mut local = Histogram::<u64>::new(3)?;
    while !stop.load(Ordering::Relaxed) {
        let Some(frame) = body.frame().await else {
            break;
        };
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let now = time::OffsetDateTime::now_utc();
        pending.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = pending.find("\n\n") {
            let message: String = pending.drain(..end + 2).collect();
            if let Some(sent) = event_time(&message) {
                delivered.fetch_add(1, Ordering::Relaxed);
                let micros = (now - sent).whole_microseconds().max(0) as u64;
                let _ = local.record(micros);
            }
        }
        if local.len() >= 1000 {
            latency.lock().await.add(&local)?;
            local.reset();
        }
    }
    latency.lock().await.add(&local)?;
    Ok(())
}

/// The CloudEvents `time` of an SSE message, if it carries an event.
fn event_time(message: &str) -> Option<time::OffsetDateTime> {
    let data = message.lines().find_map(|l| l.strip_prefix("data:"))?;
    let start = data.find("\"time\":\"")? + 8;
    let end = data[start..].find('"')? + start;
    time::OffsetDateTime::parse(
        &data[start..end],
        &time::format_description::well_known::Rfc3339,
    )
    .ok()
}

fn print_report(args: &Args, results: &[Measured]) {
    let base = results
        .iter()
        .find(|m| m.subscribers == 0)
        .map(|m| m.writes_per_s);
    println!(
        "## SSE fan-out while writing (SQLite file, {} writers, {:.1} s each)\n",
        args.writers, args.seconds
    );
    println!(
        "| subscribers | transfers/s | vs 0 subscribers | events delivered/s (all subscribers) | commit→receive p50 | p99 |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for m in results {
        let ratio = base.map_or("".to_owned(), |b| format!("{:.2}x", m.writes_per_s / b));
        let (p50, p99) = if m.latency.is_empty() {
            ("".to_owned(), "".to_owned())
        } else {
            (
                format!("{:.1} ms", m.latency.value_at_quantile(0.5) as f64 / 1000.0),
                format!(
                    "{:.1} ms",
                    m.latency.value_at_quantile(0.99) as f64 / 1000.0
                ),
            )
        };
        println!(
            "| {} | {:.0} | {} | {:.0} | {} | {} |",
            m.subscribers, m.writes_per_s, ratio, m.delivered_per_s, p50, p99
        );
    }
}
