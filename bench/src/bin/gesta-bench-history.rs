//! `gesta-bench-history`: history on a big bank log (issue 11, docs/PERFORMANCE.md).
//!
//! Fills a bank log of `--events` events over `--accounts` accounts through the
//! library (snapshots every `--snapshot-every` events), then measures, in the same
//! run and on the same database:
//!
//! - as-of at random positions (p50/p99) against replaying the whole log from the
//!   start (a background rebuild of the read model, which uses no snapshot);
//! - a diff over 10k events; a revert of the last 1k events;
//! - command throughput during a background rebuild against without, and how long
//!   the swap paused the writer;
//! - command p99 while snapshots are taken against without.
//!
//! `cargo run --release -p gesta-bench --bin gesta-bench-history -- --backend sqlite,postgres`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use gesta::event::Position;
use gesta::history::{ReadModelState, RebuildState, RevertTarget};
use gesta::{Context, Store, StoreOptions, params};
use gesta_bank::commands::{Deposit, OpenAccount, Transfer};

#[derive(Debug, Parser)]
#[command(name = "gesta-bench-history")]
struct Args {
    /// sqlite and/or postgres (mysql works too).
    #[arg(long, value_delimiter = ',', default_value = "sqlite")]
    backend: Vec<String>,
    /// Events in the log.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Accounts.
    #[arg(long, default_value_t = 10_000)]
    accounts: u64,
    /// Snapshot interval while filling.
    #[arg(long, default_value_t = 10_000)]
    snapshot_every: u64,
    /// As-of questions asked.
    #[arg(long, default_value_t = 40)]
    samples: usize,
    /// Concurrent command callers.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Seconds of each command-throughput measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn account(i: u64) -> String {
    format!("acc{i}")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
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

/// A fresh database of `backend`: (url, what keeps it alive).
fn fresh(backend: &str) -> anyhow::Result<(String, Box<dyn std::any::Any>)> {
    match backend {
        "sqlite" => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("history.db").display());
            Ok((url, Box::new(dir)))
        }
        "postgres" | "mysql" => {
            let server = if backend == "postgres" {
                gesta_testkit::Server::Postgres
            } else {
                gesta_testkit::Server::Mysql
            };
            let base = server.base_url().unwrap_or_else(|| {
                if backend == "postgres" {
                    "postgres://postgres@127.0.0.1:5432/test".into()
                } else {
                    "mysql://root@127.0.0.1:3306/test".into()
                }
            });
            let db = gesta_testkit::fresh_at(server, &base).map_err(anyhow::Error::msg)?;
            Ok((db.url().to_owned(), Box::new(db)))
        }
        other => anyhow::bail!("unknown backend {other}"),
    }
}

async fn run(args: &Args, backend: &str) -> anyhow::Result<()> {
    let (url, _keep) = fresh(backend)?;
    let options = StoreOptions::default().snapshots(args.snapshot_every, 10_000);
    let store = Store::builder(gesta_bank::app())
        .url(&url)
        .options(options)
        .open()
        .await
        .with_context(|| format!("opening {url}"))?;
    println!(
        "## {backend}: {} events over {} accounts\n",
        args.events, args.accounts
    );
    let started = Instant::now();
    fill(&store, args).await?;
    let fill_s = started.elapsed().as_secs_f64();
    let head = store.last_position();
    // Let the snapshot task finish its last one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let snapshots = store.snapshots().await?;
    println!(
        "- filled {} events in {fill_s:.1} s ({:.0} events/s); {} snapshots, newest at {}, {:.1} MB each",
        head.0,
        head.0 as f64 / fill_s,
        snapshots.len(),
        snapshots.first().map_or(0, |s| s.position),
        snapshots.first().map_or(0, |s| s.bytes) as f64 / 1e6
    );

    // As-of at random positions.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut times = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let at = Position(1 + rng.below(head.0));
        let id = account(rng.below(args.accounts));
        let started = Instant::now();
        store
            .at(at)
            .query(
                "SELECT balance FROM accounts WHERE id = :id",
                params! { "id" => id },
            )
            .await?;
        times.push(started.elapsed());
    }
    times.sort();
    let p50 = percentile(&times, 0.5);
    println!(
        "- as-of at {} random positions: p50 {:.1} ms, p99 {:.1} ms",
        args.samples,
        ms(p50),
        ms(percentile(&times, 0.99))
    );

    // Diff over 10k events.
    let mut diffs = Vec::new();
    for _ in 0..5 {
        let from = Position(rng.below(head.0.saturating_sub(10_000)));
        let started = Instant::now();
        let diff = store.diff(from, Position(from.0 + 10_000), None).await?;
        diffs.push(started.elapsed());
        std::hint::black_box(diff);
    }
    diffs.sort();
    println!(
        "- diff over 10k events (5 at random): p50 {:.1} ms, max {:.1} ms",
        ms(percentile(&diffs, 0.5)),
        ms(diffs[diffs.len() - 1])
    );

    // Command throughput and latency without anything else going on.
    let base = drive(&store, args, None).await?;
    println!(
        "- commands alone: {:.0} transfers/s, p50 {:.1} ms, p99 {:.1} ms",
        base.rate,
        ms(base.p50),
        ms(base.p99)
    );

    // Command p99 while snapshots are taken back to back.
    let busy = Arc::new(AtomicBool::new(true));
    let taken = Arc::new(AtomicU64::new(0));
    let snapper = {
        let (store, busy, taken) = (store.clone(), Arc::clone(&busy), Arc::clone(&taken));
        tokio::spawn(async move {
            while busy.load(Ordering::Relaxed) {
                if store.take_snapshot().await.is_ok() {
                    taken.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let during_snapshots = drive(&store, args, None).await?;
    busy.store(false, Ordering::Relaxed);
    snapper.await?;
    println!(
        "- commands while {} snapshots were taken back to back: {:.0} transfers/s, p99 {:.1} ms ({:.2}x the p99 alone)",
        taken.load(Ordering::Relaxed),
        during_snapshots.rate,
        ms(during_snapshots.p99),
        during_snapshots.p99.as_secs_f64() / base.p99.as_secs_f64().max(1e-9)
    );

    // Background rebuild (a replay of the whole log, no snapshot) under commands.
    let started = Instant::now();
    store.rebuild_read_model("accounts").await?;
    let during_rebuild = drive(&store, args, Some("accounts")).await?;
    let status = loop {
        let status = store.read_model("accounts").await?;
        if status
            .rebuild
            .as_ref()
            .is_some_and(|r| r.state != RebuildState::Building)
        {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let rebuild_s = started.elapsed().as_secs_f64();
    let rebuild = status.rebuild.clone().unwrap_or_else(|| unreachable!());
    anyhow::ensure!(status.state == ReadModelState::Live, "rebuild: {status:?}");
    println!(
        "- background rebuild of {} events: {rebuild_s:.1} s; commands during it {:.0} transfers/s ({:.2}x alone), p99 {:.1} ms; the swap paused the writer {} ms",
        rebuild.head,
        during_rebuild.rate,
        during_rebuild.rate / base.rate.max(1e-9),
        ms(during_rebuild.p99),
        rebuild.pause_ms.unwrap_or(0)
    );
    println!(
        "- as-of p50 against replaying from the start: {:.0}x faster ({:.1} ms vs {:.1} s)",
        rebuild_s / p50.as_secs_f64().max(1e-9),
        ms(p50),
        rebuild_s
    );

    // Revert the last 1k events.
    let head = store.last_position();
    let started = Instant::now();
    let outcome = store
        .revert(
            RevertTarget::To(Position(head.0 - 1_000)),
            Context::default(),
        )
        .await?;
    let revert_ms = ms(started.elapsed());
    let data: serde_json::Value = outcome.events[0].data_as()?;
    println!(
        "- revert of the last 1000 events ({} commands): {revert_ms:.0} ms\n",
        data["command_ids"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

/// Opens the accounts with a deposit each, then transfers until the log has
/// `args.events` events.
async fn fill(store: &Store, args: &Args) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.callers {
        let (store, next, accounts) = (store.clone(), Arc::clone(&next), args.accounts);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= accounts {
                    return Ok::<_, gesta::Error>(());
                }
                store
                    .dispatch(OpenAccount {
                        account_id: account(i),
                        owner: format!("owner {i}"),
                    })
                    .await?;
                store
                    .dispatch(Deposit {
                        account_id: account(i),
                        amount: 1_000_000,
                    })
                    .await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let target = args.events;
    let mut tasks = Vec::new();
    for c in 0..args.callers {
        let (store, accounts) = (store.clone(), args.accounts);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xA076_1D64_78BD_642F ^ (c as u64 + 1));
            while store.last_position().0 + 2 <= target {
                let from = rng.below(accounts);
                let to = (from + 1 + rng.below(accounts - 1)) % accounts;
                let transfer = Transfer {
                    from: account(from),
                    to: account(to),
                    amount: 1,
                };
                match store.dispatch(transfer).await {
                    Ok(_) | Err(gesta::Error::Rejected(_)) => {}
                    Err(other) => return Err(other),
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// What a command run measured.
struct Run {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

/// Transfers from `args.callers` callers for `args.seconds` (or, with
/// `until_rebuilt`, until that read model's background rebuild has ended).
async fn drive(store: &Store, args: &Args, until_rebuilt: Option<&str>) -> anyhow::Result<Run> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..args.callers {
        let (store, stop, accounts) = (store.clone(), Arc::clone(&stop), args.accounts);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (c as u64 + 7));
            let mut times = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let from = rng.below(accounts);
                let to = (from + 1 + rng.below(accounts - 1)) % accounts;
                let transfer = Transfer {
                    from: account(from),
                    to: account(to),
                    amount: 1,
                };
                let started = Instant::now();
                match store.dispatch(transfer).await {
                    Ok(_) | Err(gesta::Error::Rejected(_)) => times.push(started.elapsed()),
                    Err(other) => return Err(other),
                }
            }
            Ok(times)
        }));
    }
    let started = Instant::now();
    match until_rebuilt {
        None => tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await,
        Some(name) => loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let status = store.read_model(name).await?;
            if status
                .rebuild
                .is_some_and(|r| r.state != RebuildState::Building)
            {
                break;
            }
        },
    }
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
