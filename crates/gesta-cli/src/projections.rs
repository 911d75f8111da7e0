//! `gesta projections`: the async projections' checkpoints and lag, and rebuild
//! requests, which the process running the projection performs (it empties the
//! projection's tables and replays the log into them).

use gesta::Error;
use gesta::projection::ProjectionStatus;
use serde_json::json;

/// Arguments of `gesta projections`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List projections (checkpoint, head, lag behind the head, last update) and
    /// whether a rebuild is requested.
    List(List),
    /// Ask the process running a projection to empty its tables and replay the log
    /// into them (now if one runs it, else when one starts).
    Rebuild(Rebuild),
}

#[derive(Debug, clap::Args)]
struct List {
    #[command(flatten)]
    db: crate::open::Db,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct Rebuild {
    #[command(flatten)]
    db: crate::open::Db,
    /// The projection.
    #[arg(long)]
    projection: String,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::List(list) => run_list(list).await,
        Action::Rebuild(rebuild) => run_rebuild(rebuild).await,
    }
}

async fn run_list(args: List) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    let projections = store.projections().await?;
    if args.json {
        let doc = json!({
            "projections": projections.iter().map(status_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    print_projections(&projections);
    Ok(())
}

async fn run_rebuild(args: Rebuild) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    match store.request_projection_rebuild(&args.projection).await {
        Err(Error::InvalidInput { .. }) => anyhow::bail!(
            "no projection named {:?}: the store has no checkpoint of that name \
             (see `gesta projections list`)",
            args.projection
        ),
        other => other?,
    }
    println!(
        "rebuild of {:?} requested: the process running it empties its tables and \
         replays the log (now if one runs it, else when one starts); follow it with \
         `gesta projections list`",
        args.projection
    );
    Ok(())
}

fn print_projections(projections: &[ProjectionStatus]) {
    if projections.is_empty() {
        println!("no projections");
        return;
    }
    println!(
        "{:<30} {:>10} {:>10} {:>8}  updated",
        "projection", "checkpoint", "head", "lag"
    );
    for p in projections {
        let updated = p
            .updated_at
            .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
        let rebuild = if p.rebuild_requested {
            "  (rebuild requested)"
        } else {
            ""
        };
        println!(
            "{:<30} {:>10} {:>10} {:>8}  {updated}{rebuild}",
            p.name, p.checkpoint, p.head, p.lag
        );
    }
}

fn status_json(p: &ProjectionStatus) -> serde_json::Value {
    json!({
        "name": p.name,
        "checkpoint": p.checkpoint.0,
        "head": p.head.0,
        "lag": p.lag,
        "updated_at": p.updated_at.map(|t| t.to_rfc3339()),
        "rebuild_requested": p.rebuild_requested,
    })
}
