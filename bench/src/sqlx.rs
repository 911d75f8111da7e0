//! (f) The (a2) Transfer loop over sqlx's async SQLite driver, against rusqlite on a
//! thread, for the decision record "sync handlers on a writer thread vs async API over
//! an async driver".
//!
//! sqlx-sqlite cannot be linked into this binary: it needs libsqlite3-sys < 0.38 and
//! Gesta's rusqlite uses 0.39 (one `links = "sqlite3"` crate per dependency graph). So
//! `bench/sqlx-ceiling` is its own small workspace; this module builds and runs it with
//! cargo and reads the JSON line it prints. It measures both drivers over the same
//! SQLite build, so the comparison is like for like.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;

use crate::Settings;
use crate::report::{Compare, Report, Row};

/// Builds and runs `sqlx-ceiling`, and adds its two rows to `report`.
pub fn run(settings: &Settings, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("(f) sqlx vs rusqlite, same SQL, same SQLite (building bench/sqlx-ceiling)");
    let dir = settings.tempdir()?;
    let output = match invoke(settings, dir.path()) {
        Ok(output) => output,
        Err(err) => {
            eprintln!("  (f) skipped: {err:#}");
            report.note(format!("(f) skipped: {err:#}"));
            return Ok(());
        }
    };
    let json: serde_json::Value =
        serde_json::from_str(&output).with_context(|| format!("reading {output:?}"))?;
    let version = json["sqlite_version"].as_str().unwrap_or("?");
    for (key, driver, what) in [
        ("f_rusqlite", "rusqlite", "rusqlite on a thread"),
        ("f_sqlx", "sqlx", "sqlx (async, tokio)"),
    ] {
        let commands = json[driver]["commands"].as_u64().unwrap_or(0);
        let seconds = json[driver]["seconds"].as_f64().unwrap_or(0.0);
        let switches = json[driver]["context_switches"].as_f64().unwrap_or(0.0);
        report.note(format!(
            "{key}: {:.2} context switches per command ({:.2} per SQL statement; 7 statements \
             per Transfer)",
            switches / commands.max(1) as f64,
            switches / (7 * commands.max(1)) as f64
        ));
        report.add(Row {
            key: key.into(),
            what: format!(
                "{what}: Transfer SQL, {} per transaction (SQLite {version})",
                settings.batch
            ),
            rate: commands as f64 / seconds.max(1e-9),
            unit: "commands/s",
            compare: Compare::Writes,
            latency: None,
            count: commands,
            errors: 0,
        });
    }
    Ok(())
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo run --release` of the sqlx program; returns its last stdout line.
fn invoke(settings: &Settings, dir: &Path) -> anyhow::Result<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = manifest_dir().join("sqlx-ceiling").join("Cargo.toml");
    let target = manifest_dir()
        .join("..")
        .join("target")
        .join("sqlx-ceiling");
    let mut command = Command::new(cargo);
    command
        .arg("run")
        .arg("--release")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .arg("--")
        .arg("--dir")
        .arg(dir)
        .args([
            "--seconds",
            &settings.limit.duration.as_secs_f64().to_string(),
        ])
        .args(["--accounts", &settings.accounts.to_string()])
        .args(["--batch", &settings.batch.to_string()]);
    if let Some(n) = settings.limit.commands {
        command.args(["--commands", &n.to_string()]);
    }
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo for {}", manifest.display()))?;
    if !output.status.success() {
        anyhow::bail!("{} exited with {}", manifest.display(), output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .last()
        .map(str::to_owned)
        .context("sqlx-ceiling printed nothing")
}
