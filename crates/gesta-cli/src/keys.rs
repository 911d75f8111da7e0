//! `gesta keys`: the API keys of a store. A key is printed once, when it is added; the
//! store keeps only its argon2id hash. Servers on the store see a new key at once and
//! stop accepting a revoked one within a second.

use anyhow::Context as _;
use serde_json::json;

/// Arguments of `gesta keys`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Add a key and print it (the only time it is shown).
    Add(Add),
    /// List keys: name, roles, subject, when added and revoked (never the secret).
    List(List),
    /// Revoke the key of this name.
    Revoke(Revoke),
}

#[derive(Debug, clap::Args)]
struct Add {
    /// Database URL, e.g. sqlite://bank.db (a new SQLite store is created).
    #[arg(long, env = "GESTA_DB")]
    db: String,
    /// The principal the key authenticates: recorded as the author of its changes.
    #[arg(long)]
    name: String,
    /// Its roles, comma-separated (see the policy file).
    #[arg(long, value_delimiter = ',')]
    roles: Vec<String>,
    /// The data subject it acts for (`{subject}` in read patterns), if not its name.
    #[arg(long)]
    subject: Option<String>,
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
struct Revoke {
    #[command(flatten)]
    db: crate::open::Db,
    /// The key's name.
    #[arg(long)]
    name: String,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Add(add) => run_add(add).await,
        Action::List(list) => run_list(list).await,
        Action::Revoke(revoke) => run_revoke(revoke).await,
    }
}

async fn run_add(args: Add) -> anyhow::Result<()> {
    let roles: Vec<String> = args
        .roles
        .iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    let store = gesta::Store::open(&args.db, gesta::App::new("gesta-cli"))
        .await
        .with_context(|| format!("opening {}", args.db))?;
    let key = gesta_auth::keys::generate(&args.name, roles, args.subject)?;
    store.add_api_key(key.record).await?;
    println!("{}", key.token);
    eprintln!(
        "key {:?} added; the token above is shown only now: keep it secret",
        args.name
    );
    Ok(())
}

async fn run_list(args: List) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    let keys = store.api_keys().await?;
    if args.json {
        let keys: Vec<_> = keys
            .iter()
            .map(|k| {
                json!({
                    "name": k.name, "id": k.id, "roles": k.roles, "subject": k.subject,
                    "created_at": k.created_at.to_rfc3339(),
                    "revoked_at": k.revoked_at.map(|t| t.to_rfc3339()),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "keys": keys }))?
        );
        return Ok(());
    }
    if keys.is_empty() {
        println!("no keys");
        return Ok(());
    }
    println!(
        "{:<24} {:<24} {:<16} {:<28} REVOKED",
        "NAME", "ROLES", "SUBJECT", "ADDED"
    );
    for key in &keys {
        println!(
            "{:<24} {:<24} {:<16} {:<28} {}",
            key.name,
            key.roles.join(","),
            key.subject.as_deref().unwrap_or("-"),
            key.created_at.to_rfc3339(),
            key.revoked_at
                .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339()),
        );
    }
    Ok(())
}

async fn run_revoke(args: Revoke) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    if !store.revoke_api_key(&args.name).await? {
        anyhow::bail!("no key named {:?} that is not already revoked", args.name);
    }
    println!("key {:?} revoked", args.name);
    Ok(())
}
