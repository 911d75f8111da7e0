//! `gesta-bench-lifecycle`: what the log's life cycle costs (issue 14,
//! docs/PERFORMANCE.md).
//!
//! Personal data, in the same run and on the same database: bank `OpenAccount`
//! commands/s and latency at 1 and `--callers` callers with the owner marked personal
//! (encrypted with the account's key, a key made per account) against the same bank
//! without the mark; replaying the log with the fields sealed (one key lookup per
//! page, one decryption per field) against plain; and the latency of one erasure.
//!
//! Archival, on a log of `--archive-events` events: how fast `Store::archive` moves
//! them into segments (events/s, to a local directory), and replaying the whole log
//! through `read_all` from the archive against from the live table.
//!
//! `cargo run --release -p gesta-bench --bin gesta-bench-lifecycle -- --backend sqlite,postgres,mysql`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use gesta::event::Position;
use gesta::{App, Context, LogQuery, Store};
use gesta_bank::commands::OpenAccount;

#[derive(Debug, Parser)]
#[command(name = "gesta-bench-lifecycle")]
struct Args {
    /// sqlite, postgres and/or mysql.
    #[arg(long, value_delimiter = ',', default_value = "sqlite")]
    backend: Vec<String>,
    /// Concurrent callers of the loaded run (a lone caller is always measured too).
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Rounds: each round measures both apps, alternating which goes first.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Erasures timed.
    #[arg(long, default_value_t = 200)]
    erasures: usize,
    /// Events in the log the archival part archives (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    archive_events: u64,
    /// Skip the personal-data part.
    #[arg(long)]
    archive_only: bool,
}

/// The bank with or without `owner` marked personal (the rest is `gesta_bank::app`).
fn bank(personal: bool) -> App {
    let app = App::new("bank")
        .migration(gesta_bank::accounts::migration())
        .command(gesta_bank::commands::open_account)
        .command(gesta_bank::commands::deposit)
        .command(gesta_bank::commands::withdraw)
        .command(gesta_bank::commands::transfer);
    let app = match personal {
        true => app.personal("AccountOpened", "owner"),
        false => app,
    };
    app.read_model(gesta_bank::accounts::read_model())
}

fn label(personal: bool) -> &'static str {
    if personal { "owner personal" } else { "plain" }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A fresh database of `backend`: (url, what keeps it alive).
fn fresh(backend: &str) -> anyhow::Result<(String, Box<dyn std::any::Any>)> {
    match backend {
        "sqlite" => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("lifecycle.db").display());
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

/// What one command run measured.
struct Run {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

/// `OpenAccount` with fresh ids from `callers` callers for `seconds`.
async fn open_accounts(store: &Store, callers: usize, seconds: f64) -> anyhow::Result<Run> {
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(store.last_position().0 + 1));
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (store, stop, next) = (store.clone(), Arc::clone(&stop), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let open = OpenAccount {
                    account_id: format!("acc{i}"),
                    owner: format!("Owner Number {i}"),
                };
                let started = Instant::now();
                store.dispatch(open).await?;
                times.push(started.elapsed());
            }
            Ok::<_, gesta::Error>(times)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    all.sort();
    Ok(Run {
        rate: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
    })
}

/// Reads the whole log in pages of 1000 through `read_all` (decrypting); events/s.
async fn replay(store: &Store) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (mut after, mut read) = (Position(0), 0u64);
    loop {
        let page = store.read_all(LogQuery::after(after).limit(1000)).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        read += page.len() as u64;
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

/// Everything measured for one app on one backend.
#[derive(Default)]
struct Measured {
    one: Vec<Run>,
    many: Vec<Run>,
    replay: Vec<f64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for backend in &args.backend {
        runtime.block_on(run(&args, backend))?;
    }
    Ok(())
}

async fn run(args: &Args, backend: &str) -> anyhow::Result<()> {
    if !args.archive_only {
        personal(args, backend).await?;
    }
    if args.archive_events > 0 {
        archival(args, backend).await?;
    }
    Ok(())
}

/// Fills a log of `args.archive_events` events, replays it live, archives all but
/// the last 1000, replays it again through the archive.
async fn archival(args: &Args, backend: &str) -> anyhow::Result<()> {
    println!("== {backend}: archive {} events ==", args.archive_events);
    let (url, _keep) = fresh(backend)?;
    let store = Store::open(&url, App::new("archive-bench")).await?;
    let per_append = 1000u64;
    let started = Instant::now();
    for chunk in 0..args.archive_events.div_ceil(per_append) {
        let stream = format!("account-{}", chunk % 1000);
        let events = (0..per_append)
            .map(|i| {
                gesta::event::NewEvent::new(
                    stream.as_str(),
                    "Deposited",
                    &serde_json::json!({ "account_id": stream, "amount": chunk * per_append + i }),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = gesta::AppendRequest {
            stream_id: gesta::event::StreamId::new(stream)?,
            expected: gesta::ExpectedVersion::Any,
            events,
        };
        store.append(request, Context::default()).await?;
    }
    println!("  filled in {:.1} s", started.elapsed().as_secs_f64());
    let live = replay_all(&store).await?;
    let dir = tempfile::tempdir()?;
    let options = gesta::archive::ArchiveOptions::new(
        format!("file://{}", dir.path().display()),
        gesta::archive::ArchiveUpTo::Keep(1000),
    );
    let started = Instant::now();
    let report = store.archive(options, |_| {}).await?;
    let took = started.elapsed().as_secs_f64();
    println!(
        "  archive: {} events in {} segments, {:.1} MB, {took:.1} s: {:.0} events/s",
        report.events,
        report.segments,
        report.bytes as f64 / 1e6,
        report.events as f64 / took
    );
    let archived = replay_all(&store).await?;
    println!(
        "  replay (read_all, pages of 10000): live {live:.0} events/s, from the archive {archived:.0} events/s, {:.2}x",
        archived / live
    );
    Ok(())
}

/// Reads the whole log in pages of 10,000 through `read_all`; events/s.
async fn replay_all(store: &Store) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (mut after, mut read) = (Position(0), 0u64);
    loop {
        let page = store.read_all(LogQuery::after(after).limit(10_000)).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        read += page.len() as u64;
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

async fn personal(args: &Args, backend: &str) -> anyhow::Result<()> {
    println!("== {backend}: bank OpenAccount, owner personal vs plain ==");
    let mut measured = [Measured::default(), Measured::default()];
    for round in 0..args.rounds {
        let order = match round % 2 {
            0 => [false, true],
            _ => [true, false],
        };
        for personal in order {
            let (url, _keep) = fresh(backend)?;
            let store = Store::open(&url, bank(personal)).await?;
            let m = &mut measured[usize::from(personal)];
            m.one.push(open_accounts(&store, 1, args.seconds).await?);
            m.many
                .push(open_accounts(&store, args.callers, args.seconds).await?);
            m.replay.push(replay(&store).await?);
            if personal && round == 0 {
                erasures(&store, args.erasures).await?;
            }
        }
    }
    let best = |runs: &[Run]| -> (f64, f64, f64) {
        let run = runs
            .iter()
            .max_by(|a, b| a.rate.total_cmp(&b.rate))
            .expect("at least one round");
        (run.rate, ms(run.p50), ms(run.p99))
    };
    for (callers, pick) in [(1, 0), (args.callers, 1)] {
        let rows: Vec<(f64, f64, f64)> = measured
            .iter()
            .map(|m| best(if pick == 0 { &m.one } else { &m.many }))
            .collect();
        for (i, (rate, p50, p99)) in rows.iter().enumerate() {
            println!(
                "  {callers:>3} caller(s)  {:<15} {rate:>9.0} commands/s  p50 {p50:.3} ms  p99 {p99:.3} ms",
                label(i == 1)
            );
        }
        println!(
            "  {callers:>3} caller(s)  personal/plain  {:.2}x",
            rows[1].0 / rows[0].0
        );
    }
    let replays: Vec<f64> = measured
        .iter()
        .map(|m| m.replay.iter().copied().fold(0.0, f64::max))
        .collect();
    println!(
        "  replay (read_all, pages of 1000): plain {:.0} events/s, owner personal {:.0} events/s, {:.2}x",
        replays[0],
        replays[1],
        replays[1] / replays[0]
    );
    Ok(())
}

/// Erases `count` of the accounts one after the other; prints p50/p99.
async fn erasures(store: &Store, count: usize) -> anyhow::Result<()> {
    let mut times = Vec::new();
    let head = store.last_position().0;
    for i in 0..count as u64 {
        // Accounts were numbered from position 1 on; some ids were never used.
        let subject = format!("account-acc{}", 1 + (i * 7919) % head.max(1));
        let started = Instant::now();
        store.erase(&subject, Context::default()).await?;
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "  erase: {count} subjects, p50 {:.3} ms, p99 {:.3} ms (one unit each, WAL truncated on SQLite)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99))
    );
    Ok(())
}
