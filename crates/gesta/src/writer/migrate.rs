//! Creating Gesta's tables and applying the application's migrations.

use crate::app::App;
use crate::backend::Dialect;
use crate::event::Timestamp;
use crate::sql::SqlError;
use crate::tx::Session;
use crate::{Error, params};

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
        let applied: Option<i64> = tx.query_scalar(
            "SELECT applied_at FROM gesta_migrations WHERE name = :name",
            &params! { "name" => name.as_str() },
        )?;
        if applied.is_some() {
            continue;
        }
        apply(session, dialect, &name, migration.sql_for(dialect.name)).map_err(|source| {
            Error::Migration {
                name: name.clone(),
                source,
            }
        })?;
        tx = session.tx();
    }
    Ok(())
}

fn apply(session: &mut Session, dialect: &Dialect, name: &str, sql: &str) -> Result<(), SqlError> {
    let mut tx = session.tx();
    tx.execute_batch("BEGIN")?;
    let result = tx.execute_batch(sql).and_then(|()| {
        tx.execute(
            dialect.record_migration,
            &params! { "name" => name, "applied_at" => Timestamp::now().0 },
        )
    });
    match result {
        Ok(_) => tx.execute_batch("COMMIT"),
        Err(err) => {
            let _ = tx.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}
