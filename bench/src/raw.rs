//! (a) Raw SQLite ceilings with rusqlite, no Gesta: one insert per commit from 1 and 16
//! connections (a1, a1x16), and the Transfer SQL in batched transactions (a2, and a2
//! with a savepoint per command and/or `temp_store=MEMORY`).

use anyhow::Context as _;
use rusqlite::params;
use uuid::Uuid;

use crate::backend::Engine;
use crate::report::{Compare, Report, Row};
use crate::server::{self, A1_CLIENTS, InsertOne};
use crate::transfer_sql::{self, Run};
use crate::{Settings, cpu};

/// Runs (a1), (a1x16), (a2) and its variants on SQLite and adds them to `report`.
pub fn run(settings: &Settings, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("(a) raw rusqlite ceilings");
    for clients in [1, A1_CLIENTS] {
        let cpu = cpu::Meter::start(Engine::Sqlite);
        let run = insert_per_commit(settings, clients).context("(a1) one insert per commit")?;
        let row = a1_row(clients, run);
        report.cpu_note(cpu.note(&row.key, run.commands));
        report.add(row);
    }
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
        let cpu = cpu::Meter::start(Engine::Sqlite);
        let run =
            transfer_batches(settings, savepoints, memory).with_context(|| format!("({key})"))?;
        report.cpu_note(cpu.note(key, run.commands));
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

/// The row of (a1) with one client, or (a1xN) with N.
pub fn a1_row(clients: usize, run: Run) -> Row {
    let (key, what) = if clients == 1 {
        (
            "a1".to_owned(),
            "raw: one event INSERT per transaction".to_owned(),
        )
    } else {
        (
            format!("a1x{clients}"),
            format!("raw: one event INSERT per transaction, {clients} concurrent clients"),
        )
    };
    Row {
        key,
        what,
        rate: run.rate(),
        unit: "ops/s",
        compare: Compare::Writes,
        latency: None,
        count: run.commands,
        errors: 0,
    }
}

/// A rusqlite connection inserting events in autocommit.
struct SqliteInserter(rusqlite::Connection);

impl InsertOne for SqliteInserter {
    fn insert_one(&mut self, position: i64) -> anyhow::Result<()> {
        let data = r#"{"account_id":"acct-00001","amount":100}"#;
        self.0
            .prepare_cached(transfer_sql::INSERT_EVENT)?
            .execute(params![
                position,
                "account-acct-00001",
                position,
                Uuid::now_v7().to_string(),
                "Deposited",
                data,
                transfer_sql::metadata("Deposit", Uuid::now_v7()),
                transfer_sql::now_micros()
            ])?;
        Ok(())
    }
}

/// (a1): autocommit INSERTs of one event each, on a durable file, from `clients`
/// connections on their own threads (SQLite serializes them on its write lock).
fn insert_per_commit(settings: &Settings, clients: usize) -> anyhow::Result<Run> {
    let dir = settings.tempdir()?;
    let path = dir.path().join("a1.db");
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(SqliteInserter(transfer_sql::open_durable(&path)?));
    }
    conns[0].0.execute_batch(transfer_sql::GESTA_SCHEMA)?;
    Ok(server::inserts(conns, settings.limit)?.0)
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
