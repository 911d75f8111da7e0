//! Fresh PostgreSQL schemas: `gesta_t_<uuid v7>` in the database the base URL names,
//! used through `options=-c search_path=...`. A schema is much cheaper than a
//! database. Schemas of earlier runs older than an hour (the v7 id says when it was
//! made) are dropped the first time a process makes one.

use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls};
use uuid::Uuid;

const PREFIX: &str = "gesta_t_";
const STALE_AFTER: Duration = Duration::from_secs(3600);

pub(crate) fn create_schema(base: &str) -> Result<(String, String), String> {
    let mut client = Client::connect(base, NoTls).map_err(|e| format!("cannot connect: {e}"))?;
    static CLEANUP: Once = Once::new();
    CLEANUP.call_once(|| drop_stale(&mut client));
    let name = format!("{PREFIX}{}", Uuid::now_v7().simple());
    client
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .map_err(|e| format!("cannot create schema {name}: {e}"))?;
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok((
        name.clone(),
        format!("{base}{separator}options=-c%20search_path%3D{name}"),
    ))
}

pub(crate) fn drop_schema(base: &str, name: &str) {
    if let Ok(mut client) = Client::connect(base, NoTls) {
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
    }
}

fn drop_stale(client: &mut Client) {
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
