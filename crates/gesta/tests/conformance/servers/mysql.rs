//! Fresh MySQL/MariaDB databases for the conformance suite.
//!
//! Each test gets `gesta_t_<pid>_<n>`, created with a binary NO PAD collation (the
//! setting docs/backends.md recommends, so application tables compare text as SQLite
//! and PostgreSQL do). Databases left by test processes that have exited are dropped
//! the first time a process provisions one.

use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};

const PREFIX: &str = "gesta_t_";

/// Creates a fresh database on the server at `base_url` and returns a URL that a store
/// opens it with (the base URL's options are kept).
pub fn fresh_database(base_url: &str) -> Result<String, String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static CLEANUP: Once = Once::new();
    let opts = Opts::from_url(base_url).map_err(|e| format!("bad URL {base_url}: {e}"))?;
    let mut conn = Conn::new(OptsBuilder::from_opts(opts).db_name(None::<String>))
        .map_err(|e| format!("cannot connect to {base_url}: {e}"))?;
    CLEANUP.call_once(|| drop_orphans(&mut conn));
    let version: String = conn
        .query_first("SELECT VERSION()")
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let collation = if version.contains("MariaDB") {
        "utf8mb4_nopad_bin"
    } else {
        "utf8mb4_0900_bin"
    };
    let name = format!(
        "{PREFIX}{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    conn.query_drop(format!(
        "DROP DATABASE IF EXISTS {name}; \
         CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE {collation}"
    ))
    .map_err(|e| format!("cannot create database {name}: {e}"))?;
    Ok(with_database(base_url, &name))
}

/// `base_url` with its database path replaced by `name`.
fn with_database(base_url: &str, name: &str) -> String {
    let (base, query) = match base_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (base_url, String::new()),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("mysql", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{name}{query}")
}

/// Drops `gesta_t_<pid>_*` databases whose process is gone (Linux: no `/proc/<pid>`).
fn drop_orphans(conn: &mut Conn) {
    let names: Vec<String> = conn
        .query(format!("SHOW DATABASES LIKE '{PREFIX}%'"))
        .unwrap_or_default();
    for name in names {
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive && std::path::Path::new("/proc/self").exists() {
            let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS {name}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use gesta::event::{NewEvent, StreamVersion};
    use gesta::sql::{SqlErrorKind, Value};
    use gesta::{App, Command, Error, ExpectedVersion, HandlerError, Migration, Tx, params};
    use mysql::prelude::Queryable;
    use serde::{Deserialize, Serialize};

    use super::with_database;
    use crate::app::Note;
    use crate::check::{append, noted, sid};
    use crate::harness::{Backend, Kind, run};

    /// Backend-specific behaviour, on a fresh MySQL/MariaDB database when
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

    #[test]
    fn the_database_path_is_replaced() {
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/test", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            with_database("mysql://u:p@h/test?unsafe_durability=true", "x"),
            "mysql://u:p@h/x?unsafe_durability=true"
        );
        assert_eq!(with_database("mysql://h:3306", "x"), "mysql://h:3306/x");
    }

    /// Integers, reals, DECIMAL, text, dates, bytes, booleans and JSON come back as the
    /// same `Value`s SQLite gives; parameters bind into any column type.
    async fn values_read_back_by_column_type(b: Backend) {
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
    async fn ansi_sql_spellings(b: Backend) {
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
    async fn keys_are_exact(b: Backend) {
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

    async fn durability_is_reported(b: Backend) {
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
    async fn queries_cannot_write(b: Backend) {
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
    async fn check_constraints_are_enforced(b: Backend) {
        let app = App::new("checks")
            .migration(Migration::new(
                "0001_levels",
                "CREATE TABLE levels (id BIGINT PRIMARY KEY, level BIGINT NOT NULL CHECK (level >= 0))",
            ))
            .command(set_level);
        let _ = b;
        let url = super::fresh_database(&std::env::var("GESTA_TEST_MYSQL_URL").unwrap()).unwrap();
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
    async fn lost_connections_are_replaced(b: Backend) {
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
}
