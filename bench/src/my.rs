//! The raw MySQL/MariaDB loops with the synchronous `mysql` crate (the driver Gesta's
//! MySQL backend uses): server-side prepared statements, binary protocol.

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, Params, Statement, Value};
use uuid::Uuid;

use crate::server::RawConn;
use crate::transfer_sql::{
    ACCOUNTS_DDL, AMOUNT, OPENING_BALANCE, account_id, metadata, now_micros, stream_of,
    transfer_data,
};

/// Gesta's own MySQL/MariaDB schema, exactly as the library creates it (MariaDB's
/// collation; MySQL gets `utf8mb4_0900_bin`, as in the library).
pub const SCHEMA: &str = include_str!("../../crates/gesta/src/backend/mysql/schema.sql");

const SELECT_BALANCE: &str = "SELECT balance FROM accounts WHERE id = ?";
/// The upsert hands the new version back through `LAST_INSERT_ID(expr)` in the OK
/// packet (MySQL has no `RETURNING`): an insert changes 1 row (version 1), an update 2.
const BUMP_STREAM: &str = "INSERT INTO streams (stream_id, version) VALUES (?, 1) \
    ON DUPLICATE KEY UPDATE version = LAST_INSERT_ID(version + 1)";
const INSERT_EVENT: &str = "INSERT INTO events \
    (position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
const SUBTRACT: &str = "UPDATE accounts SET balance = balance - ? WHERE id = ?";
const ADD: &str = "UPDATE accounts SET balance = balance + ? WHERE id = ?";
const READ_ALL: &str = "SELECT position, stream_id, stream_version, event_id, event_type, data, \
    metadata, recorded_at FROM events WHERE position > ? ORDER BY position";
/// Rows per multi-row `INSERT` when filling the replay log.
const ROWS_PER_INSERT: usize = 1000;
/// Multi-row `INSERT`s per transaction when filling.
const INSERTS_PER_TX: usize = 100;

/// The transfer's statements, prepared once the tables exist.
struct Transfer {
    balance: Statement,
    bump: Statement,
    insert: Statement,
    subtract: Statement,
    add: Statement,
}

/// One MySQL/MariaDB connection.
pub struct MyRaw {
    conn: Conn,
    ping: Option<Statement>,
    insert: Option<Statement>,
    transfer: Option<Transfer>,
}

impl MyRaw {
    /// Connects to `url` with utf8mb4 and READ COMMITTED, as Gesta's writer does.
    pub fn connect(url: &str) -> anyhow::Result<Self> {
        let mut conn = Conn::new(Opts::from_url(url)?)?;
        conn.query_drop(
            "SET NAMES utf8mb4; SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        )?;
        Ok(MyRaw {
            conn,
            ping: None,
            insert: None,
            transfer: None,
        })
    }

    fn prepared(
        slot: &mut Option<Statement>,
        conn: &mut Conn,
        sql: &str,
    ) -> anyhow::Result<Statement> {
        if slot.is_none() {
            *slot = Some(conn.prep(sql)?);
        }
        slot.clone().ok_or_else(|| anyhow::anyhow!("not prepared"))
    }

    /// Bumps `stream`'s version and returns it.
    fn bump(conn: &mut Conn, statement: &Statement, stream: &str) -> anyhow::Result<i64> {
        conn.exec_drop(statement, (stream,))?;
        Ok(match conn.affected_rows() {
            1 => 1,
            _ => i64::try_from(conn.last_insert_id())?,
        })
    }
}

/// `INSERT INTO events (...) VALUES (?, ..., ?), ...` for `rows` rows.
fn multi_row_insert(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (position, stream_id, stream_version, event_id, event_type, data, \
         metadata, recorded_at) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?)");
    }
    sql
}

/// The parameters of the events at `first..first + rows`.
fn rows_params(first: u64, rows: usize, streams: &[(String, String)], recorded_at: i64) -> Params {
    let accounts = streams.len() as u64;
    let mut values = Vec::with_capacity(8 * rows);
    for position in first..first + rows as u64 {
        let (stream, data) = &streams[((position - 1) % accounts) as usize];
        values.extend([
            Value::Int(position as i64),
            Value::from(stream.as_str()),
            Value::Int(((position - 1) / accounts + 1) as i64),
            Value::from(Uuid::now_v7().to_string()),
            Value::from("Deposited"),
            Value::from(data.as_str()),
            Value::from(metadata("Deposit", Uuid::now_v7())),
            Value::Int(recorded_at + position as i64),
        ]);
    }
    Params::Positional(values)
}

impl RawConn for MyRaw {
    fn batch(&mut self, sql: &str) -> anyhow::Result<()> {
        Ok(self.conn.query_drop(sql)?)
    }

    fn ping(&mut self) -> anyhow::Result<()> {
        let statement = Self::prepared(&mut self.ping, &mut self.conn, "SELECT 1")?;
        let one: Option<i64> = self.conn.exec_first(&statement, ())?;
        std::hint::black_box(one);
        Ok(())
    }

    fn describe(&mut self) -> anyhow::Result<String> {
        let row: Option<(String, i64, i64, i64, i64)> = self.conn.query_first(
            "SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@log_bin, @@sync_binlog, \
             @@innodb_buffer_pool_size",
        )?;
        let (version, flush, log_bin, sync_binlog, pool) =
            row.ok_or_else(|| anyhow::anyhow!("no server settings"))?;
        let binlog = if log_bin == 1 {
            format!("binary log on, sync_binlog={sync_binlog}")
        } else {
            "binary log off".to_owned()
        };
        Ok(format!(
            "{version}; innodb_flush_log_at_trx_commit={flush}, {binlog}, \
             innodb_buffer_pool_size={} MiB",
            pool >> 20
        ))
    }

    fn create_gesta_schema(&mut self) -> anyhow::Result<()> {
        let version: String = self
            .conn
            .query_first("SELECT VERSION()")?
            .unwrap_or_default();
        if version.contains("MariaDB") {
            self.conn.query_drop(SCHEMA)?;
        } else {
            self.conn
                .query_drop(SCHEMA.replace("utf8mb4_nopad_bin", "utf8mb4_0900_bin"))?;
        }
        Ok(())
    }

    fn create_accounts(&mut self, accounts: usize) -> anyhow::Result<()> {
        self.conn.query_drop(ACCOUNTS_DDL)?;
        let mut tx = self.conn.start_transaction(mysql::TxOpts::default())?;
        let insert = tx.prep("INSERT INTO accounts (id, owner, balance) VALUES (?, 'bench', ?)")?;
        for i in 0..accounts {
            tx.exec_drop(&insert, (account_id(i), OPENING_BALANCE))?;
        }
        Ok(tx.commit()?)
    }

    fn insert_event(&mut self, position: i64) -> anyhow::Result<()> {
        let statement = Self::prepared(&mut self.insert, &mut self.conn, INSERT_EVENT)?;
        let params: Vec<Value> = vec![
            position.into(),
            "account-acct-00001".into(),
            position.into(),
            Uuid::now_v7().to_string().into(),
            "Deposited".into(),
            r#"{"account_id":"acct-00001","amount":100}"#.into(),
            metadata("Deposit", Uuid::now_v7()).into(),
            now_micros().into(),
        ];
        self.conn
            .exec_drop(&statement, Params::Positional(params))?;
        Ok(())
    }

    fn transfer(&mut self, from: &str, to: &str, position: &mut i64) -> anyhow::Result<bool> {
        if self.transfer.is_none() {
            self.transfer = Some(Transfer {
                balance: self.conn.prep(SELECT_BALANCE)?,
                bump: self.conn.prep(BUMP_STREAM)?,
                insert: self.conn.prep(INSERT_EVENT)?,
                subtract: self.conn.prep(SUBTRACT)?,
                add: self.conn.prep(ADD)?,
            });
        }
        let Some(st) = self.transfer.as_ref() else {
            anyhow::bail!("statements not prepared");
        };
        let conn = &mut self.conn;
        let balance: Option<i64> = conn.exec_first(&st.balance, (from,))?;
        if balance.unwrap_or(0) < AMOUNT {
            return Ok(false);
        }
        let data = transfer_data(from, to);
        let meta = metadata("Transfer", Uuid::now_v7());
        let recorded_at = now_micros();
        for (account, event_type, reducer) in [
            (from, "TransferSent", &st.subtract),
            (to, "TransferReceived", &st.add),
        ] {
            let stream = stream_of(account);
            let version = Self::bump(conn, &st.bump, &stream)?;
            let params: Vec<Value> = vec![
                (*position).into(),
                stream.as_str().into(),
                version.into(),
                Uuid::now_v7().to_string().into(),
                event_type.into(),
                data.as_str().into(),
                meta.as_str().into(),
                recorded_at.into(),
            ];
            conn.exec_drop(&st.insert, Params::Positional(params))?;
            *position += 1;
            conn.exec_drop(reducer, (AMOUNT, account))?;
        }
        Ok(true)
    }

    fn fill(&mut self, events: u64, accounts: usize) -> anyhow::Result<()> {
        let streams = crate::replay::deposit_streams(accounts);
        let recorded_at = now_micros();
        let full = self.conn.prep(multi_row_insert(ROWS_PER_INSERT))?;
        let mut next = 1_u64;
        while next <= events {
            self.conn.query_drop("BEGIN")?;
            for _ in 0..INSERTS_PER_TX {
                let rows = (events + 1 - next).min(ROWS_PER_INSERT as u64) as usize;
                if rows == 0 {
                    break;
                }
                let params = rows_params(next, rows, &streams, recorded_at);
                if rows == ROWS_PER_INSERT {
                    self.conn.exec_drop(&full, params)?;
                } else {
                    self.conn.exec_drop(multi_row_insert(rows), params)?;
                }
                next += rows as u64;
            }
            self.conn.query_drop("COMMIT")?;
        }
        self.conn.query_drop(
            "INSERT INTO streams (stream_id, version) \
             SELECT stream_id, MAX(stream_version) FROM events GROUP BY stream_id",
        )?;
        Ok(())
    }

    #[cfg(test)]
    fn scalar(&mut self, sql: &str) -> anyhow::Result<i64> {
        let text: Option<String> = self.conn.query_first(sql)?;
        Ok(text.ok_or_else(|| anyhow::anyhow!("no value"))?.parse()?)
    }

    fn read_all(&mut self) -> anyhow::Result<u64> {
        let statement = self.conn.prep(READ_ALL)?;
        let (mut count, mut bytes) = (0_u64, 0_usize);
        let rows = self.conn.exec_iter(&statement, (0_i64,))?;
        for row in rows {
            let row = row?;
            for i in 0..row.len() {
                bytes += match row.as_ref(i) {
                    Some(Value::Bytes(b)) => b.len(),
                    _ => 8,
                };
            }
            count += 1;
        }
        std::hint::black_box(bytes);
        Ok(count)
    }
}
