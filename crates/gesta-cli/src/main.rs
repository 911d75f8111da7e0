//! `gesta`: the command line of a Gesta store.
//!
//! - `gesta events --db URL [--after P] [--limit N] [--type T]... [--stream S]... [--category C]... [--follow] [--json]`
//! - `gesta stats --db URL [--json]`
//! - `gesta copy --from URL --to URL`
//! - `gesta archive --db URL --to DEST (--before P | --older-than 90d | --keep N)`
//! - `gesta reactors list|retry|skip --db URL [--reactor NAME] [--position P | --all]`
//! - `gesta projections list --db URL [--json]`
//! - `gesta projections rebuild --db URL --projection NAME`: records a rebuild request
//!   that the process running the projection performs (at once if one runs it, else
//!   when one starts).
//! - `gesta serve --app app.mjs [--db URL] [--listen ADDR] [--static DIR]`: a server
//!   for an application written as one JavaScript module.
//! - `gesta keys add --db URL --name NAME --roles r1,r2 [--subject ID]`, `gesta keys
//!   list --db URL`, `gesta keys revoke --db URL --name NAME`: API keys.
//! - History, through a running server's admin API (`--server URL`): `gesta snapshots
//!   list|create`, `gesta diff --from P1 --to P2 [--table T]`, `gesta revert
//!   COMMAND_ID | --to P`, `gesta read-models list|rebuild NAME`, `gesta erase
//!   --subject S`.

mod archive;
mod copy;
mod events;
mod history;
mod keys;
mod open;
mod projections;
mod reactors;
mod schema;
mod serve;
mod stats;

use clap::{Parser, Subcommand};

/// Read and inspect a Gesta event store.
#[derive(Debug, Parser)]
#[command(name = "gesta", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve an application written as one JavaScript module (`--app app.mjs`).
    Serve(Box<serve::Args>),
    /// Print events of the global log in position order (with --follow, then new ones live).
    Events(events::Args),
    /// Summarize a store: events, streams, positions, events per type.
    Stats(stats::Args),
    /// Copy a whole store (log, streams, idempotency keys) to another database,
    /// resuming an interrupted copy, and verify counts and a checksum.
    Copy(copy::Args),
    /// Move the oldest events to an archive of segment files (file:// or s3://); reads
    /// still see them.
    Archive(archive::Args),
    /// Reactors' checkpoints and lag; list, retry or skip their parked events.
    Reactors(reactors::Args),
    /// Async projections' checkpoints and lag; request a rebuild.
    Projections(projections::Args),
    /// Snapshots of the read models (via a running server): list, create.
    Snapshots(history::SnapshotsArgs),
    /// What changed in the read models between two positions (via a running server).
    Diff(history::DiffArgs),
    /// Revert a command, or every command after a position (via a running server).
    Revert(history::RevertArgs),
    /// Forget a data subject's personal data (via a running server).
    Erase(history::EraseArgs),
    /// API keys of a store: add (prints the key once), list, revoke.
    Keys(keys::Args),
    /// Inline read models (via a running server): list, rebuild in the background.
    #[command(name = "read-models")]
    ReadModels(history::ReadModelsArgs),
    /// Print an app's schema: `gesta schema graphql --app app.mjs | --server URL`.
    Schema(schema::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The server runs on every core; the other verbs are one client each.
    let runtime = match cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(async {
        match cli.command {
            Command::Events(args) => events::run(args).await,
            Command::Stats(args) => stats::run(args).await,
            Command::Copy(args) => copy::run(args).await,
            Command::Archive(args) => archive::run(args).await,
            Command::Reactors(args) => reactors::run(args).await,
            Command::Projections(args) => projections::run(args).await,
            Command::Snapshots(args) => history::snapshots(args).await,
            Command::Diff(args) => history::diff(args).await,
            Command::Revert(args) => history::revert(args).await,
            Command::Erase(args) => history::erase(args).await,
            Command::ReadModels(args) => history::read_models(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::Schema(args) => schema::run(args).await,
            Command::Serve(args) => serve::run(*args).await,
        }
    })
}
