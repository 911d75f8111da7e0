//! Fresh PostgreSQL schemas for the conformance suite.
//!
//! Each test gets its own schema `gesta_t_<uuid v7>` in the database `base_url` names,
//! and a URL pointing the store at it (`options=-c search_path=...`). A schema is much
//! cheaper to create than a database (no template copy, no checkpoint), and the
//! server backend must support schema URLs anyway. The UUID is v7, so its name says
//! when it was made: schemas older than 15 minutes, left by earlier runs, are dropped the
//! first time a test provisions one.

use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls};
use uuid::Uuid;

/// The prefix of every schema the suite creates.
const PREFIX: &str = "gesta_t_";

/// Schemas older than this are leftovers of earlier runs.
const STALE_AFTER: Duration = Duration::from_secs(15 * 60);

/// Creates a fresh schema on the server at `base_url` and returns a URL that a store
/// opens it with.
pub fn fresh_database(base_url: &str) -> Result<String, String> {
    let base = base_url.to_owned();
    // The sync client cannot run on an async worker thread: use a thread of its own.
    std::thread::spawn(move || create_schema(&base))
        .join()
        .map_err(|_| "provisioning PostgreSQL panicked".to_owned())?
}

fn create_schema(base_url: &str) -> Result<String, String> {
    let mut client = Client::connect(base_url, NoTls)
        .map_err(|e| format!("cannot connect to PostgreSQL at {base_url}: {e}"))?;
    static CLEANUP: Once = Once::new();
    CLEANUP.call_once(|| drop_stale_schemas(&mut client));
    let schema = format!("{PREFIX}{}", Uuid::now_v7().simple());
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .map_err(|e| format!("cannot create schema {schema}: {e}"))?;
    let separator = if base_url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{base_url}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// Drops the suite's schemas made more than [`STALE_AFTER`] ago (best effort).
fn drop_stale_schemas(client: &mut Client) {
    let Ok(rows) = client.query(
        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
        &[&PREFIX],
    ) else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    for row in rows {
        let name: String = row.get(0);
        let made = name
            .strip_prefix(PREFIX)
            .and_then(|id| Uuid::parse_str(id).ok())
            .and_then(|id| id.get_timestamp())
            .map(|ts| {
                let (secs, nanos) = ts.to_unix();
                Duration::new(secs, nanos)
            });
        if made.is_some_and(|made| now.saturating_sub(made) > STALE_AFTER) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
        }
    }
}
