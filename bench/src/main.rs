//! `gesta-bench`: measures Gesta against raw SQLite ceilings and prints a markdown table.
//!
//! Run as `cargo run --release -p gesta-bench -- [--quick] [--out FILE] [--only a,b,c,e,f]`.
//! Sections: (a) raw rusqlite ceilings, (b) the library, (c) HTTP, (d) latency of (b) and
//! (c), (e) replay, (f) the (a2) loop over sqlx. See docs/PERFORMANCE.md.
//!
//! # Layout
//!
//! - `transfer_sql`: the hand-written SQL of a Transfer (shared with `sqlx-ceiling/`).
//! - `raw`: (a1) and (a2).
//! - `drive`: runs N concurrent callers for a time or a count, with latency histograms.
//! - `library`: (b) through `gesta::Store`.
//! - `http`: (c) through the bank's router on its own runtime.
//! - `replay`: (e) filling a big log and scanning it.
//! - `sqlx`: (f) runs the `sqlx-ceiling` program and reads its result.
//! - `report`: the markdown table and the targets.

mod drive;
mod http;
mod library;
mod raw;
mod replay;
mod report;
mod sqlx;
mod transfer_sql;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use report::Report;
use transfer_sql::Limit;

/// Section names `--only` accepts.
const SECTIONS: [&str; 7] = ["a", "b", "c", "d", "e", "f", "driver"];

/// Gesta's benchmark harness.
#[derive(Debug, Parser)]
#[command(
    name = "gesta-bench",
    about = "Measures Gesta against raw SQLite ceilings"
)]
struct Args {
    /// Small counts for a smoke test (0.3 s per measurement, 20k-event replay).
    #[arg(long)]
    quick: bool,
    /// Also write the markdown report to FILE.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Run only these sections: a, b, c, d (= b and c), e, f (alias driver);
    /// comma-separated or repeated.
    #[arg(long, value_delimiter = ',', value_name = "SECTION")]
    only: Vec<String>,
    /// Seconds per measurement (default 3, or 0.3 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// Run a fixed number of commands per measurement instead of a fixed time.
    #[arg(long)]
    commands: Option<u64>,
    /// Events in the replay log (default 1,000,000, or 20,000 with --quick).
    #[arg(long)]
    events: Option<u64>,
    /// Accounts transfers pick from.
    #[arg(long, default_value_t = 1000)]
    accounts: usize,
    /// Commands per transaction in the raw (a2) and sqlx (f) loops (Gesta's max_batch).
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Concurrent library callers for (b).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    callers: Vec<usize>,
    /// Concurrent HTTP connections for (c).
    #[arg(long, value_delimiter = ',', default_values_t = [16, 64])]
    connections: Vec<usize>,
    /// Directory for the temporary database files (default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// What every measurement needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// When each measured loop stops.
    pub limit: Limit,
    /// Accounts transfers pick from.
    pub accounts: usize,
    /// Commands per transaction in the raw loops.
    pub batch: usize,
    /// Events in the replay log.
    pub events: u64,
    /// Where the temporary databases go.
    pub dir: Option<PathBuf>,
}

impl Settings {
    /// A fresh temporary directory for one measurement's database.
    pub fn tempdir(&self) -> anyhow::Result<tempfile::TempDir> {
        let dir = match &self.dir {
            Some(dir) => tempfile::Builder::new()
                .prefix("gesta-bench")
                .tempdir_in(dir),
            None => tempfile::Builder::new().prefix("gesta-bench").tempdir(),
        };
        dir.context("creating a temporary directory")
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = Settings {
        limit: Limit {
            duration: Duration::from_secs_f64(args.seconds.unwrap_or(if args.quick {
                0.3
            } else {
                3.0
            })),
            commands: args.commands,
        },
        accounts: args.accounts.max(2),
        batch: args.batch.max(1),
        events: args
            .events
            .unwrap_or(if args.quick { 20_000 } else { 1_000_000 }),
        dir: args.dir.clone(),
    };
    if let Some(bad) = args.only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        anyhow::bail!(
            "unknown section {bad:?}; use one of {}",
            SECTIONS.join(", ")
        );
    }
    // (d) is the latency of (b) and (c), so it runs both; `driver` is (f) (ADR 001).
    let wants = |section: &str| {
        args.only.is_empty()
            || args.only.iter().any(|s| {
                s == section
                    || (s == "d" && (section == "b" || section == "c"))
                    || (s == "driver" && section == "f")
            })
    };
    let mut report = Report::new(&settings);
    if wants("a") {
        raw::run(&settings, &mut report)?;
    }
    if wants("b") {
        library::run(&settings, &args.callers, &mut report)?;
    }
    if wants("c") {
        http::run(&settings, &args.connections, &mut report)?;
    }
    if wants("e") {
        replay::run(&settings, &mut report)?;
    }
    if wants("f") {
        sqlx::run(&settings, &mut report)?;
    }
    let markdown = report.markdown();
    println!("\n{markdown}");
    if let Some(out) = &args.out {
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("report written to {}", out.display());
    }
    Ok(())
}
