//! Creating Gesta's tables and applying the application's migrations.

use std::time::{Duration, Instant};

use crate::app::App;
use crate::backend::Dialect;
use crate::event::Timestamp;
use crate::sql::SqlError;
use crate::tx::{Session, Tx};
use crate::{Error, params};

/// How long a failed migration waits for another process to record it as applied:
/// MySQL commits DDL at once, so the write lock does not cover it there.
const APPLIED_ELSEWHERE_WAIT: Duration = Duration::from_secs(2);

/// Creates Gesta's own tables, then applies each application migration not yet applied,
/// each in its own transaction.
pub(super) fn run(session: &mut Session, dialect: &Dialect, app: &App) -> Result<(), Error> {
    let mut tx = session.tx();
    for ddl in dialect.schema {
        tx.execute_batch(ddl).map_err(|source| Error::Migration {
            name: "gesta schema".into(),
            source,
        })?;
    }
    for migration in app.migrations() {
        let name = format!("{}:{}", app.name(), migration.name);
        if applied(&mut session.tx(), &name)? {
            continue;
        }
        apply(session, dialect, &name, migration.sql_for(dialect.name)).map_err(|source| {
            Error::Migration {
                name: name.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

fn applied(tx: &mut Tx<'_>, name: &str) -> Result<bool, SqlError> {
    let applied: Option<i64> = tx.query_scalar(
        "SELECT applied_at FROM gesta_migrations WHERE name = :name",
        &params! { "name" => name },
    )?;
    Ok(applied.is_some())
}

/// Applies one migration under the write lock, unless another process starting at the
/// same time applied it first (checked again under the lock, and after a failure).
fn apply(session: &mut Session, dialect: &Dialect, name: &str, sql: &str) -> Result<(), SqlError> {
    session.begin(dialect.begin)?;
    let mut tx = session.tx();
    let result = match applied(&mut tx, name) {
        Ok(true) => Ok(0),
        Ok(false) => tx.execute_batch(sql).and_then(|()| {
            tx.execute(
                dialect.record_migration,
                &params! { "name" => name, "applied_at" => Timestamp::now().0 },
            )
        }),
        Err(err) => Err(err),
    };
    match result {
        Ok(_) => session.end(true),
        Err(err) => {
            let _ = session.end(false);
            if applied_elsewhere(&mut session.tx(), name) {
                return Ok(());
            }
            Err(err)
        }
    }
}

/// Whether another process records `name` as applied within [`APPLIED_ELSEWHERE_WAIT`].
fn applied_elsewhere(tx: &mut Tx<'_>, name: &str) -> bool {
    let until = Instant::now() + APPLIED_ELSEWHERE_WAIT;
    loop {
        if matches!(applied(tx, name), Ok(true)) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
