//! (a) Raw ceilings with rusqlite, no Gesta: one insert per commit (a1), and the
//! Transfer SQL in batched transactions (a2, and a2 with a savepoint per command).

use std::time::Instant;

use anyhow::Context as _;
use rusqlite::params;
use uuid::Uuid;

use crate::Settings;
use crate::report::{Compare, Report, Row};
use crate::transfer_sql::{self, Run};

/// Runs (a1), (a2) and (a2 with savepoints) and adds them to `report`.
pub fn run(settings: &Settings, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("(a) raw rusqlite ceilings");
    let a1 = insert_per_commit(settings).context("(a1) one insert per commit")?;
    report.add(Row {
        key: "a1".into(),
        what: "raw: one event INSERT per transaction".into(),
        rate: a1.rate(),
        unit: "ops/s",
        compare: Compare::Writes,
        latency: None,
        count: a1.commands,
        errors: 0,
    });
    // (a2) proper uses Gesta's pragmas; the variants show what savepoints cost and what
    // keeping statement journals in memory (temp_store=MEMORY) would gain.
    let variants = [
        ("a2", false, false, ""),
        ("a2sp", true, false, ", SAVEPOINT per command"),
        ("a2mem", false, true, ", temp_store=MEMORY"),
        (
            "a2spmem",
            true,
            true,
            ", SAVEPOINT per command, temp_store=MEMORY",
        ),
    ];
    for (key, savepoints, memory, label) in variants {
        let run =
            transfer_batches(settings, savepoints, memory).with_context(|| format!("({key})"))?;
        let what = format!(
            "raw: Transfer SQL, {} per transaction{label}",
            settings.batch
        );
        report.add(Row {
            key: key.into(),
            what,
            rate: run.rate(),
            unit: "commands/s",
            compare: Compare::Writes,
            latency: None,
            count: run.commands,
            errors: 0,
        });
    }
    Ok(())
}

/// (a1): autocommit INSERTs of one event each, on a durable file.
fn insert_per_commit(settings: &Settings) -> anyhow::Result<Run> {
    let dir = settings.tempdir()?;
    let conn = transfer_sql::open_durable(&dir.path().join("a1.db"))?;
    conn.execute_batch(transfer_sql::GESTA_SCHEMA)?;
    let mut insert = conn.prepare(transfer_sql::INSERT_EVENT)?;
    let data = r#"{"account_id":"acct-00001","amount":100}"#;
    let started = Instant::now();
    let mut done = 0_u64;
    while !settings.limit.reached(started, done) {
        let command = Uuid::now_v7();
        insert.execute(params![
            done as i64 + 1,
            "account-acct-00001",
            done as i64 + 1,
            Uuid::now_v7().to_string(),
            "Deposited",
            data,
            transfer_sql::metadata("Deposit", command),
            transfer_sql::now_micros()
        ])?;
        done += 1;
    }
    Ok(Run {
        commands: done,
        elapsed: started.elapsed(),
    })
}

/// (a2): the Transfer loop on a fresh durable file with the bank's accounts. With
/// `memory`, `temp_store=MEMORY` keeps savepoint journals from spilling to a temp file.
fn transfer_batches(settings: &Settings, savepoints: bool, memory: bool) -> anyhow::Result<Run> {
    let dir = settings.tempdir()?;
    let mut conn = transfer_sql::open_durable(&dir.path().join("a2.db"))?;
    if memory {
        conn.pragma_update(None, "temp_store", "MEMORY")?;
    }
    transfer_sql::create_bank(&mut conn, settings.accounts)?;
    Ok(transfer_sql::transfer_loop(
        &mut conn,
        settings.accounts,
        settings.batch,
        savepoints,
        settings.limit,
    )?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::transfer_sql::{Limit, OPENING_BALANCE, Rng, create_bank, open_durable};

    #[test]
    fn pairs_are_two_different_accounts_in_range() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            let (from, to) = rng.pair(3);
            assert!(from < 3 && to < 3 && from != to);
        }
    }

    #[test]
    fn transfer_loop_writes_a_consistent_log_and_conserves_money() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_durable(&dir.path().join("t.db")).unwrap();
        create_bank(&mut conn, 10).unwrap();
        let limit = Limit {
            duration: Duration::from_secs(60),
            commands: Some(100),
        };
        let run = transfer_sql::transfer_loop(&mut conn, 10, 16, true, limit).unwrap();
        assert_eq!(run.commands, 100);
        let one = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(one("SELECT COUNT(*) FROM events"), 200);
        assert_eq!(one("SELECT MAX(position) FROM events"), 200);
        assert_eq!(
            one("SELECT SUM(balance) FROM accounts"),
            10 * OPENING_BALANCE
        );
        assert_eq!(one("SELECT SUM(version) FROM streams"), 200);
        let mismatched = one("SELECT COUNT(*) FROM streams s WHERE s.version <> \
             (SELECT MAX(stream_version) FROM events e WHERE e.stream_id = s.stream_id)");
        assert_eq!(mismatched, 0);
    }
}
