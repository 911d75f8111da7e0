//! `gesta serve --app app.mjs`: a Gesta server for an application written as one
//! JavaScript module, with no Rust and no build step.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

/// Serve a JavaScript app: every route of the HTTP API plus its collections.
#[derive(Debug, Parser)]
pub struct Args {
    /// The app: an ES module whose default export declares collections, commands
    /// and reducers.
    #[arg(long, env = "GESTA_APP")]
    pub app: PathBuf,
    /// Database URL: sqlite://FILE, sqlite::memory:, postgres://..., mysql://...
    /// (default: sqlite://NAME.db beside nothing, where NAME is the app's name).
    #[arg(long, env = "GESTA_DB")]
    pub db: Option<String>,
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", env = "GESTA_LISTEN")]
    pub listen: SocketAddr,
    /// Serve the files of this directory at `/` (a web page using @gesta/client).
    #[arg(long = "static", env = "GESTA_STATIC")]
    pub static_dir: Option<PathBuf>,
    /// Take a snapshot of the read models every N events (0 = only on demand).
    #[arg(long, default_value_t = 10_000, env = "GESTA_SNAPSHOT_EVERY")]
    pub snapshot_every: u64,
    /// How long one handler or reducer call may run before it is stopped, in ms.
    #[arg(long, default_value_t = 1_000, env = "GESTA_JS_TIME_LIMIT_MS")]
    pub js_time_limit_ms: u64,
    /// How much memory the engine of one thread may hold, in MiB.
    #[arg(long, default_value_t = 64, env = "GESTA_JS_MEMORY_LIMIT_MB")]
    pub js_memory_limit_mb: usize,
    /// Publish every committed event to NATS JetStream at this URL (stream
    /// `GESTA_<app>`), and take commands over request-reply on
    /// `gesta.<app>.commands.<Name>` (queue group `gesta`). Default: off.
    #[arg(long, env = "GESTA_NATS")]
    pub nats: Option<String>,
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

/// Loads the app, opens the store and serves until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    args.security.check(args.listen)?;
    // Logs go to stderr: stdout carries the one line with the address.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let limits = gesta_js::Limits {
        time: Duration::from_millis(args.js_time_limit_ms.max(1)),
        memory_bytes: args
            .js_memory_limit_mb
            .clamp(1, 1 << 20)
            .saturating_mul(1024 * 1024),
        ..gesta_js::Limits::default()
    };
    let path = args.app.clone();
    let js = tokio::task::spawn_blocking(move || gesta_js::JsApp::load(&path, limits))
        .await?
        .with_context(|| format!("loading {}", args.app.display()))?;
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}.db", js.name()));
    let options = gesta::StoreOptions::default().snapshots(args.snapshot_every, 100);
    let mut builder = gesta::Store::builder(js.app()).url(&db).options(options);
    if let Some(url) = &args.nats {
        let config = gesta_nats::NatsConfig::new(url, js.name());
        builder = builder.reactor(gesta_nats::fanout(config));
    }
    let store = builder
        .open()
        .await
        .with_context(|| format!("opening {db}"))?;
    store
        .read_models_ready()
        .await
        .context("filling the collections from the log")?;
    let _archiver = args.archive.spawn(&store);
    let intake = match &args.nats {
        Some(url) => {
            let config = gesta_nats::IntakeConfig::new(url, js.name())
                .security(args.security.security(&store)?);
            Some(
                gesta_nats::Intake::start(store.clone(), config)
                    .await
                    .context("taking commands over NATS")?,
            )
        }
        None => None,
    };
    let api = gesta_http::Api::new(store.clone())
        .routes(gesta_js::http::routes(store.clone(), js.collections()))
        .openapi_json(gesta_js::http::openapi(js.collections()))
        .graphql_collections(gesta_js::http::graphql(js.collections()));
    let api = args.console.apply(args.graphql.apply(api));
    let mut router = args.security.apply(api, &store)?.into_router();
    let options = args.security.serve_options()?;
    if let Some(dir) = &args.static_dir {
        anyhow::ensure!(dir.is_dir(), "--static {}: not a directory", dir.display());
        router = router.fallback_service(tower_http::services::ServeDir::new(dir));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!(
        "{} listening on {}://{addr} (db {db})",
        js.name(),
        args.security.scheme()
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
