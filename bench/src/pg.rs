//! The raw PostgreSQL loops with the synchronous `postgres` crate (the driver Gesta's
//! PostgreSQL backend uses): prepared statements, `jsonb` sent in binary form.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};
use uuid::Uuid;

use crate::server::RawConn;
use crate::transfer_sql::{
    ACCOUNTS_DDL, AMOUNT, OPENING_BALANCE, account_id, metadata, now_micros, stream_of,
    transfer_data,
};

/// Gesta's own PostgreSQL schema, exactly as the library creates it.
pub const SCHEMA: &str = include_str!("../../crates/gesta/src/backend/postgres/schema.sql");

const SELECT_BALANCE: &str = "SELECT balance FROM accounts WHERE id = $1";
const BUMP_STREAM: &str = "INSERT INTO streams (stream_id, version) VALUES ($1, 1) \
    ON CONFLICT (stream_id) DO UPDATE SET version = streams.version + 1 RETURNING version";
const INSERT_EVENT: &str = "INSERT INTO events \
    (position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const SUBTRACT: &str = "UPDATE accounts SET balance = balance - $2 WHERE id = $1";
const ADD: &str = "UPDATE accounts SET balance = balance + $2 WHERE id = $1";
const READ_ALL: &str = "SELECT position, stream_id, stream_version, event_id, event_type, data, \
    metadata, recorded_at FROM events WHERE position > $1 ORDER BY position";
/// Rows per multi-row `INSERT` when filling the replay log.
const ROWS_PER_INSERT: usize = 1000;
/// Multi-row `INSERT`s per transaction when filling.
const INSERTS_PER_TX: usize = 100;

type BoxError = Box<dyn StdError + Sync + Send>;

/// JSON text bound to a `json` or `jsonb` parameter.
#[derive(Debug)]
struct Json<'a>(&'a str);

impl ToSql for Json<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::JSONB {
            out.put_u8(1);
        }
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }

    to_sql_checked!();
}

/// The length of a column in wire form, whatever its type.
struct WireLen(usize);

impl<'a> FromSql<'a> for WireLen {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(WireLen(raw.len()))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(WireLen(0))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The transfer's statements, prepared once the tables exist.
struct Transfer {
    balance: Statement,
    bump: Statement,
    insert: Statement,
    subtract: Statement,
    add: Statement,
}

/// One PostgreSQL connection.
pub struct PgRaw {
    client: Client,
    ping: Option<Statement>,
    insert: Option<Statement>,
    transfer: Option<Transfer>,
}

impl PgRaw {
    /// Connects to `url` (which may set the search_path).
    pub fn connect(url: &str) -> anyhow::Result<Self> {
        Ok(PgRaw {
            client: Client::connect(url, NoTls)?,
            ping: None,
            insert: None,
            transfer: None,
        })
    }

    fn transfer_statements(&mut self) -> anyhow::Result<&Transfer> {
        if self.transfer.is_none() {
            self.transfer = Some(Transfer {
                balance: self.client.prepare(SELECT_BALANCE)?,
                bump: self.client.prepare(BUMP_STREAM)?,
                insert: self.client.prepare(INSERT_EVENT)?,
                subtract: self.client.prepare(SUBTRACT)?,
                add: self.client.prepare(ADD)?,
            });
        }
        self.transfer
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("statements not prepared"))
    }

    /// One multi-row `INSERT` of the events at `first..first + rows`.
    fn insert_rows(
        &mut self,
        statement: &Statement,
        first: u64,
        rows: usize,
        streams: &[(String, String)],
        recorded_at: i64,
    ) -> anyhow::Result<()> {
        let accounts = streams.len() as u64;
        let positions: Vec<i64> = (first..first + rows as u64).map(|p| p as i64).collect();
        let versions: Vec<i64> = (first..first + rows as u64)
            .map(|p| ((p - 1) / accounts + 1) as i64)
            .collect();
        let ids: Vec<Uuid> = (0..rows).map(|_| Uuid::now_v7()).collect();
        let metas: Vec<String> = (0..rows)
            .map(|_| metadata("Deposit", Uuid::now_v7()))
            .collect();
        let times: Vec<i64> = positions.iter().map(|p| recorded_at + p).collect();
        let mut json = Vec::with_capacity(2 * rows);
        for (i, meta) in metas.iter().enumerate() {
            let (_, data) = &streams[((first - 1 + i as u64) % accounts) as usize];
            json.push(Json(data));
            json.push(Json(meta));
        }
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(8 * rows);
        for i in 0..rows {
            let (stream, _) = &streams[((first - 1 + i as u64) % accounts) as usize];
            params.push(&positions[i]);
            params.push(stream);
            params.push(&versions[i]);
            params.push(&ids[i]);
            params.push(&"Deposited");
            params.push(&json[2 * i]);
            params.push(&json[2 * i + 1]);
            params.push(&times[i]);
        }
        self.client.execute(statement, &params)?;
        Ok(())
    }
}

/// `INSERT INTO events (...) VALUES ($1, ..., $8), ...` for `rows` rows.
fn multi_row_insert(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (position, stream_id, stream_version, event_id, event_type, data, \
         metadata, recorded_at) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let values: Vec<String> = (1..=8).map(|c| format!("${}", row * 8 + c)).collect();
        sql.push('(');
        sql.push_str(&values.join(", "));
        sql.push(')');
    }
    sql
}

impl RawConn for PgRaw {
    fn batch(&mut self, sql: &str) -> anyhow::Result<()> {
        Ok(self.client.batch_execute(sql)?)
    }

    fn ping(&mut self) -> anyhow::Result<()> {
        if self.ping.is_none() {
            self.ping = Some(self.client.prepare("SELECT 1")?);
        }
        let statement = self
            .ping
            .clone()
            .ok_or_else(|| anyhow::anyhow!("not prepared"))?;
        let row = self.client.query_one(&statement, &[])?;
        std::hint::black_box(row.get::<_, i32>(0));
        Ok(())
    }

    fn describe(&mut self) -> anyhow::Result<String> {
        let row = self.client.query_one(
            "SELECT current_setting('server_version'), current_setting('synchronous_commit'), \
             current_setting('fsync'), current_setting('commit_delay'), \
             current_setting('shared_buffers')",
            &[],
        )?;
        let get = |i: usize| row.get::<_, String>(i);
        Ok(format!(
            "PostgreSQL {}; synchronous_commit={}, fsync={}, commit_delay={}, shared_buffers={}",
            get(0),
            get(1),
            get(2),
            get(3),
            get(4)
        ))
    }

    fn create_gesta_schema(&mut self) -> anyhow::Result<()> {
        Ok(self.client.batch_execute(SCHEMA)?)
    }

    fn create_accounts(&mut self, accounts: usize) -> anyhow::Result<()> {
        self.client.batch_execute(ACCOUNTS_DDL)?;
        let mut tx = self.client.transaction()?;
        let insert =
            tx.prepare("INSERT INTO accounts (id, owner, balance) VALUES ($1, 'bench', $2)")?;
        for i in 0..accounts {
            tx.execute(&insert, &[&account_id(i), &OPENING_BALANCE])?;
        }
        Ok(tx.commit()?)
    }

    fn insert_event(&mut self, position: i64) -> anyhow::Result<()> {
        if self.insert.is_none() {
            self.insert = Some(self.client.prepare(INSERT_EVENT)?);
        }
        let statement = self
            .insert
            .clone()
            .ok_or_else(|| anyhow::anyhow!("not prepared"))?;
        let meta = metadata("Deposit", Uuid::now_v7());
        self.client.execute(
            &statement,
            &[
                &position,
                &"account-acct-00001",
                &position,
                &Uuid::now_v7(),
                &"Deposited",
                &Json(r#"{"account_id":"acct-00001","amount":100}"#),
                &Json(&meta),
                &now_micros(),
            ],
        )?;
        Ok(())
    }

    fn transfer(&mut self, from: &str, to: &str, position: &mut i64) -> anyhow::Result<bool> {
        self.transfer_statements()?;
        let Some(st) = self.transfer.as_ref() else {
            anyhow::bail!("statements not prepared");
        };
        let client = &mut self.client;
        let balance: i64 = client.query_one(&st.balance, &[&from])?.get(0);
        if balance < AMOUNT {
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
            let version: i64 = client.query_one(&st.bump, &[&stream])?.get(0);
            client.execute(
                &st.insert,
                &[
                    &*position,
                    &stream,
                    &version,
                    &Uuid::now_v7(),
                    &event_type,
                    &Json(&data),
                    &Json(&meta),
                    &recorded_at,
                ],
            )?;
            *position += 1;
            client.execute(reducer, &[&account, &AMOUNT])?;
        }
        Ok(true)
    }

    fn fill(&mut self, events: u64, accounts: usize) -> anyhow::Result<()> {
        let streams = crate::replay::deposit_streams(accounts);
        let recorded_at = now_micros();
        let full = self.client.prepare(&multi_row_insert(ROWS_PER_INSERT))?;
        let mut next = 1_u64;
        while next <= events {
            self.client.batch_execute("BEGIN")?;
            for _ in 0..INSERTS_PER_TX {
                let rows = (events + 1 - next).min(ROWS_PER_INSERT as u64) as usize;
                if rows == 0 {
                    break;
                }
                let statement = if rows == ROWS_PER_INSERT {
                    full.clone()
                } else {
                    self.client.prepare(&multi_row_insert(rows))?
                };
                self.insert_rows(&statement, next, rows, &streams, recorded_at)?;
                next += rows as u64;
            }
            self.client.batch_execute("COMMIT")?;
        }
        self.client.batch_execute(
            "INSERT INTO streams (stream_id, version) \
             SELECT stream_id, MAX(stream_version) FROM events GROUP BY stream_id",
        )?;
        // Sets the hint bits and the visibility map, so neither read pays for that.
        self.client.batch_execute("VACUUM (ANALYZE) events")?;
        Ok(())
    }

    #[cfg(test)]
    fn scalar(&mut self, sql: &str) -> anyhow::Result<i64> {
        let messages = self.client.simple_query(sql)?;
        let text = messages.iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        Ok(text.ok_or_else(|| anyhow::anyhow!("no value"))?.parse()?)
    }

    fn read_all(&mut self) -> anyhow::Result<u64> {
        use postgres::fallible_iterator::FallibleIterator;
        let statement = self.client.prepare(READ_ALL)?;
        let mut rows = self.client.query_raw(&statement, [0_i64])?;
        let (mut count, mut bytes) = (0_u64, 0_usize);
        while let Some(row) = rows.next()? {
            for i in 0..8 {
                bytes += row.try_get::<_, WireLen>(i)?.0;
            }
            count += 1;
        }
        std::hint::black_box(bytes);
        Ok(count)
    }
}
