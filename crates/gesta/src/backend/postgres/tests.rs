//! Tests against a real server, named by `GESTA_TEST_POSTGRES_URL` (skipped, with a
//! note on stderr, when it is unset). The store-level contract is the conformance
//! suite's; these cover what is specific to this backend: binding by inferred types,
//! SQLSTATE classes, the durability check, deadlines, and two stores over one log.

use std::io::Write as _;
use std::time::{Duration, Instant};

use super::*;
use crate::backend::DbUrl;
use crate::sql::{SqlErrorKind, Value, ValueRef};

fn server() -> Option<String> {
    let url = std::env::var("GESTA_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "postgres backend tests skipped: set GESTA_TEST_POSTGRES_URL"
        );
    }
    url
}

fn backend(url: &str) -> Result<PgBackend, crate::Error> {
    match DbUrl::parse(url)? {
        DbUrl::Postgres(config) => PgBackend::new(config),
        other => panic!("not a PostgreSQL URL: {other:?}"),
    }
}

fn writer(url: &str) -> Box<dyn Connection> {
    backend(url).unwrap().connect(Role::Writer).unwrap()
}

/// Every row of `sql`, owned.
fn rows(conn: &mut dyn Connection, sql: &str, params: &[Value]) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    conn.query(sql, params, &mut |row| {
        let values = (0..row.len()).map(|i| row.value(i).map(ValueRef::to_owned));
        out.push(values.collect::<Result<Vec<_>, _>>()?);
        Ok(())
    })
    .unwrap();
    out
}

const TYPES: &str = "CREATE TEMP TABLE t (
    i2 SMALLINT, i4 INTEGER, i8 BIGINT, n NUMERIC, f4 REAL, f8 DOUBLE PRECISION,
    b BOOLEAN, s TEXT, v VARCHAR(20), c CHAR(3), u UUID, j JSON, jb JSONB, bytes BYTEA)";

const INSERT: &str = "INSERT INTO t (i2, i4, i8, n, f4, f8, b, s, v, c, u, j, jb, bytes) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

#[test]
fn values_bind_by_the_inferred_type_and_read_back() {
    let Some(url) = server() else { return };
    let mut conn = writer(&url);
    conn.execute_batch(TYPES).unwrap();
    let id = "0190a8e2-7d4c-7b1e-9a3f-2b6c1d0e4f58";
    let params = [
        Value::Integer(7),
        Value::Integer(-70_000),
        Value::Integer(i64::MAX),
        Value::Integer(12),
        Value::Real(0.5),
        Value::Integer(3),
        Value::Integer(1),
        Value::Integer(42),
        Value::Text("varchar".into()),
        Value::Text("abc".into()),
        Value::Text(id.to_uppercase()),
        Value::Text(r#"{"b": 1, "a": [true]}"#.into()),
        Value::Text(r#"{"b":1,"a":[true]}"#.into()),
        Value::Blob(vec![0, 1, 255]),
    ];
    assert_eq!(conn.execute(INSERT, &params).unwrap(), 1);
    let nulls = vec![Value::Null; 14];
    assert_eq!(conn.execute(INSERT, &nulls).unwrap(), 1);
    let read = rows(conn.as_mut(), "SELECT * FROM t ORDER BY i2 NULLS LAST", &[]);
    let expected = vec![
        Value::Integer(7),
        Value::Integer(-70_000),
        Value::Integer(i64::MAX),
        Value::Integer(12),
        Value::Real(0.5),
        Value::Real(3.0),
        Value::Integer(1),
        Value::Text("42".into()),
        Value::Text("varchar".into()),
        Value::Text("abc".into()),
        Value::Text(id.into()),
        Value::Text(r#"{"b": 1, "a": [true]}"#.into()),
        Value::Text(r#"{"a": [true], "b": 1}"#.into()),
        Value::Blob(vec![0, 1, 255]),
    ];
    assert_eq!(read, vec![expected, nulls]);
}

#[test]
fn aggregates_and_numerics_read_as_sqlite_would() {
    let Some(url) = server() else { return };
    let mut conn = writer(&url);
    let read = rows(
        conn.as_mut(),
        "SELECT SUM(x), AVG(x), COUNT(*), MAX(x)::numeric / 4, $1::numeric, $2::numeric \
         FROM (VALUES (1::bigint), (2::bigint)) AS v(x)",
        &[
            Value::Real(-1.25),
            Value::Text("123456789012345678901234".into()),
        ],
    );
    assert_eq!(
        read,
        vec![vec![
            Value::Integer(3),
            Value::Real(1.5),
            Value::Integer(2),
            Value::Real(0.5),
            Value::Real(-1.25),
            Value::Real(1.2345678901234568e23),
        ]]
    );
}

#[test]
fn values_that_do_not_fit_are_errors_not_panics() {
    let Some(url) = server() else { return };
    let mut conn = writer(&url);
    conn.execute_batch(TYPES).unwrap();
    let one = |conn: &mut Box<dyn Connection>, column: &str, value: Value| {
        let sql = format!("INSERT INTO t ({column}) VALUES ($1)");
        conn.execute(&sql, &[value])
    };
    let cases = [
        ("u", Value::Text("not-a-uuid".into())),
        ("i2", Value::Integer(70_000)),
        ("i4", Value::Real(1.5)),
        ("b", Value::Text("maybe".into())),
        ("n", Value::Text("12abc".into())),
        ("s", Value::Blob(vec![0xff, 0xfe])),
    ];
    for (column, value) in cases {
        let err = one(&mut conn, column, value.clone()).unwrap_err();
        assert_eq!(
            err.kind,
            SqlErrorKind::Other,
            "{column} <- {value:?}: {err}"
        );
        assert!(err.message.contains("cannot bind"), "{err}");
    }
    // The connection is still usable: nothing reached the server.
    one(
        &mut conn,
        "u",
        Value::Text("0190a8e2-7d4c-7b1e-9a3f-2b6c1d0e4f58".into()),
    )
    .unwrap();
}

#[test]
fn sqlstates_classify_real_errors() {
    let Some(url) = server() else { return };
    let mut conn = writer(&url);
    conn.execute_batch("CREATE TEMP TABLE k (id INT PRIMARY KEY, n INT CHECK (n > 0))")
        .unwrap();
    conn.execute("INSERT INTO k VALUES (1, 1)", &[]).unwrap();
    let kind = |conn: &mut Box<dyn Connection>, sql: &str| conn.execute(sql, &[]).unwrap_err().kind;
    assert_eq!(
        kind(&mut conn, "INSERT INTO k VALUES (1, 1)"),
        SqlErrorKind::UniqueViolation
    );
    assert_eq!(
        kind(&mut conn, "INSERT INTO k VALUES (2, 0)"),
        SqlErrorKind::ConstraintViolation
    );
    assert_eq!(
        kind(&mut conn, "INSERT INTO k VALUES (NULL, 1)"),
        SqlErrorKind::ConstraintViolation
    );
    assert_eq!(kind(&mut conn, "SELEC 1"), SqlErrorKind::Other);
}

#[test]
fn synchronous_commit_off_is_refused_unless_opted_in() {
    let Some(url) = server() else { return };
    let sep = if url.contains('?') { '&' } else { '?' };
    let off = format!("{url}{sep}options=-c%20synchronous_commit%3Doff");
    assert!(matches!(
        backend(&off),
        Err(crate::Error::UnsafeDurability(_))
    ));
    let accepted = backend(&format!("{off}&unsafe_durability=true")).unwrap();
    let durability = accepted.durability();
    assert!(!durability.durable);
    assert!(
        durability.detail.contains("synchronous_commit=off"),
        "{durability:?}"
    );
    for setting in ["local", "remote_write", "on"] {
        let url = format!("{url}{sep}options=-c%20synchronous_commit%3D{setting}");
        assert!(backend(&url).unwrap().durability().durable, "{setting}");
    }
}

#[test]
fn a_statement_past_the_deadline_is_interrupted_and_the_next_is_not() {
    let Some(url) = server() else { return };
    let mut conn = writer(&url);
    for round in 0..5 {
        conn.execute("BEGIN", &[]).unwrap();
        let started = Instant::now();
        conn.set_deadline(Some(started + Duration::from_millis(100)));
        let err = conn.execute("SELECT pg_sleep(30)", &[]).unwrap_err();
        assert_eq!(err.kind, SqlErrorKind::Interrupted, "round {round}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Statements that would start after the deadline fail without running.
        let late = conn.execute("SELECT 1", &[]).unwrap_err();
        assert_eq!(late.kind, SqlErrorKind::Interrupted);
        conn.set_deadline(None);
        conn.execute("ROLLBACK", &[]).unwrap();
        conn.execute("SELECT pg_sleep(0.2)", &[]).unwrap();
    }
}

#[test]
fn a_statement_finishing_just_before_the_deadline_leaves_no_stray_cancel() {
    let Some(url) = server() else { return };
    let mut conn = writer(&url);
    for _ in 0..30 {
        conn.set_deadline(Some(Instant::now() + Duration::from_millis(20)));
        let _ = conn.execute("SELECT pg_sleep(0.019)", &[]);
        conn.set_deadline(None);
        conn.execute("SELECT pg_sleep(0.03)", &[]).unwrap();
    }
}

#[test]
fn connections_dropped_in_async_code_close_quietly() {
    let Some(url) = server() else { return };
    let backend = backend(&url).unwrap();
    let conn = backend.connect(Role::Reader).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async move { drop(conn) });
}

#[test]
fn readers_cannot_write() {
    let Some(url) = server() else { return };
    let mut reader = backend(&url).unwrap().connect(Role::Reader).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let err = reader
        .execute("CREATE TEMP TABLE nope (x INT)", &[])
        .unwrap_err();
    assert_eq!(err.kind, SqlErrorKind::ReadOnly, "{err}");
    reader.execute_batch("ROLLBACK").unwrap();
}

/// A fresh schema on the server, dropped when the guard goes.
struct Schema {
    base: String,
    name: String,
}

impl Schema {
    fn new(base: &str) -> Schema {
        let name = format!("gesta_t_{}", uuid::Uuid::now_v7().simple());
        let mut client = postgres::Client::connect(base, NoTls).unwrap();
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        Schema {
            base: base.to_owned(),
            name,
        }
    }

    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.base, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.base, NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

/// Two stores over one log (as two processes would be) take turns on the writer lock:
/// positions stay gap-free, each event sits where its store said, and stores in other
/// schemas are not held up by it.
#[test]
fn two_stores_over_one_log_keep_positions_gap_free() {
    use crate::event::{NewEvent, StreamId};
    use crate::{AppendRequest, Context, ExpectedVersion, LogQuery, Store};

    let Some(base) = server() else { return };
    let schema = Schema::new(&base);
    let url = schema.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let a = Store::open(&url, crate::App::new("two")).await.unwrap();
        let b = Store::open(&url, crate::App::new("two")).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.spawn(async move {
                let stream = format!("s-{}", i % 5);
                let events = (0..1 + i % 3)
                    .map(|n| {
                        NewEvent::new(
                            stream.as_str(),
                            "Tick",
                            &serde_json::json!({ "i": i, "n": n }),
                        )
                        .unwrap()
                    })
                    .collect();
                let request = AppendRequest {
                    stream_id: StreamId::new(&stream).unwrap(),
                    expected: ExpectedVersion::Any,
                    events,
                };
                store.append(request, Context::default()).await.unwrap()
            });
        }
        let mut outcomes = Vec::new();
        while let Some(outcome) = tasks.join_next().await {
            outcomes.push(outcome.unwrap());
        }
        let log = a
            .read_all(LogQuery::after(crate::event::Position(0)).limit(1000))
            .await
            .unwrap();
        let written: usize = outcomes.iter().map(|o| o.events.len()).sum();
        assert_eq!(log.len(), written);
        let mut versions = std::collections::HashMap::new();
        for (i, event) in log.iter().enumerate() {
            assert_eq!(event.position.0, i as u64 + 1, "hole in the log");
            let version = versions.entry(event.stream_id.clone()).or_insert(0);
            *version += 1;
            assert_eq!(
                event.stream_version.0, *version,
                "hole in {}",
                event.stream_id
            );
        }
        for event in outcomes.iter().flat_map(|o| &o.events) {
            assert_eq!(log[event.position.0 as usize - 1].id, event.id);
        }
    });
}

/// A connection the server closed (restart, `pg_terminate_backend`) comes back at the
/// next `BEGIN`; a statement inside a transaction reports the loss instead.
#[test]
fn a_lost_connection_reconnects_at_the_next_begin() {
    let Some(url) = server() else { return };
    let config = Config::from_str(&url).unwrap();
    let mut conn = PgConnection::open(&config, Role::Writer).unwrap();
    let pid = |conn: &mut PgConnection| match &rows(conn, "SELECT pg_backend_pid()", &[])[0][0] {
        Value::Integer(pid) => *pid,
        other => panic!("{other:?}"),
    };
    let kill = |pid: i64| {
        let mut admin = postgres::Client::connect(&url, NoTls).unwrap();
        let sql = "SELECT pg_terminate_backend($1::int)";
        admin.execute(sql, &[&(pid as i32)]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    };
    let first = pid(&mut conn);
    kill(first);
    let lost = conn.execute("SELECT 1", &[]).unwrap_err();
    assert_eq!(lost.kind, SqlErrorKind::Connection, "{lost}");
    conn.execute("BEGIN", &[]).unwrap();
    assert_eq!(rows(&mut conn, "SELECT 1", &[]), [[Value::Integer(1)]]);
    conn.execute("COMMIT", &[]).unwrap();
    let second = pid(&mut conn);
    assert_ne!(second, first);
    kill(second);
    conn.execute_batch("begin ").unwrap();
    conn.execute_batch("COMMIT").unwrap();
    assert_ne!(pid(&mut conn), second);
}
