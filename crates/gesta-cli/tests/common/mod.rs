//! What the `gesta` binary's test suites share: running the binary, and the databases
//! a test runs it against.
//!
//! Each suite compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::process::{Command, Output};

use gesta_testkit::Engine;
use tempfile::TempDir;

/// Runs `gesta ARGS` to the end.
pub fn gesta(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gesta"))
        .args(args)
        .output()
        .expect("run gesta")
}

/// The stdout of a run that must have succeeded (else its stderr is the failure).
pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "gesta failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// The URL of SQLite file `name` in `dir`.
pub fn sqlite_url(dir: &TempDir, name: &str) -> String {
    format!("sqlite://{}", dir.path().join(name).display())
}

/// Runs `test` on the URL of a fresh database of `backend`, unless the backend is
/// left out (`gesta_testkit` says so; under `CI=true` it fails instead).
pub async fn on(backend: Engine, test: impl AsyncFnOnce(&str)) {
    if let Some(db) = backend.fresh() {
        test(db.url()).await;
    }
}
