//! Fresh MySQL/MariaDB databases: `gesta_t_<pid>_<n>`, with a binary NO PAD collation
//! (what docs/backends.md recommends, so text compares exactly as on SQLite and
//! PostgreSQL). Databases of test processes that have exited are dropped the first
//! time a process makes one.

use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};

const PREFIX: &str = "gesta_t_";

fn connect(base: &str) -> Result<Conn, String> {
    let opts = Opts::from_url(base).map_err(|e| format!("bad URL: {e}"))?;
    Conn::new(OptsBuilder::from_opts(opts).db_name(None::<String>))
        .map_err(|e| format!("cannot connect: {e}"))
}

pub(crate) fn create_database(base: &str) -> Result<(String, String), String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static CLEANUP: Once = Once::new();
    let mut conn = connect(base)?;
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
        "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE {collation}"
    ))
    .map_err(|e| format!("cannot create database {name}: {e}"))?;
    Ok((name.clone(), with_database(base, &name)))
}

pub(crate) fn drop_database(base: &str, name: &str) {
    if let Ok(mut conn) = connect(base) {
        let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS {name}"));
    }
}

/// `base` with its database path replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (url, query) = match base.split_once('?') {
        Some((url, query)) => (url, format!("?{query}")),
        None => (base, String::new()),
    };
    let (scheme, rest) = url.split_once("://").unwrap_or(("mysql", url));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{name}{query}")
}

/// Drops `gesta_t_<pid>_*` databases whose process is gone.
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
    use super::with_database;

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
}
