//! `gesta copy`: move a store to another backend.

use std::time::Duration;

use anyhow::Context;
use gesta::{App, Store};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `gesta copy`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Run it again after an interruption: it resumes where the target's log ends.\n\
The application's read models are rebuilt from the log the first time it opens the target."
)]
pub(crate) struct Args {
    /// The store to copy, e.g. sqlite://bank.db
    #[arg(long)]
    from: String,
    /// The store to copy into (created if needed; must be empty or an earlier partial copy),
    /// e.g. postgres://postgres@127.0.0.1:5432/bank
    #[arg(long)]
    to: String,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let from = crate::open::existing(&args.from).await?;
    let to = Store::open(&args.to, App::new("gesta-copy"))
        .await
        .with_context(|| format!("opening {}", args.to))?;
    let bar = progress_bar(args.quiet);
    let report = gesta::copy::copy(&from, &to, |p| {
        bar.set_length(p.source_last.0);
        bar.set_position(p.copied_to.0);
    })
    .await;
    bar.finish_and_clear();
    let report = report.context("copy failed; run the same command again to resume")?;
    if report.resumed_after.0 > 0 {
        println!("resumed after position {}", report.resumed_after);
    }
    println!(
        "copied {} events; target has {} events, {} streams, {} idempotency keys",
        report.events_copied, report.events, report.streams, report.keys
    );
    println!("verified: counts match, checksum {}", report.checksum);
    Ok(())
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} events ({per_sec}, eta {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
