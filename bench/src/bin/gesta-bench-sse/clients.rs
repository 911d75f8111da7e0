//! The subscribers' process: `count` SSE connections to `GET /subscribe?after=now`,
//! steered over stdin/stdout by the measuring process.
//!
//! It prints `ready` once every connection has its response head, counts the events
//! received between `start` and `stop` (lines on stdin) and then prints one JSON line:
//! events delivered, commit→receive latency (p50/p99, µs) and its own CPU seconds.
//! Every tenth subscriber (and the first) reads each event's CloudEvents `time` for
//! the latency; the others only count messages, so the clients spend as little CPU
//! as they can.

use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;

use hdrhistogram::Histogram;

/// What the subscribers' process reports after `stop`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Events received by all subscribers between `start` and `stop`.
    pub delivered: u64,
    /// Commit→receive latency percentiles, in µs (0 without samples).
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// CPU seconds this process used between `start` and `stop`.
    pub cpu_seconds: Option<f64>,
}

struct Shared {
    counting: AtomicBool,
    delivered: AtomicU64,
    latency: Mutex<Histogram<u64>>,
}

/// Runs the subscribers' process until stdin says `stop` (or closes).
pub fn run(addr: SocketAddr, count: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let shared = Arc::new(Shared {
        counting: AtomicBool::new(false),
        delivered: AtomicU64::new(0),
        latency: Mutex::new(Histogram::new(3)?),
    });
    runtime.block_on(async {
        let mut bodies = Vec::with_capacity(count);
        for _ in 0..count {
            bodies.push(connect(addr).await?);
        }
        for (i, body) in bodies.into_iter().enumerate() {
            tokio::spawn(read(body, i % 10 == 0, Arc::clone(&shared)));
        }
        anyhow::Ok(())
    })?;
    println!("ready");
    let mut lines = std::io::stdin().lock().lines();
    let mut cpu_at_start = None;
    while let Some(line) = lines.next().transpose()? {
        match line.trim() {
            "start" => {
                cpu_at_start = crate::cores::cpu_seconds();
                shared.counting.store(true, Ordering::SeqCst);
            }
            "stop" => break,
            _ => {}
        }
    }
    shared.counting.store(false, Ordering::SeqCst);
    let cpu_seconds = crate::cores::cpu_seconds()
        .zip(cpu_at_start)
        .map(|(now, then)| now - then);
    let latency = runtime.block_on(async { shared.latency.lock().await.clone() });
    let report = Report {
        delivered: shared.delivered.load(Ordering::SeqCst),
        p50_us: latency.value_at_quantile(0.5),
        p99_us: latency.value_at_quantile(0.99),
        cpu_seconds,
    };
    println!("{}", serde_json::to_string(&report)?);
    runtime.shutdown_background();
    Ok(())
}

type Body = hyper::body::Incoming;

/// One subscription's response body, after its head arrived.
async fn connect(addr: SocketAddr) -> anyhow::Result<Body> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get("/subscribe?after=now")
        .header(hyper::header::HOST, addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    anyhow::ensure!(response.status().is_success(), "{}", response.status());
    Ok(response.into_body())
}

/// Counts the messages of `body` (an SSE message ends with a blank line) while
/// counting is on; with `timed`, also records each event's latency.
async fn read(mut body: Body, timed: bool, shared: Arc<Shared>) -> anyhow::Result<()> {
    let ends = memchr::memmem::Finder::new(b"\n\n");
    let mut carry: Vec<u8> = Vec::new();
    let mut local = Histogram::<u64>::new(3)?;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let now = time::OffsetDateTime::now_utc();
        // A message may straddle frames: keep the unfinished tail.
        carry.extend_from_slice(&data);
        let mut done = 0;
        let mut messages = 0;
        for end in ends.find_iter(&carry) {
            if timed && let Some(sent) = event_time(&carry[done..end]) {
                let micros = (now - sent).whole_microseconds().max(0) as u64;
                let _ = local.record(micros);
            }
            done = end + 2;
            messages += 1;
        }
        carry.drain(..done);
        if shared.counting.load(Ordering::Relaxed) {
            shared.delivered.fetch_add(messages, Ordering::Relaxed);
            if local.len() >= 1000 {
                shared.latency.lock().await.add(&local)?;
                local.reset();
            }
        } else {
            local.reset();
        }
    }
    Ok(())
}

/// The CloudEvents `time` of an SSE message, if it carries an event.
fn event_time(message: &[u8]) -> Option<time::OffsetDateTime> {
    let key = b"\"time\":\"";
    let start = memchr::memmem::find(message, key)? + key.len();
    let end = memchr::memchr(b'"', &message[start..])? + start;
    let text = std::str::from_utf8(&message[start..end]).ok()?;
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}
