//! `gesta archive`: move the oldest events to an archive of segment files.

use std::time::Duration;

use anyhow::{Context, bail};
use gesta::archive::{ArchiveOptions, ArchiveUpTo};
use gesta::event::Position;
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `gesta archive`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Safe to interrupt: run it again and it goes on from the last segment it recorded.\n\
Reads (the API, subscriptions, rebuilds, gesta events, gesta copy) still see archived events.\n\
S3: credentials, region and endpoint come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n\
AWS_REGION, AWS_ENDPOINT_URL (and AWS_ALLOW_HTTP=true for a plain-HTTP endpoint)."
)]
pub(crate) struct Args {
    #[command(flatten)]
    db: crate::open::Db,
    /// Where: a directory (file:///var/gesta/archive) or a bucket (s3://bucket/prefix).
    #[arg(long)]
    to: String,
    /// Archive the events before this position.
    #[arg(long, group = "which", required = true)]
    before: Option<u64>,
    /// Archive the events recorded longer ago than this (90d, 12h, 1w).
    #[arg(long, group = "which", value_parser = humantime::parse_duration)]
    older_than: Option<Duration>,
    /// Archive all but the newest N events.
    #[arg(long, group = "which")]
    keep: Option<u64>,
    /// Events per segment file.
    #[arg(long, default_value_t = ArchiveOptions::DEFAULT_SEGMENT_EVENTS)]
    segment_events: u64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let up_to = match (args.before, args.older_than, args.keep) {
        (Some(p), None, None) => ArchiveUpTo::Before(Position(p)),
        (None, Some(age), None) => ArchiveUpTo::OlderThan(age),
        (None, None, Some(n)) => ArchiveUpTo::Keep(n),
        _ => bail!("give one of --before P, --older-than AGE, --keep N"),
    };
    let store = args.db.open().await?;
    let options = ArchiveOptions {
        segment_events: args.segment_events,
        ..ArchiveOptions::new(args.to, up_to)
    };
    let bar = match args.quiet {
        true => ProgressBar::hidden(),
        false => {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template("{bar:40} {pos}/{len} ({per_sec}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        }
    };
    let report = store
        .archive(options, |r| {
            bar.set_length(r.target);
            bar.set_position(r.archived_to);
        })
        .await;
    bar.finish_and_clear();
    let report = report.context("archiving failed; run the same command again to go on")?;
    println!(
        "archived {} events in {} segments ({} bytes); the archive holds positions 1..={}",
        report.events, report.segments, report.bytes, report.archived_to
    );
    Ok(())
}
