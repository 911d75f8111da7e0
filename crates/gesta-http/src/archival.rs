//! `--archive-to DEST --archive-keep N`: a server that archives its oldest events by
//! itself (see `gesta::archive`).

use std::time::Duration;

/// The servers' archival flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ArchiveArgs {
    /// Move the oldest events to this archive as the log grows: a directory
    /// (file:///var/gesta/archive) or a bucket (s3://bucket/prefix, AWS_* variables).
    #[arg(long, env = "GESTA_ARCHIVE_TO")]
    pub archive_to: Option<String>,
    /// With --archive-to: keep about this many of the newest events live.
    #[arg(long, default_value_t = 1_000_000, env = "GESTA_ARCHIVE_KEEP")]
    pub archive_keep: u64,
    /// With --archive-to: how often to look (1m, 30s, 100ms).
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration, env = "GESTA_ARCHIVE_EVERY")]
    pub archive_every: Duration,
}

impl ArchiveArgs {
    /// Starts archiving `store` in the background when `--archive-to` was given.
    pub fn spawn(&self, store: &gesta::Store) -> Option<tokio::task::JoinHandle<()>> {
        let to = self.archive_to.clone()?;
        tracing::info!(%to, keep = self.archive_keep, "the oldest events are archived");
        let every = self.archive_every.max(Duration::from_millis(10));
        Some(tokio::spawn(gesta::archive::keep_archiving(
            store.clone(),
            to,
            self.archive_keep,
            every,
        )))
    }
}
