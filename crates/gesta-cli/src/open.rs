//! Opening an existing store for reading.

use anyhow::{Context, bail};
use gesta::backend::DbUrl;
use gesta::{App, Store};

/// Opens the store at `url`, refusing to create a new SQLite file by mistake.
pub(crate) async fn existing(url: &str) -> anyhow::Result<Store> {
    if let DbUrl::Sqlite(config) = DbUrl::parse(url)? {
        let path = std::path::Path::new(&config.path);
        if config.path != ":memory:" && !path.exists() {
            bail!("no database at {:?} (from --db {url})", config.path);
        }
    }
    Store::open(url, App::new("gesta-cli"))
        .await
        .with_context(|| format!("opening {url}"))
}
