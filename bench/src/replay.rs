//! (e) Replay: fill a log of many events with rusqlite, then read it back in order
//! through `Store::scan` and, as the ceiling, with a raw rusqlite loop.

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
use crate::report::{Compare, Report, Row};
use crate::transfer_sql::{self, account_id, stream_of};

/// Rows per fill transaction.
const FILL_BATCH: u64 = 100_000;

/// Fills a log of `settings.events` events, then measures both read loops.
pub fn run(settings: &Settings, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("(e) replay of {} events", settings.events);
    let dir = settings.tempdir()?;
    let path = dir.path().join("replay.db");
    let started = Instant::now();
    fill(&path, settings.events, settings.accounts).context("filling the replay log")?;
    eprintln!(
        "  filled in {:.1} s ({:.0} MiB)",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&path).map_or(0, |m| m.len()) as f64 / (1 << 20) as f64
    );
    let (count, elapsed) = raw_read(&path).context("raw read loop")?;
    report.add(Row {
        key: "e_raw".into(),
        what: "raw: rusqlite SELECT of all columns in position order".into(),
        rate: count as f64 / elapsed.max(1e-9),
        unit: "events/s",
        compare: Compare::Reads,
        latency: None,
        count,
        errors: 0,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (count, elapsed) = runtime.block_on(scan(&path))?;
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
    Ok(())
}

/// Writes `events` Deposited events over `accounts` streams, with Gesta's schema.
fn fill(path: &Path, events: u64, accounts: usize) -> anyhow::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.execute_batch(transfer_sql::GESTA_SCHEMA)?;
    let streams: Vec<(String, String)> = (0..accounts)
        .map(|i| {
            let id = account_id(i);
            (
                stream_of(&id),
                format!(r#"{{"account_id":"{id}","amount":100}}"#),
            )
        })
        .collect();
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

/// `store.scan` over the whole log; returns (events, seconds).
async fn scan(path: &Path) -> anyhow::Result<(u64, f64)> {
    let url = format!("sqlite://{}", path.display());
    let store = Store::open(&url, gesta_bank::app())
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
