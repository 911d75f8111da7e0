//! Opening an existing store for reading.

use anyhow::{Context, bail};
use gesta::backend::DbUrl;
use gesta::{App, Store};

/// Opens the store at `url`, refusing to create a new SQLite file by mistake.
pub(crate) async fn existing(url: &str) -> anyhow::Result<Store> {
    existing_with(url, App::new("gesta-cli")).await
}

/// [`existing`] with `app`.
async fn existing_with(url: &str, app: App) -> anyhow::Result<Store> {
    if let DbUrl::Sqlite(config) = DbUrl::parse(url)? {
        let path = std::path::Path::new(&config.path);
        if config.path != ":memory:" && !path.exists() {
            bail!("no database at {:?} (from --db {url})", config.path);
        }
    }
    Store::open(url, app)
        .await
        .with_context(|| format!("opening {url}"))
}

/// The `--db URL` of the commands that read one store.
#[derive(Debug, clap::Args)]
pub(crate) struct Db {
    /// Database URL, e.g. sqlite://bank.db
    #[arg(long, env = "GESTA_DB")]
    db: String,
}

impl Db {
    /// Opens the store (see [`existing`]).
    pub(crate) async fn open(&self) -> anyhow::Result<Store> {
        existing(&self.db).await
    }

    /// Opens the store with `app` (its upcasters apply to reads), refusing to create
    /// a new SQLite file.
    pub(crate) async fn open_with(&self, app: App) -> anyhow::Result<Store> {
        existing_with(&self.db, app).await
    }
}
