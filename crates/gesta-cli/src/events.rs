//! `gesta events`: print the log.

use std::io::Write;

use gesta::LogQuery;
use gesta::event::{Position, RecordedEvent, StreamId};

/// Arguments of `gesta events`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Database URL, e.g. sqlite://bank.db
    #[arg(long, env = "GESTA_DB")]
    db: String,
    /// Only events after this position.
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// Stop after this many events (default: all).
    #[arg(long)]
    limit: Option<u64>,
    /// Only events of this type (repeatable).
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// Only events of this stream (repeatable).
    #[arg(long = "stream", value_name = "STREAM")]
    streams: Vec<String>,
    /// One CloudEvents JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let store = crate::open::existing(&args.db).await?;
    let mut query = LogQuery::after(Position(args.after));
    query.types = args.types.clone();
    query.streams = args
        .streams
        .iter()
        .map(StreamId::new)
        .collect::<Result<_, _>>()?;
    let mut remaining = args.limit.unwrap_or(u64::MAX);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while remaining > 0 {
        query.limit = remaining.min(gesta::MAX_PAGE as u64) as usize;
        let page = store.read_all(query.clone()).await?;
        let Some(last) = page.last() else { break };
        query.after = last.position;
        remaining -= page.len() as u64;
        for event in &page {
            print_event(&mut out, event, args.json)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn print_event(out: &mut impl Write, event: &RecordedEvent, json: bool) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, &event.to_cloudevent())?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:>8}  {}@{}  {}  {}  {}",
            event.position,
            event.stream_id,
            event.stream_version,
            event.event_type,
            event.recorded_at.to_rfc3339(),
            event.data.get()
        )?;
    }
    Ok(())
}
