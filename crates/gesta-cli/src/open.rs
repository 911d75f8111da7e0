//! Opening an existing store for reading.

use anyhow::{Context, bail};
use gesta::backend::DbUrl;
use gesta::{App, Store};

/// Opens the store at `url`, refusing to create a new SQLite file by mistake.
pub(crate) async fn existing(url: &str) -> anyhow::Result<Store> {
    #[allow(unreachable_patterns)]
    match DbUrl::parse(url)? {
        DbUrl::Sqlite(config) if config.path != ":memory:" => {
            if !std::path::Path::new(&config.path).exists() {
                bail!("no database at {:?} (from --db {url})", config.path);
            }
        }
        _ => {}
    }
    Store::open(url, App::new("gesta-cli"))
        .await
        .with_context(|| format!("opening {url}"))
}
