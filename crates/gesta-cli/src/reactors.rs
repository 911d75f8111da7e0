//! `gesta reactors`: the reactors' checkpoints and lag, and their parked events
//! (dead letters), which can be retried (the process running the reactor delivers
//! them once more) or skipped (removed without delivery).

use anyhow::bail;
use gesta::event::Position;
use gesta::reactor::{ParkedEvent, ReactorStatus};
use serde_json::json;

/// Arguments of `gesta reactors`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List reactors (checkpoint, lag behind the head, parked count) and parked events.
    List(List),
    /// Ask the process running a reactor to deliver parked events once more.
    Retry(Pick),
    /// Remove parked events without delivering them.
    Skip(Pick),
}

#[derive(Debug, clap::Args)]
struct List {
    #[command(flatten)]
    db: crate::open::Db,
    /// Only this reactor's parked events.
    #[arg(long)]
    reactor: Option<String>,
    /// At most this many parked events.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct Pick {
    #[command(flatten)]
    db: crate::open::Db,
    /// The reactor.
    #[arg(long)]
    reactor: String,
    /// The parked event's position.
    #[arg(long)]
    position: Option<u64>,
    /// Every parked event of the reactor.
    #[arg(long, conflicts_with = "position")]
    all: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::List(list) => run_list(list).await,
        Action::Retry(pick) => run_pick(pick, true).await,
        Action::Skip(pick) => run_pick(pick, false).await,
    }
}

async fn run_list(args: List) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    let reactors = store.reactors().await?;
    let parked = store
        .parked_events(args.reactor.as_deref(), args.limit)
        .await?;
    if args.json {
        let doc = json!({
            "reactors": reactors.iter().map(status_json).collect::<Vec<_>>(),
            "parked": parked.iter().map(parked_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    print_reactors(&reactors);
    print_parked(&parked);
    Ok(())
}

async fn run_pick(args: Pick, retry: bool) -> anyhow::Result<()> {
    if args.position.is_none() && !args.all {
        bail!("name the parked event with --position P, or pass --all");
    }
    let store = args.db.open().await?;
    let position = args.position.map(Position);
    let count = if retry {
        store.retry_parked(&args.reactor, position).await?
    } else {
        store.skip_parked(&args.reactor, position).await?
    };
    if let (Some(position), 0) = (position, count) {
        bail!(
            "reactor {:?} has no parked event at position {position}",
            args.reactor
        );
    }
    let done = if retry {
        "marked for retry (the process running the reactor delivers them once more)"
    } else {
        "skipped"
    };
    println!("{count} parked event(s) of {:?} {done}", args.reactor);
    Ok(())
}

fn print_reactors(reactors: &[ReactorStatus]) {
    if reactors.is_empty() {
        println!("no reactors");
        return;
    }
    println!(
        "{:<30} {:>10} {:>10} {:>8} {:>7}  updated",
        "reactor", "checkpoint", "head", "lag", "parked"
    );
    for r in reactors {
        let updated = r
            .updated_at
            .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
        println!(
            "{:<30} {:>10} {:>10} {:>8} {:>7}  {updated}",
            r.name, r.checkpoint, r.head, r.lag, r.parked
        );
    }
}

fn print_parked(parked: &[ParkedEvent]) {
    if parked.is_empty() {
        println!("no parked events");
        return;
    }
    println!("parked events:");
    for p in parked {
        let retry = if p.retry_requested {
            "  (retry requested)"
        } else {
            ""
        };
        println!(
            "  {}  {}  {}  {}  {}  attempts={}  parked {}{retry}\n    error: {}",
            p.reactor,
            p.position,
            p.event_id,
            p.event_type,
            p.stream_id,
            p.attempts,
            p.parked_at.to_rfc3339(),
            p.error
        );
    }
}

fn status_json(r: &ReactorStatus) -> serde_json::Value {
    json!({
        "name": r.name,
        "checkpoint": r.checkpoint.0,
        "head": r.head.0,
        "lag": r.lag,
        "parked": r.parked,
        "updated_at": r.updated_at.map(|t| t.to_rfc3339()),
    })
}

fn parked_json(p: &ParkedEvent) -> serde_json::Value {
    json!({
        "reactor": p.reactor,
        "position": p.position.0,
        "event_id": p.event_id.to_string(),
        "type": p.event_type,
        "stream": p.stream_id,
        "error": p.error,
        "attempts": p.attempts,
        "parked_at": p.parked_at.to_rfc3339(),
        "retry_requested": p.retry_requested,
    })
}
