//! Runs N concurrent callers (tokio tasks) for a time or a count, recording the
//! latency of every command in an HDR histogram.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::report::Latency;
use crate::transfer_sql::{Limit, Rng, account_id};

/// Something that can run one Transfer and say whether it succeeded.
pub trait Caller: Send + 'static {
    /// Runs a transfer of one cent from `from` to `to`.
    fn transfer(&mut self, from: String, to: String) -> impl Future<Output = bool> + Send;
}

/// The outcome of one load run.
#[derive(Debug)]
pub struct Load {
    /// Commands that succeeded.
    pub ok: u64,
    /// Commands that failed.
    pub errors: u64,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Latency of every command, in microseconds.
    pub histogram: Histogram<u64>,
}

impl Load {
    /// Successful commands per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// p50 and p99.
    pub fn latency(&self) -> Latency {
        Latency {
            p50_us: self.histogram.value_at_quantile(0.50),
            p99_us: self.histogram.value_at_quantile(0.99),
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// Runs every caller in its own task until `limit`, on the current runtime.
pub async fn drive<C: Caller>(callers: Vec<C>, accounts: usize, limit: Limit) -> Load {
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = callers
        .into_iter()
        .enumerate()
        .map(|(i, caller)| {
            let issued = Arc::clone(&issued);
            tokio::spawn(run_caller(
                caller, i as u64, accounts, limit, started, issued,
            ))
        })
        .collect();
    let mut load = Load {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        histogram: histogram(),
    };
    for task in tasks {
        match task.await {
            Ok((ok, errors, hist)) => {
                load.ok += ok;
                load.errors += errors;
                let _ = load.histogram.add(&hist);
            }
            Err(_) => load.errors += 1,
        }
    }
    load.elapsed = started.elapsed();
    load
}

async fn run_caller<C: Caller>(
    mut caller: C,
    seed: u64,
    accounts: usize,
    limit: Limit,
    started: Instant,
    issued: Arc<AtomicU64>,
) -> (u64, u64, Histogram<u64>) {
    let mut rng = Rng::new(0xB0 + seed);
    let mut hist = histogram();
    let (mut ok, mut errors) = (0, 0);
    loop {
        let n = issued.fetch_add(1, Ordering::Relaxed);
        let stop = match limit.commands {
            Some(max) => n >= max,
            None => started.elapsed() >= limit.duration,
        };
        if stop {
            break;
        }
        let (from, to) = rng.pair(accounts);
        let t0 = Instant::now();
        let succeeded = caller.transfer(account_id(from), account_id(to)).await;
        let _ = hist.record((t0.elapsed().as_micros() as u64).max(1));
        if succeeded {
            ok += 1;
        } else {
            errors += 1;
        }
    }
    (ok, errors, hist)
}

/// Runs `count` jobs with at most `width` at a time (for setting up accounts).
pub async fn in_parallel<F, Fut>(count: usize, width: usize, job: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..width.max(1))
        .map(|_| {
            let (job, next) = (Arc::clone(&job), Arc::clone(&next));
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= count {
                        return Ok::<(), anyhow::Error>(());
                    }
                    job(i).await?;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}
