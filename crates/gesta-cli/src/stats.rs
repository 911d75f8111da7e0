//! `gesta stats`: summarize a store.

/// Arguments of `gesta stats`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    db: crate::open::Db,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    let stats = store.stats().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(());
    }
    println!("events:           {}", stats.events);
    if let Some(archive) = &stats.archive {
        println!(
            "  live:           {} ({} bytes in the database)",
            stats.live_events, stats.live_bytes
        );
        println!(
            "  archived:       {} in {} segments, {} bytes ({archive})",
            stats.archived_events, stats.archived_segments, stats.archived_bytes
        );
    }
    println!("streams:          {}", stats.streams);
    println!(
        "positions:        {}..={}",
        stats.first_position, stats.last_position
    );
    println!("idempotency keys: {}", stats.idempotency_keys);
    println!("events per type:");
    for t in &stats.types {
        println!("  {:>10}  {}", t.count, t.event_type);
    }
    Ok(())
}
