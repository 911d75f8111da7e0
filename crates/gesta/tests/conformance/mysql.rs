//! The few tests that are specific to MySQL/MariaDB (like `sqlite.rs` for SQLite):
//! value mapping, SQL spellings, exact keys, durability reporting, read-only readers,
//! constraint classification, replaced connections.

use gesta::event::{NewEvent, StreamVersion};
use gesta::sql::{SqlErrorKind, Value};
use gesta::{App, Command, Error, ExpectedVersion, HandlerError, Migration, Tx, params};
use mysql::prelude::Queryable;
use serde::{Deserialize, Serialize};

use crate::app::Note;
use crate::check::{append, noted, sid};
use crate::harness::{Kind, TestDb, run};

/// TestDb-specific behaviour, on a fresh MySQL/MariaDB database when
/// `GESTA_TEST_MYSQL_URL` is set.
macro_rules! on_mysql {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                super::run(super::Kind::Mysql, super::$test).await;
            }
        }
    )+};
}

on_mysql!(
    values_read_back_by_column_type,
    ansi_sql_spellings,
    keys_are_exact,
    durability_is_reported,
    queries_cannot_write,
    check_constraints_are_enforced,
    lost_connections_are_replaced,
);

/// Integers, reals, DECIMAL, text, dates, bytes, booleans and JSON come back as the
/// same `Value`s SQLite gives; parameters bind into any column type.
async fn values_read_back_by_column_type(b: TestDb) {
    let store = b.open().await;
    let rows = store
        .query(
            "SELECT :i + 1 AS i, :t AS t, :r * 2 AS r, CAST(12.5 AS DECIMAL(10, 2)) AS d, \
             SUM(x) AS s, CAST(:at AS DATETIME) AS at, X'00ff' AS b, NULL AS n, \
             (1 = 1) AS yes, JSON_EXTRACT('{\"a\": [1, 2]}', '$.a') AS j \
             FROM (SELECT 1 AS x UNION ALL SELECT 2) AS two",
            params! { "i" => 41_i64, "t" => "é", "r" => 1.5, "at" => "2024-02-29 13:05:09" },
        )
        .await
        .unwrap();
    let expected = [
        Value::Integer(42),
        Value::Text("é".into()),
        Value::Real(3.0),
        Value::Real(12.5),
        Value::Integer(3),
        Value::Text("2024-02-29 13:05:09".into()),
        Value::Blob(vec![0, 255]),
        Value::Null,
        Value::Integer(1),
        Value::Text("[1, 2]".into()),
    ];
    assert_eq!(rows[0].values(), expected);
}

/// `||` concatenates, `"x"` names a column, a backslash is a plain character.
async fn ansi_sql_spellings(b: TestDb) {
    let store = b.open().await;
    let rows = store
        .query(
            "SELECT 'a' || 'b' AS c, \"x\" AS x, 'back\\slash' AS s FROM (SELECT 7 AS \"x\") AS t",
            params! {},
        )
        .await
        .unwrap();
    let values = rows[0].values();
    assert_eq!(values[0], Value::Text("ab".into()));
    assert_eq!(values[1], Value::Integer(7));
    assert_eq!(values[2], Value::Text("back\\slash".into()));
}

/// Stream ids differing only in case or trailing spaces are different streams.
async fn keys_are_exact(b: TestDb) {
    let store = b.open().await;
    for stream in ["a", "A", "a "] {
        let first = append(
            &store,
            stream,
            ExpectedVersion::NoStream,
            noted(stream, "t", 1),
        );
        first.await.unwrap_or_else(|e| panic!("{stream:?}: {e}"));
    }
    for stream in ["a", "A", "a "] {
        let id = sid(stream);
        let events = store.read_stream(&id, StreamVersion(1), 10).await.unwrap();
        assert_eq!(events.len(), 1, "{stream:?}");
        assert_eq!(events[0].stream_id.as_str(), stream);
    }
}

async fn durability_is_reported(b: TestDb) {
    let store = b.open().await;
    let durability = store.health().durability;
    assert!(durability.durable, "{}", durability.detail);
    assert!(
        durability
            .detail
            .contains("innodb_flush_log_at_trx_commit=1"),
        "{}",
        durability.detail
    );
}

/// Reads run in read-only transactions, as on a SQLite file.
async fn queries_cannot_write(b: TestDb) {
    let store = b.open().await;
    let write = store.query(
        "INSERT INTO tallies (stream_id, events) VALUES ('x', 1)",
        params! {},
    );
    assert!(write.await.is_err(), "a query wrote");
    assert!(crate::check::tallies(&store).await.is_empty());
}

#[derive(Debug, Serialize, Deserialize)]
struct SetLevel {
    level: i64,
}

impl Command for SetLevel {
    const NAME: &'static str = "SetLevel";
}

fn set_level(tx: &mut Tx<'_>, cmd: SetLevel) -> Result<Vec<NewEvent>, HandlerError> {
    tx.execute(
        "INSERT INTO levels (id, level) VALUES (1, :level)",
        &params! { "level" => cmd.level },
    )?;
    Ok(vec![NewEvent::new("levels", "LevelSet", &cmd.level)?])
}

/// `CHECK` constraints hold and fail with a constraint violation; a duplicate key
/// is a unique violation.
async fn check_constraints_are_enforced(b: TestDb) {
    let app = App::new("checks")
        .migration(Migration::new(
            "0001_levels",
            "CREATE TABLE levels (id BIGINT PRIMARY KEY, level BIGINT NOT NULL CHECK (level >= 0))",
        ))
        .command(set_level);
    let _ = b;
    let db = gesta_testkit::fresh(gesta_testkit::Server::Mysql).expect("MySQL is set");
    let url = db.url().to_owned();
    let store = gesta::Store::open(&url, app).await.unwrap();
    let kind = |result: Result<_, Error>| match result {
        Err(Error::Database(e)) => e.kind,
        other => panic!("{other:?}"),
    };
    let negative = store.dispatch(SetLevel { level: -1 }).await;
    assert_eq!(kind(negative), SqlErrorKind::ConstraintViolation);
    store.dispatch(SetLevel { level: 1 }).await.unwrap();
    let twice = store.dispatch(SetLevel { level: 2 }).await;
    assert_eq!(kind(twice), SqlErrorKind::UniqueViolation);
}

/// After the server drops every connection of the store, the next command and the
/// next query still succeed: connections are replaced at the next transaction.
async fn lost_connections_are_replaced(b: TestDb) {
    let store = b.open().await;
    store.dispatch(Note::new("s-1", "before", 1)).await.unwrap();
    let rows = store.query("SELECT DATABASE() AS db", params! {}).await;
    let database: String = rows.unwrap()[0].get("db").unwrap();
    let base = std::env::var("GESTA_TEST_MYSQL_URL").unwrap();
    let mut admin = mysql::Conn::new(mysql::Opts::from_url(&base).unwrap()).unwrap();
    let ids: Vec<u64> = admin
        .exec(
            "SELECT id FROM information_schema.processlist WHERE db = ?",
            (database.as_str(),),
        )
        .unwrap();
    assert!(!ids.is_empty());
    for id in ids {
        let _ = admin.query_drop(format!("KILL CONNECTION {id}"));
    }
    store.dispatch(Note::new("s-1", "after", 1)).await.unwrap();
    assert_eq!(crate::check::notes(&store).await.len(), 2);
}
