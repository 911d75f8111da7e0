//! The example server's command line: `--db`, `--listen`, `--outbox`, `--nats`, and the
//! flags every Gesta server takes.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

/// Runs the bank example: a Gesta store with the bank application behind HTTP.
#[derive(Debug, Parser)]
#[command(name = "bank", about = "Gesta's bank example server")]
pub struct Args {
    /// Database URL: sqlite://FILE or sqlite::memory:
    #[arg(long, default_value = "sqlite://bank.db", env = "GESTA_DB")]
    pub db: String,
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", env = "GESTA_LISTEN")]
    pub listen: SocketAddr,
    /// The welcome-email outbox (default: beside a SQLite database as
    /// `NAME-outbox.txt`, else `bank-outbox.txt`).
    #[arg(long, env = "GESTA_OUTBOX")]
    pub outbox: Option<PathBuf>,
    /// Publish every committed event to NATS JetStream at this URL (stream `GESTA_bank`,
    /// subjects `gesta.bank.events.<category>.<type>`), and take commands over request-reply
    /// on `gesta.bank.commands.<Name>` (queue group `gesta`). Default: off.
    #[arg(long, env = "GESTA_NATS")]
    pub nats: Option<String>,
    /// Take a snapshot of the read models every N events, so that history questions
    /// (as-of, diff, revert) replay at most N events (0 = only on demand).
    #[arg(long, default_value_t = 10_000, env = "GESTA_SNAPSHOT_EVERY")]
    pub snapshot_every: u64,
    /// Authentication and authorization.
    #[command(flatten)]
    pub security: gesta_http::SecurityArgs,
    /// Archival of the oldest events.
    #[command(flatten)]
    pub archive: gesta_http::ArchiveArgs,
    /// GraphQL at /graphql.
    #[command(flatten)]
    pub graphql: gesta_http::graphql::GraphqlArgs,
    /// The web console at /console.
    #[command(flatten)]
    pub console: gesta_http::ConsoleArgs,
}

/// Parses the command line and serves until Ctrl-C or SIGTERM.
pub fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    args.security.check(args.listen)?;
    let outbox = args
        .outbox
        .unwrap_or_else(|| crate::welcome::default_outbox(&args.db));
    tracing::info!(outbox = %outbox.display(), "welcome emails go to the outbox");
    let options = gesta::StoreOptions::default().snapshots(args.snapshot_every, 100);
    let mut builder = gesta::Store::builder(crate::app())
        .url(&args.db)
        .options(options)
        .reactor(crate::welcome::reactor(outbox));
    if let Some(url) = &args.nats {
        tracing::info!(%url, "committed events are published to NATS JetStream");
        builder = builder.reactor(gesta_nats::fanout(gesta_nats::NatsConfig::new(url, "bank")));
    }
    let store = builder
        .open()
        .await
        .with_context(|| format!("opening {}", args.db))?;
    // The handlers check commands against the accounts table: a read model being
    // filled in the background (new, or of a new version) must be complete first.
    store
        .read_models_ready()
        .await
        .context("filling the read models from the log")?;
    let _archiver = args.archive.spawn(&store);
    let intake = match &args.nats {
        Some(url) => {
            let config = gesta_nats::IntakeConfig::new(url, "bank")
                .security(args.security.security(&store)?);
            Some(
                gesta_nats::Intake::start(store.clone(), config)
                    .await
                    .context("taking commands over NATS")?,
            )
        }
        None => None,
    };
    let router = args
        .security
        .apply(
            args.console
                .apply(args.graphql.apply(crate::routes::builder(store.clone()))),
            &store,
        )?
        .into_router();
    let options = args.security.serve_options()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!(
        "bank listening on {}://{addr} (db {})",
        args.security.scheme(),
        args.db
    );
    if !args.console.no_console {
        tracing::info!(
            "the console is at {}://{addr}/console",
            args.security.scheme()
        );
    }
    gesta_http::serve_with(listener, router, shutdown_signal(), options).await?;
    if let Some(intake) = intake {
        intake.stop().await;
    }
    store.stop_reactors().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
