//! The history verbs: `gesta snapshots list|create`, `gesta diff`, `gesta revert`,
//! `gesta read-models list|rebuild`. They need the application's reducers, which
//! only the server running the application has, so they talk to its admin API
//! (`--server URL`, default `http://127.0.0.1:8080`, or `GESTA_SERVER`), as an admin
//! when the server authenticates (`--token`, or `GESTA_TOKEN`).

use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// The `--server URL` of the history verbs.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Server {
    /// The base URL of the server running the application (its admin API).
    #[arg(long, env = "GESTA_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The bearer token (an admin's API key or JWT) of a server started with --auth.
    #[arg(long, env = "GESTA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the server's JSON answer instead of text.
    #[arg(long)]
    json: bool,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request
            .timeout(Duration::from_secs(300))
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.server))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let detail = body["detail"].as_str().unwrap_or("no detail");
            match body["field"].as_str() {
                Some(field) => bail!("{status}: {detail} (field {field})"),
                None => bail!("{status}: {detail}"),
            }
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Client::new().get(self.url(path))).await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Client::new().post(self.url(path)).json(body))
            .await
    }

    fn print_json(&self, body: &Value) -> anyhow::Result<bool> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(body)?);
        }
        Ok(self.json)
    }
}

/// Arguments of `gesta snapshots`.
#[derive(Debug, clap::Args)]
pub(crate) struct SnapshotsArgs {
    #[command(subcommand)]
    action: SnapshotsAction,
}

#[derive(Debug, clap::Subcommand)]
enum SnapshotsAction {
    /// The stored snapshots of the read models, newest first.
    List(Server),
    /// Take a snapshot now (commands go on meanwhile).
    Create(Server),
}

pub(crate) async fn snapshots(args: SnapshotsArgs) -> anyhow::Result<()> {
    match args.action {
        SnapshotsAction::List(server) => {
            let body = server.get("/admin/snapshots").await?;
            if server.print_json(&body)? {
                return Ok(());
            }
            let list = body["snapshots"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no snapshots");
            }
            for s in list {
                println!("{}", snapshot_line(&s));
            }
        }
        SnapshotsAction::Create(server) => {
            let body = server.post("/admin/snapshots", &json!({})).await?;
            if !server.print_json(&body)? {
                println!("taken: {}", snapshot_line(&body));
            }
        }
    }
    Ok(())
}

fn snapshot_line(s: &Value) -> String {
    let tables: Vec<String> = s["tables"]
        .as_object()
        .map(|t| t.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .unwrap_or_default();
    format!(
        "position {:>10}  {}  {:>10} bytes  {}{}",
        s["position"],
        s["created"].as_str().unwrap_or(""),
        s["bytes"],
        tables.join(" "),
        if s["valid"] == false {
            "  (invalid)"
        } else {
            ""
        }
    )
}

/// Arguments of `gesta diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    server: Server,
    /// The earlier position.
    #[arg(long)]
    from: u64,
    /// The later position.
    #[arg(long)]
    to: u64,
    /// Only this read-model table.
    #[arg(long)]
    table: Option<String>,
}

pub(crate) async fn diff(args: DiffArgs) -> anyhow::Result<()> {
    let mut path = format!("/admin/diff?from={}&to={}", args.from, args.to);
    if let Some(table) = &args.table {
        path.push_str(&format!("&table={}", urlencode(table)));
    }
    let body = args.server.get(&path).await?;
    if args.server.print_json(&body)? {
        return Ok(());
    }
    let tables = body["tables"].as_object().cloned().unwrap_or_default();
    if tables.is_empty() {
        println!("no changes between {} and {}", args.from, args.to);
    }
    for (table, changes) in tables {
        println!("{table}:");
        for row in changes["inserted"].as_array().into_iter().flatten() {
            println!("  + {row}");
        }
        for change in changes["updated"].as_array().into_iter().flatten() {
            println!("  ~ {} -> {}", change["before"], change["after"]);
        }
        for row in changes["deleted"].as_array().into_iter().flatten() {
            println!("  - {row}");
        }
    }
    Ok(())
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Arguments of `gesta revert`.
#[derive(Debug, clap::Args)]
pub(crate) struct RevertArgs {
    #[command(flatten)]
    server: Server,
    /// The command to revert (its `command_id`); reverting a revert re-applies it.
    command_id: Option<String>,
    /// Instead: revert every command after this position.
    #[arg(long, conflicts_with = "command_id")]
    to: Option<u64>,
}

pub(crate) async fn revert(args: RevertArgs) -> anyhow::Result<()> {
    let body = match (&args.command_id, args.to) {
        (Some(id), None) => json!({ "command_id": id }),
        (None, Some(to)) => json!({ "to": to }),
        _ => bail!("give a COMMAND_ID or --to POSITION"),
    };
    let answer = args.server.post("/admin/revert", &body).await?;
    if !args.server.print_json(&answer)? {
        let reverted = &answer["events"][0]["data"]["command_ids"];
        println!(
            "reverted {} at position {} (revert command {})",
            reverted, answer["position"], answer["command_id"]
        );
    }
    Ok(())
}

/// Arguments of `gesta erase`.
#[derive(Debug, clap::Args)]
pub(crate) struct EraseArgs {
    #[command(flatten)]
    server: Server,
    /// The data subject whose personal data is forgotten (by default a personal
    /// field's subject is its event's stream, e.g. `account-42`).
    #[arg(long)]
    subject: String,
}

/// `gesta erase --subject S`: deletes the subject's key and records
/// `gesta.subject_erased` (through `POST /admin/erase`).
pub(crate) async fn erase(args: EraseArgs) -> anyhow::Result<()> {
    let answer = args
        .server
        .post("/admin/erase", &json!({ "subject": args.subject }))
        .await?;
    if !args.server.print_json(&answer)? {
        let had = if answer["key_found"] == true {
            "its personal data now reads as null"
        } else {
            "it had no personal data"
        };
        println!(
            "erased {} at position {} (command {}): {had}",
            args.subject, answer["position"], answer["command_id"]
        );
    }
    Ok(())
}

/// Arguments of `gesta read-models`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReadModelsArgs {
    #[command(subcommand)]
    action: ReadModelsAction,
}

#[derive(Debug, clap::Subcommand)]
enum ReadModelsAction {
    /// The inline read models: version, position, state.
    List(Server),
    /// Rebuild one from the log in the background (commands go on), showing progress
    /// until it is swapped in.
    Rebuild(RebuildArgs),
}

#[derive(Debug, clap::Args)]
struct RebuildArgs {
    #[command(flatten)]
    server: Server,
    /// The read model.
    name: String,
    /// Return at once instead of following the progress.
    #[arg(long)]
    no_wait: bool,
}

pub(crate) async fn read_models(args: ReadModelsArgs) -> anyhow::Result<()> {
    match args.action {
        ReadModelsAction::List(server) => {
            let body = server.get("/admin/read-models").await?;
            if server.print_json(&body)? {
                return Ok(());
            }
            for m in body["read_models"].as_array().into_iter().flatten() {
                println!(
                    "{:<24} version {} (built by {})  position {}/{}  {}",
                    m["name"].as_str().unwrap_or(""),
                    m["version"],
                    m["built_version"],
                    m["position"],
                    m["head"],
                    m["state"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        ReadModelsAction::Rebuild(args) => rebuild(args).await,
    }
}

async fn rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let path = format!("/admin/read-models/{}", urlencode(&args.name));
    args.server
        .post(&format!("{path}/rebuild"), &json!({}))
        .await?;
    if args.no_wait {
        println!("rebuild of {} started", args.name);
        return Ok(());
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("rebuilding {}", args.name));
    loop {
        let status = args.server.get(&path).await?;
        let rebuild = &status["rebuild"];
        bar.set_length(rebuild["head"].as_u64().unwrap_or(0));
        bar.set_position(rebuild["position"].as_u64().unwrap_or(0));
        match rebuild["state"].as_str() {
            Some("done") => {
                bar.finish_and_clear();
                if !args.server.print_json(&status)? {
                    println!(
                        "{} rebuilt up to position {}; the swap paused the writer {} ms",
                        args.name, status["position"], rebuild["pause_ms"]
                    );
                }
                return Ok(());
            }
            Some("failed") => {
                bar.abandon();
                bail!(
                    "rebuild failed: {}",
                    rebuild["error"].as_str().unwrap_or("?")
                );
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
