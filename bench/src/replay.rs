//! (e) Replay: fill a log of many events with the driver (multi-row `INSERT`s on the
//! servers), then read it back in order with a raw driver loop (the ceiling) and through
//! `Store::scan`; then copy it (`gesta copy`) into a fresh store of the same backend.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use gesta::Store;
use gesta::event::Position;
use rusqlite::{Connection, OpenFlags, params};
use uuid::Uuid;

use crate::Settings;
use crate::backend::{Engine, Scratch, Target};
use crate::report::{Compare, Report, Row, rate};
use crate::transfer_sql::{self, account_id, stream_of};

/// Rows per fill transaction.
const FILL_BATCH: u64 = 100_000;

/// Fills a log of `settings.events` events, then measures both read loops.
pub fn run(settings: &Settings, target: &Target, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("(e) replay of {} events", settings.events);
    let scratch = Scratch::new(settings, target, "replay")?;
    let started = Instant::now();
    let fill_rate = |started: Instant| settings.events as f64 / started.elapsed().as_secs_f64();
    let filled;
    let raw_read = match (&scratch.path, target.backend) {
        (Some(path), Engine::Sqlite) => {
            fill(path, settings.events, settings.accounts).context("filling the replay log")?;
            filled = fill_rate(started);
            eprintln!(
                "  filled in {:.1} s ({:.0} MiB)",
                started.elapsed().as_secs_f64(),
                std::fs::metadata(path).map_or(0, |m| m.len()) as f64 / (1 << 20) as f64
            );
            raw_read(path).context("raw read loop")?
        }
        _ => {
            let mut conn = target.raw(&scratch.url)?;
            conn.create_gesta_schema()?;
            conn.fill(settings.events, settings.accounts)
                .context("filling the replay log")?;
            filled = fill_rate(started);
            eprintln!("  filled in {:.1} s", started.elapsed().as_secs_f64());
            let started = Instant::now();
            let count = conn.read_all().context("raw read loop")?;
            (count, started.elapsed().as_secs_f64())
        }
    };
    let (count, elapsed) = raw_read;
    let driver = match target.backend {
        Engine::Sqlite => "rusqlite",
        Engine::Postgres => "postgres crate",
        Engine::Mysql => "mysql crate",
    };
    report.add(Row {
        key: "e_raw".into(),
        what: format!("raw: {driver} SELECT of all columns in position order"),
        rate: count as f64 / elapsed.max(1e-9),
        unit: "events/s",
        compare: Compare::Reads,
        latency: None,
        count,
        errors: settings.events.saturating_sub(count),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (count, elapsed) = runtime.block_on(scan(&scratch.url))?;
    let copy_to = Scratch::new(settings, target, "copy")?;
    let copied = runtime.block_on(copy(&scratch.url, &copy_to.url))?;
    drop(runtime);
    let missing = settings.events.saturating_sub(count);
    report.add(Row {
        key: "e".into(),
        what: "library: store.scan(Position(0), ..)".into(),
        rate: count as f64 / elapsed.max(1e-9),
        unit: "events/s",
        compare: Compare::Reads,
        latency: None,
        count,
        errors: missing,
    });
    let (copied_count, copy_seconds) = copied;
    let copy_rate = copied_count as f64 / copy_seconds.max(1e-9);
    report.add(Row {
        key: "e_copy".into(),
        what: "library: gesta copy into a fresh store, checksums verified".into(),
        rate: copy_rate,
        unit: "events/s",
        compare: Compare::Reads,
        latency: None,
        count: copied_count,
        errors: settings.events.saturating_sub(copied_count),
    });
    report.note(format!(
        "e_copy: the raw fill loop wrote {} events/s; the copy ran at {:.2}x of it",
        rate(filled),
        copy_rate / filled.max(1e-9)
    ));
    Ok(())
}

/// Copies the store at `from` into the empty store at `to` (checksums verified);
/// returns (events, seconds).
async fn copy(from: &str, to: &str) -> anyhow::Result<(u64, f64)> {
    let app = || gesta::App::new("bench-replay");
    let source = Store::open(from, app()).await?;
    let target = Store::open(to, app()).await?;
    let started = Instant::now();
    let report = gesta::copy::copy(&source, &target, |_| {}).await?;
    Ok((report.events_copied, started.elapsed().as_secs_f64()))
}

/// Per account: its stream and the data of a deposit to it.
pub fn deposit_streams(accounts: usize) -> Vec<(String, String)> {
    (0..accounts)
        .map(|i| {
            let id = account_id(i);
            (
                stream_of(&id),
                format!(r#"{{"account_id":"{id}","amount":100}}"#),
            )
        })
        .collect()
}

/// Writes `events` Deposited events over `accounts` streams, with Gesta's schema.
fn fill(path: &Path, events: u64, accounts: usize) -> anyhow::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.execute_batch(transfer_sql::GESTA_SCHEMA)?;
    let streams = deposit_streams(accounts);
    let recorded_at = transfer_sql::now_micros();
    let mut position = 0_u64;
    while position < events {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare(transfer_sql::INSERT_EVENT)?;
            let end = (position + FILL_BATCH).min(events);
            while position < end {
                let slot = (position % accounts as u64) as usize;
                let version = position / accounts as u64 + 1;
                let (stream, data) = &streams[slot];
                position += 1;
                insert.execute(params![
                    position as i64,
                    stream,
                    version as i64,
                    Uuid::now_v7().to_string(),
                    "Deposited",
                    data,
                    transfer_sql::metadata("Deposit", Uuid::now_v7()),
                    recorded_at + position as i64
                ])?;
            }
        }
        tx.commit()?;
    }
    conn.execute(
        "INSERT INTO streams (stream_id, version) \
         SELECT stream_id, MAX(stream_version) FROM events GROUP BY stream_id",
        [],
    )?;
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
    Ok(())
}

/// Reads every column of every event in position order; returns (events, seconds).
fn raw_read(path: &Path) -> anyhow::Result<(u64, f64)> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let started = Instant::now();
    let mut stmt = conn.prepare(
        "SELECT position, stream_id, stream_version, event_id, event_type, data, metadata, \
         recorded_at FROM events WHERE position > ?1 ORDER BY position",
    )?;
    let mut rows = stmt.query(params![0_i64])?;
    let (mut count, mut bytes) = (0_u64, 0_usize);
    while let Some(row) = rows.next()? {
        for i in 0..8 {
            bytes += match row.get_ref(i)? {
                rusqlite::types::ValueRef::Text(t) => t.len(),
                _ => 8,
            };
        }
        count += 1;
    }
    std::hint::black_box(bytes);
    Ok((count, started.elapsed().as_secs_f64()))
}

/// `store.scan` over the whole log; returns (events, seconds). The store opens an
/// application without read models, so nothing catches up before the scan.
async fn scan(url: &str) -> anyhow::Result<(u64, f64)> {
    let store = Store::open(url, gesta::App::new("bench-replay"))
        .await
        .with_context(|| format!("opening {url}"))?;
    let bytes = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&bytes);
    let started = Instant::now();
    let count = store
        .scan(Position(0), move |event| {
            let n = event.data.get().len()
                + event.metadata.get().len()
                + event.stream_id.as_str().len();
            seen.fetch_add(n as u64, Ordering::Relaxed);
        })
        .await?;
    let elapsed = started.elapsed().as_secs_f64();
    std::hint::black_box(bytes.load(Ordering::Relaxed));
    Ok((count, elapsed))
}
