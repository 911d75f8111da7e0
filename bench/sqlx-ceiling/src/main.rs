//! `gesta-bench-sqlx`: the (a2) Transfer loop over sqlx's async SQLite driver and over
//! rusqlite on the calling thread, with identical SQL and the same SQLite build.
//!
//! Usage: `gesta-bench-sqlx --dir DIR --seconds S [--commands N] --accounts A --batch B`.
//! Prints one JSON line: `{"sqlite_version", "rusqlite": {"commands", "seconds",
//! "context_switches"}, "sqlx": {...}}`. Run by `gesta-bench` for section (f).

#[path = "../../src/transfer_sql.rs"]
#[allow(dead_code)]
mod transfer_sql;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use transfer_sql::{
    ADD, AMOUNT, BUMP_STREAM, INSERT_EVENT, Limit, Rng, Run, SELECT_BALANCE, SUBTRACT, account_id,
    metadata, now_micros, stream_of, transfer_data,
};
use uuid::Uuid;

struct Args {
    dir: PathBuf,
    limit: Limit,
    accounts: usize,
    batch: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        dir: std::env::temp_dir(),
        limit: Limit {
            duration: Duration::from_secs(3),
            commands: None,
        },
        accounts: 1000,
        batch: 512,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dir" => args.dir = PathBuf::from(value),
            "--seconds" => args.limit.duration = Duration::from_secs_f64(value.parse()?),
            "--commands" => args.limit.commands = Some(value.parse()?),
            "--accounts" => args.accounts = value.parse::<usize>()?.max(2),
            "--batch" => args.batch = value.parse::<usize>()?.max(1),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

fn fresh_bank(path: &Path, accounts: usize) -> anyhow::Result<rusqlite::Connection> {
    let _ = std::fs::remove_file(path);
    let mut conn = transfer_sql::open_durable(path)?;
    transfer_sql::create_bank(&mut conn, accounts)?;
    Ok(conn)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let rusqlite_path = args.dir.join("f-rusqlite.db");
    let mut conn = fresh_bank(&rusqlite_path, args.accounts)?;
    let switches = context_switches();
    let rusqlite_run =
        transfer_sql::transfer_loop(&mut conn, args.accounts, args.batch, false, args.limit)?;
    let rusqlite_switches = context_switches() - switches;
    drop(conn);
    let sqlx_path = args.dir.join("f-sqlx.db");
    drop(fresh_bank(&sqlx_path, args.accounts)?);
    let (sqlx_run, sqlx_switches) = sqlx_loop(&sqlx_path, &args).await?;
    println!(
        r#"{{"sqlite_version":"{}","rusqlite":{},"sqlx":{}}}"#,
        rusqlite::version(),
        json(&rusqlite_run, rusqlite_switches),
        json(&sqlx_run, sqlx_switches),
    );
    Ok(())
}

fn json(run: &Run, switches: i64) -> String {
    format!(
        r#"{{"commands":{},"seconds":{},"context_switches":{switches}}}"#,
        run.commands,
        run.elapsed.as_secs_f64()
    )
}

/// Context switches of every live thread of this process so far (Linux; 0 elsewhere).
fn context_switches() -> i64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().last()?.parse::<i64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// The same transactions and statements as `transfer_sql::transfer_loop`, over sqlx;
/// also returns the context switches the loop took.
async fn sqlx_loop(path: &Path, args: &Args) -> anyhow::Result<(Run, i64)> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .statement_cache_capacity(256);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let mut rng = Rng::new(0xA2);
    let max: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM events")
        .fetch_one(&mut conn)
        .await?;
    let mut position = max.unwrap_or(0) + 1;
    let switches = context_switches();
    let started = Instant::now();
    let mut done = 0_u64;
    while !args.limit.reached(started, done) {
        sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut conn).await?;
        for _ in 0..args.batch {
            let (from, to) = rng.pair(args.accounts);
            if transfer(&mut conn, &account_id(from), &account_id(to), &mut position).await? {
                done += 1;
            }
            if args.limit.commands.is_some_and(|n| done >= n) {
                break;
            }
        }
        sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
    }
    let elapsed = started.elapsed();
    let switches = context_switches() - switches;
    conn.close().await?;
    let run = Run {
        commands: done,
        elapsed,
    };
    Ok((run, switches))
}

async fn transfer(
    conn: &mut SqliteConnection,
    from: &str,
    to: &str,
    position: &mut i64,
) -> anyhow::Result<bool> {
    let balance: i64 = sqlx::query_scalar(SELECT_BALANCE)
        .bind(from)
        .fetch_one(&mut *conn)
        .await?;
    if balance < AMOUNT {
        return Ok(false);
    }
    let data = transfer_data(from, to);
    let meta = metadata("Transfer", Uuid::now_v7());
    let recorded_at = now_micros();
    for (account, event_type, reducer) in [
        (from, "TransferSent", SUBTRACT),
        (to, "TransferReceived", ADD),
    ] {
        let stream = stream_of(account);
        let version: i64 = sqlx::query_scalar(BUMP_STREAM)
            .bind(&stream)
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query(INSERT_EVENT)
            .bind(*position)
            .bind(&stream)
            .bind(version)
            .bind(Uuid::now_v7().to_string())
            .bind(event_type)
            .bind(&data)
            .bind(&meta)
            .bind(recorded_at)
            .execute(&mut *conn)
            .await?;
        *position += 1;
        sqlx::query(reducer)
            .bind(account)
            .bind(AMOUNT)
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}
