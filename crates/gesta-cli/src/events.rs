//! `gesta events`: print the log, and with `--follow` keep printing new events as
//! they commit (by this or any other process) until Ctrl-C.

use std::io::Write;

use gesta::event::{Position, RecordedEvent};
use gesta::subscription::Start;
use gesta::{LogQuery, Store};

/// Arguments of `gesta events`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    db: Option<crate::open::Db>,
    /// Only events after this position.
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// Stop after this many events (default: all; with --follow, for ever).
    #[arg(long)]
    limit: Option<u64>,
    /// Only events of this type (repeatable).
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// Only events of this stream (repeatable).
    #[arg(long = "stream", value_name = "STREAM")]
    streams: Vec<String>,
    /// Only events of streams in this category, the part of the stream id before the
    /// first '-' (repeatable; a listed stream or category matches).
    #[arg(long = "category", value_name = "CATEGORY")]
    categories: Vec<String>,
    /// After printing what matches, keep printing new events as they commit, until
    /// Ctrl-C.
    #[arg(long, short = 'f')]
    follow: bool,
    /// One CloudEvents JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Read every event through the app's upcasters and report those that fail, with
    /// their positions (exit status 1 if any): run it before deploying a version
    /// whose upcasters changed.
    Check(Check),
}

#[derive(Debug, clap::Args)]
struct Check {
    #[command(flatten)]
    db: crate::open::Db,
    /// The JavaScript app (as `gesta serve --app`) whose upcasters to check.
    #[arg(long, env = "GESTA_APP")]
    app: std::path::PathBuf,
    /// Report at most this many failures.
    #[arg(long, default_value_t = 100)]
    max_failures: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(Action::Check(check)) = args.action {
        return run_check(check).await;
    }
    match print(args).await {
        // The reader went away (`gesta events | head`): not an error.
        Err(err) if is_broken_pipe(&err) => Ok(()),
        result => result,
    }
}

async fn print(args: Args) -> anyhow::Result<()> {
    let db = args
        .db
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("--db is required"))?;
    let store = db.open().await?;
    let mut query = LogQuery::filtered(&args.types, &args.streams, &args.categories)?;
    query.after = Position(args.after);
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
    if args.follow && remaining > 0 {
        follow(&store, query, remaining, &mut out, args.json).await?;
    }
    Ok(())
}

/// Prints events matching `query` after `query.after` as they commit, each at once,
/// until `remaining` are printed or Ctrl-C.
async fn follow(
    store: &Store,
    query: LogQuery,
    mut remaining: u64,
    out: &mut impl Write,
    json: bool,
) -> anyhow::Result<()> {
    let mut subscription = store.subscribe(Start::After(query.after), query).await?;
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    while remaining > 0 {
        let event = tokio::select! {
            event = subscription.next() => event?,
            _ = &mut interrupted => break,
        };
        print_event(out, &event, json)?;
        out.flush()?;
        remaining -= 1;
    }
    Ok(())
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let kind = match err.downcast_ref::<serde_json::Error>() {
        Some(json) => json.io_error_kind(),
        None => err
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind),
    };
    kind == Some(std::io::ErrorKind::BrokenPipe)
}

fn print_event(out: &mut impl Write, event: &RecordedEvent, json: bool) -> anyhow::Result<()> {
    if json {
        // One line per event, even when a payload was stored with line breaks.
        writeln!(out, "{}", event.to_cloudevent().to_json())?;
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

/// `gesta events check`: every event through the JavaScript app's upcasters.
async fn run_check(args: Check) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let path = args.app.clone();
    let js = tokio::task::spawn_blocking(move || {
        gesta_js::JsApp::load(&path, gesta_js::Limits::default())
    })
    .await?
    .with_context(|| format!("loading {}", args.app.display()))?;
    // Only the upcasters: the app's migrations and read models stay out of the store.
    let app = gesta::App::new("gesta-cli").upcasters_of(&js.app());
    let store = args.db.open_with(app).await?;
    let check = store.check_events(args.max_failures).await?;
    if args.json {
        let failures: Vec<_> = check
            .failures
            .iter()
            .map(|f| {
                serde_json::json!({
                    "position": f.position, "type": f.event_type, "from_version": f.from,
                    "message": f.message,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "events": check.events, "upcast": check.upcast, "failed": check.failed,
            "failures": failures,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{} events read, {} of them upcast, {} failed",
            check.events, check.upcast, check.failed
        );
        for failure in &check.failures {
            println!("{failure}");
        }
    }
    if check.failed > 0 {
        anyhow::bail!(
            "{} events cannot be read by this version of the app",
            check.failed
        );
    }
    Ok(())
}
