//! `@gesta/client` (clients/js) against a real `gesta serve`, on every backend: its own
//! test suite (node's test runner, Redux 5, headless Chromium through playwright-core),
//! run by `npm test` with this crate's `gesta` binary. Without Node.js and npm the
//! suite is left out with a message, except under `CI=true`, where it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use gesta_testkit::{Engine, in_ci};

fn client_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../clients/js")).to_path_buf()
}

/// Whether `npm` runs here; without it the suite is left out, or fails under CI.
fn npm_present() -> bool {
    if Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    assert!(
        !in_ci(),
        "npm is missing under CI=true: install Node.js 20 and npm"
    );
    let _ = writeln!(
        std::io::stderr(),
        "@gesta/client tests left out: they need Node.js 20+ and npm"
    );
    false
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_typescript_client_passes_its_suite_on_every_backend() {
    if !npm_present() {
        return;
    }
    let dir = client_dir();
    // The pinned dev dependencies (typescript, redux, playwright-core), from the lock file.
    if !dir.join("node_modules/.package-lock.json").exists() {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
            "npm ci in clients/js",
        );
    }
    for engine in Engine::ALL {
        let Some(db) = engine.fresh() else {
            eprintln!("{}: left out (its URL variable is not set)", engine.title());
            continue;
        };
        run(
            Command::new("npm")
                .arg("test")
                .current_dir(&dir)
                .env("GESTA_BIN", env!("CARGO_BIN_EXE_gesta"))
                .env("GESTA_DB", db.url()),
            &format!("npm test in clients/js on {}", engine.title()),
        );
    }
}
