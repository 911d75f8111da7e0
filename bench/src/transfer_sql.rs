//! The SQL a bank `Transfer` needs, hand-written with rusqlite: the raw ceiling (a2).
//!
//! This file is shared with `bench/sqlx-ceiling` (included there by `#[path]`), so it
//! uses only std, `rusqlite` (any recent version) and `uuid`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

/// Gesta's own SQLite schema, exactly as the library creates it.
pub const GESTA_SCHEMA: &str = include_str!("../../crates/gesta/src/backend/sqlite/schema.sql");

/// The bank's `accounts` table (same text as `gesta_bank::accounts::migration()`).
pub const ACCOUNTS_DDL: &str = "CREATE TABLE accounts (
    id      VARCHAR(64)  PRIMARY KEY,
    owner   VARCHAR(200) NOT NULL,
    balance BIGINT       NOT NULL CHECK (balance >= 0)
)";

/// Reads the balance of the debited account.
pub const SELECT_BALANCE: &str = "SELECT balance FROM accounts WHERE id = ?1";
/// Bumps a stream's version and returns it (the upsert of `streams`).
pub const BUMP_STREAM: &str = "INSERT INTO streams (stream_id, version) VALUES (?1, 1) \
    ON CONFLICT (stream_id) DO UPDATE SET version = version + 1 RETURNING version";
/// Appends one event.
pub const INSERT_EVENT: &str = "INSERT INTO events \
    (position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
/// The debit reducer.
pub const SUBTRACT: &str = "UPDATE accounts SET balance = balance - ?2 WHERE id = ?1";
/// The credit reducer.
pub const ADD: &str = "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1";

/// Cents moved by every benchmark transfer.
pub const AMOUNT: i64 = 1;
/// Opening balance of every benchmark account: never runs out.
pub const OPENING_BALANCE: i64 = 1_000_000_000;

/// When a measured loop stops: after `duration`, or after `commands` if given.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Wall-clock budget.
    pub duration: Duration,
    /// Command budget (takes precedence over `duration` when set).
    pub commands: Option<u64>,
}

impl Limit {
    /// Whether a loop that started at `started` and did `done` commands must stop.
    pub fn reached(&self, started: Instant, done: u64) -> bool {
        match self.commands {
            Some(n) => done >= n,
            None => started.elapsed() >= self.duration,
        }
    }
}

/// A small deterministic generator (SplitMix64) for picking accounts.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Two different accounts out of `accounts` (at least 2).
    pub fn pair(&mut self, accounts: usize) -> (usize, usize) {
        let n = accounts as u64;
        let from = self.next_u64() % n;
        let to = (from + 1 + self.next_u64() % (n - 1)) % n;
        (from as usize, to as usize)
    }
}

/// The id of benchmark account `i`.
pub fn account_id(i: usize) -> String {
    format!("acct-{i:05}")
}

/// The stream of an account, as the bank names it.
pub fn stream_of(account: &str) -> String {
    format!("account-{account}")
}

/// The event data of a transfer, as Gesta stores the bank's `Transfer` command.
pub fn transfer_data(from: &str, to: &str) -> String {
    format!(r#"{{"from":"{from}","to":"{to}","amount":{AMOUNT}}}"#)
}

/// Event metadata shaped as Gesta writes it for a command.
pub fn metadata(command: &str, command_id: Uuid) -> String {
    format!(
        r#"{{"command_id":"{command_id}","command":"{command}","correlation_id":"{command_id}","causation_id":"{command_id}"}}"#
    )
}

/// Microseconds since the Unix epoch (Gesta's `recorded_at`).
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Opens (creating) a SQLite file with WAL and `synchronous=FULL`, as Gesta does.
pub fn open_durable(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(256);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Creates Gesta's tables and the bank's `accounts`, and opens `accounts` accounts.
pub fn create_bank(conn: &mut Connection, accounts: usize) -> rusqlite::Result<()> {
    conn.execute_batch(GESTA_SCHEMA)?;
    conn.execute_batch(ACCOUNTS_DDL)?;
    let tx = conn.transaction()?;
    {
        let mut insert =
            tx.prepare("INSERT INTO accounts (id, owner, balance) VALUES (?1, 'bench', ?2)")?;
        for i in 0..accounts {
            insert.execute(params![account_id(i), OPENING_BALANCE])?;
        }
    }
    tx.commit()
}

/// What a measured loop did.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Commands completed.
    pub commands: u64,
    /// Wall time they took.
    pub elapsed: Duration,
}

impl Run {
    /// Commands per second.
    pub fn rate(&self) -> f64 {
        self.commands as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs transfers between random accounts in transactions of `batch` commands until
/// `limit`; with `savepoints`, each command runs inside its own savepoint as in Gesta.
pub fn transfer_loop(
    conn: &mut Connection,
    accounts: usize,
    batch: usize,
    savepoints: bool,
    limit: Limit,
) -> rusqlite::Result<Run> {
    let mut rng = Rng::new(0xA2);
    let max: Option<i64> = conn
        .query_row("SELECT MAX(position) FROM events", [], |r| r.get(0))
        .optional()?
        .flatten();
    let mut position = max.unwrap_or(0) + 1;
    let started = Instant::now();
    let mut done = 0_u64;
    while !limit.reached(started, done) {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for _ in 0..batch {
            if savepoints {
                conn.execute_batch("SAVEPOINT bench_unit")?;
            }
            let (from, to) = rng.pair(accounts);
            if transfer(conn, &account_id(from), &account_id(to), &mut position)? {
                done += 1;
            }
            if savepoints {
                conn.execute_batch("RELEASE SAVEPOINT bench_unit")?;
            }
            if limit.commands.is_some_and(|n| done >= n) {
                break;
            }
        }
        conn.execute_batch("COMMIT")?;
    }
    Ok(Run {
        commands: done,
        elapsed: started.elapsed(),
    })
}

/// One transfer's SQL; `false` if the balance was too low (nothing written).
pub fn transfer(
    conn: &Connection,
    from: &str,
    to: &str,
    position: &mut i64,
) -> rusqlite::Result<bool> {
    let balance: i64 = conn
        .prepare_cached(SELECT_BALANCE)?
        .query_row(params![from], |r| r.get(0))?;
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
        let version: i64 = conn
            .prepare_cached(BUMP_STREAM)?
            .query_row(params![stream], |r| r.get(0))?;
        conn.prepare_cached(INSERT_EVENT)?.execute(params![
            *position,
            stream,
            version,
            Uuid::now_v7().to_string(),
            event_type,
            data,
            meta,
            recorded_at
        ])?;
        *position += 1;
        conn.prepare_cached(reducer)?
            .execute(params![account, AMOUNT])?;
    }
    Ok(true)
}
