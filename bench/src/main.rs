//! `gesta-bench`: measures Gesta against raw database ceilings on SQLite, PostgreSQL
//! and MySQL/MariaDB, and prints one markdown table per backend.
//!
//! Run as `cargo run --release -p gesta-bench -- [--quick] [--backend sqlite,postgres,mysql]
//! [--out FILE] [--only a,b,c,e,f,j,k,o]`. Sections: (a) raw driver ceilings, (b) the library,
//! (c) HTTP, (d) latency of (b) and (c), (e) replay, (f) the SQLite (a2) loop over sqlx,
//! (j) the bank written in JavaScript against (b) and (c), (k) (c) with `--auth` and an
//! API key on every request, (o) on SQLite: the same HTTP Transfer without Gesta, one
//! transaction per request.
//! See docs/PERFORMANCE.md.
//!
//! # Layout
//!
//! - `backend`: which database, and a fresh file/schema/database per measurement.
//! - `cpu`: CPU time per operation of this process and of the database server.
//! - `transfer_sql`: the hand-written SQLite SQL of a Transfer (shared with
//!   `sqlx-ceiling/`), and the helpers every loop uses.
//! - `raw`: (a) on SQLite with rusqlite.
//! - `server`: (a) on the server backends, over the `RawConn` trait; `pg` and `my`
//!   implement it with the `postgres` and `mysql` crates.
//! - `drive`: runs N concurrent callers for a time or a count, with latency histograms.
//! - `library`: (b) through `gesta::Store`.
//! - `http`: (c) through the bank's router on its own runtime.
//! - `one_tx`: (o) on SQLite, the same Transfer over the same HTTP server without Gesta:
//!   one transaction per request.
//! - `js`: (j) the JavaScript bank (`js/bank.mjs`) through the library; `http` serves it.
//! - `replay`: (e) filling a big log and scanning it.
//! - `sqlx`: (f) runs the `sqlx-ceiling` program and reads its result.
//! - `report`: the markdown table and the targets.

mod backend;
mod cpu;
mod drive;
mod http;
mod js;
mod library;
mod my;
mod one_tx;
mod pg;
mod raw;
mod replay;
mod report;
mod server;
mod sqlx;
mod transfer_sql;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use backend::{DEFAULT_MYSQL_URL, DEFAULT_POSTGRES_URL, Engine, Target};
use report::Report;
use transfer_sql::Limit;

/// Section names `--only` accepts.
const SECTIONS: [&str; 10] = ["a", "b", "c", "d", "e", "f", "j", "k", "o", "driver"];

/// Round trips of `SELECT 1` whose median is reported per server backend.
const ROUND_TRIPS: usize = 1000;

/// Gesta's benchmark harness.
#[derive(Debug, Parser)]
#[command(
    name = "gesta-bench",
    about = "Measures Gesta against raw SQLite, PostgreSQL and MySQL/MariaDB ceilings"
)]
struct Args {
    /// Backends to measure, comma-separated or repeated (default: sqlite, plus postgres
    /// and mysql when their URL is given).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "BACKEND")]
    backend: Vec<Engine>,
    /// PostgreSQL server; each measurement gets a fresh schema in its database
    /// [default with --backend postgres: postgres://postgres@127.0.0.1:5432/test].
    #[arg(long, env = "GESTA_BENCH_POSTGRES_URL", value_name = "URL")]
    postgres_url: Option<String>,
    /// MySQL/MariaDB server; each measurement gets a fresh database on it
    /// [default with --backend mysql: mysql://root@127.0.0.1:3306/test].
    #[arg(long, env = "GESTA_BENCH_MYSQL_URL", value_name = "URL")]
    mysql_url: Option<String>,
    /// Small counts for a smoke test (0.3 s per measurement, 20k-event replay).
    #[arg(long)]
    quick: bool,
    /// Also write the markdown report to FILE.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Run only these sections: a, b, c, d (= b and c), e, f (alias driver), j (the JavaScript bank, with b and c);
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
    // (d) is the latency of (b) and (c), so it runs both; (j) is compared with (b) and
    // (c) of the same run, so it runs them too; `driver` is (f) (ADR 001).
    let wants = |section: &str| {
        args.only.is_empty()
            || args.only.iter().any(|s| {
                s == section
                    || ((s == "d" || s == "j") && (section == "b" || section == "c"))
                    || (s == "driver" && section == "f")
            })
    };
    let mut markdown = String::new();
    let mut failed = Vec::new();
    for target in targets(&args) {
        let title = target.backend.title();
        eprintln!("== {title}");
        match run_backend(&settings, &args, target, &wants) {
            Ok(report) => {
                let section = report.markdown();
                println!("\n{section}");
                markdown.push_str(&section);
                markdown.push('\n');
            }
            Err(err) => {
                eprintln!("{title} failed: {err:#}");
                failed.push(format!("{title}: {err:#}"));
            }
        }
    }
    if let Some(out) = &args.out {
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("report written to {}", out.display());
    }
    if !failed.is_empty() {
        anyhow::bail!("some backends failed:\n{}", failed.join("\n"));
    }
    Ok(())
}

/// The backends to measure, with their server URLs.
fn targets(args: &Args) -> Vec<Target> {
    let mut backends = args.backend.clone();
    if backends.is_empty() {
        backends.push(Engine::Sqlite);
        if args.postgres_url.is_some() {
            backends.push(Engine::Postgres);
        }
        if args.mysql_url.is_some() {
            backends.push(Engine::Mysql);
        }
    }
    backends.dedup();
    backends
        .into_iter()
        .map(|backend| {
            let url = match backend {
                Engine::Sqlite => String::new(),
                Engine::Postgres => args
                    .postgres_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned()),
                Engine::Mysql => args
                    .mysql_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_MYSQL_URL.to_owned()),
            };
            Target {
                backend,
                url,
                round_trip: None,
            }
        })
        .collect()
}

/// Runs the wanted sections on one backend.
fn run_backend(
    settings: &Settings,
    args: &Args,
    mut target: Target,
    wants: &dyn Fn(&str) -> bool,
) -> anyhow::Result<Report> {
    let mut header = Vec::new();
    let mut targets = report::common_targets();
    if target.backend == Engine::Sqlite {
        header.push(format!(
            "SQLite {} (rusqlite, bundled); fresh database file per measurement, WAL, \
             synchronous=FULL",
            rusqlite::version()
        ));
    } else {
        let described = target
            .describe()
            .with_context(|| format!("connecting to {}", target.url))?;
        let what = match target.backend {
            Engine::Postgres => "schema",
            _ => "database",
        };
        header.push(format!("{described}; fresh {what} per measurement"));
        let rtt = target.round_trip(ROUND_TRIPS)?;
        eprintln!("  round trip of SELECT 1: {:.1} µs", micros(rtt));
        header.push(format!(
            "round trip of a prepared `SELECT 1` over TCP: median {:.1} µs of {ROUND_TRIPS} \
             (at the start of this backend's run)",
            micros(rtt)
        ));
        target.round_trip = Some(rtt);
    }
    if target.backend == Engine::Sqlite {
        targets.push(report::Target {
            name: "HTTP, 64 connections vs one SQLite transaction per request over HTTP (o64)",
            key: "c64",
            base: Some("o64"),
            required: 5.0,
            text: ">= 5x",
        });
        targets.push(report::Target {
            name: "HTTP, 64 connections vs library, 64 callers (issue 16)",
            key: "c64",
            base: Some("b64"),
            required: 0.85,
            text: ">= 0.85x",
        });
        targets.push(report::Target {
            name: "library, 64 callers vs (a2) (issue 16)",
            key: "b64",
            base: Some("a2"),
            required: 0.9,
            text: ">= 0.9x",
        });
    }
    if target.backend == Engine::Postgres {
        targets.push(report::Target {
            name: "library, 64 callers (issue: group commit on PostgreSQL)",
            key: "b64",
            base: None,
            required: 20_000.0,
            text: "> 20,000 commands/s",
        });
    }
    header.push(Report::settings_line(settings));
    header.push(format!("load average at the start: {}", load_average()));
    let mut report = Report::new(target.backend.title(), header, targets);
    if wants("a") {
        match target.backend {
            Engine::Sqlite => raw::run(settings, &mut report)?,
            _ => server::run(settings, &target, &mut report)?,
        }
    }
    if wants("b") {
        library::run(settings, &target, &args.callers, &mut report)?;
    }
    if wants("c") {
        http::run(
            settings,
            &target,
            &args.connections,
            http::BankApp::Rust,
            &mut report,
        )?;
    }
    if wants("o") && target.backend == Engine::Sqlite {
        http::run(
            settings,
            &target,
            &args.connections,
            http::BankApp::OneTxPerCommand,
            &mut report,
        )?;
    }
    if wants("k") {
        http::run(
            settings,
            &target,
            &args.connections,
            http::BankApp::RustWithAuth,
            &mut report,
        )?;
    }
    if wants("j") {
        js::run(settings, &target, &args.callers, &mut report)?;
        http::run(
            settings,
            &target,
            &args.connections,
            http::BankApp::JavaScript,
            &mut report,
        )?;
    }
    if wants("e") {
        replay::run(settings, &target, &mut report)?;
    }
    if wants("f") && target.backend == Engine::Sqlite {
        sqlx::run(settings, &mut report)?;
    }
    if target.backend != Engine::Sqlite {
        let rtt = target.round_trip(ROUND_TRIPS)?;
        report.note(format!(
            "round trip of `SELECT 1` at the end of this backend's run: median {:.1} µs",
            micros(rtt)
        ));
    }
    report.note(format!(
        "load average at the end of this backend's run: {}",
        load_average()
    ));
    Ok(report)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The 1, 5 and 15 minute load averages (Linux), or `?`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "?".to_owned())
}
