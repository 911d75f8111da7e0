//! `gesta schema graphql`: prints the GraphQL schema of an app, built from a
//! JavaScript app (`--app app.mjs`, no server needed) or fetched from a running
//! server (`--server URL`, `GET /graphql/schema.graphql`, any app, Rust ones too).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

/// Arguments of `gesta schema`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    what: Which,
}

#[derive(Debug, clap::Subcommand)]
enum Which {
    /// The GraphQL schema (SDL) of /graphql.
    Graphql(GraphqlArgs),
}

#[derive(Debug, clap::Args)]
struct GraphqlArgs {
    /// A JavaScript app: build its schema here, without a server.
    #[arg(long, conflicts_with = "server")]
    app: Option<PathBuf>,
    /// A running server (default http://127.0.0.1:8080 without --app).
    #[arg(long, env = "GESTA_SERVER")]
    server: Option<String>,
    /// The bearer token of a server started with --auth.
    #[arg(long, env = "GESTA_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Prints the schema.
pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let Which::Graphql(args) = args.what;
    let sdl = match (&args.app, &args.server) {
        (Some(path), _) => {
            let shown = path.display().to_string();
            let path = path.clone();
            let js = tokio::task::spawn_blocking(move || {
                gesta_js::JsApp::load(&path, gesta_js::Limits::default())
            })
            .await?
            .with_context(|| format!("loading {shown}"))?;
            gesta_http::graphql::sdl(&js.app(), &gesta_js::http::graphql(js.collections()))?
        }
        (None, server) => {
            let server = server.as_deref().unwrap_or("http://127.0.0.1:8080");
            let url = format!("{}/graphql/schema.graphql", server.trim_end_matches('/'));
            let mut request = reqwest::Client::new()
                .get(&url)
                .timeout(Duration::from_secs(30));
            if let Some(token) = &args.token {
                request = request.bearer_auth(token);
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("cannot reach the server at {server}"))?;
            let status = response.status();
            let text = response.text().await?;
            if !status.is_success() {
                bail!("{status} from {url}: {text}");
            }
            text
        }
    };
    print!("{sdl}");
    Ok(())
}
