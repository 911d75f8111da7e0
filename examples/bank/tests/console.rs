//! The web console (`/console`) in a real browser: `console/test/` (node's test
//! runner driving Debian's Chromium through playwright-core) against this crate's bank
//! server on SQLite, with and without `--auth`. First the checked-in build
//! (`crates/gesta-http/console/`) is compared with a fresh build of `console/src`, so
//! the embedded console is always the sources'. Without Node.js and npm, or Chromium,
//! the suite is left out with a message, except under `CI=true`, where it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use gesta_testkit::in_ci;

fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).to_path_buf()
}

fn present(what: &str, ok: bool, hint: &str) -> bool {
    if ok {
        return true;
    }
    assert!(!in_ci(), "{what} is missing under CI=true: {hint}");
    let _ = writeln!(
        std::io::stderr(),
        "console tests left out: they need {what} ({hint})"
    );
    false
}

fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// API keys for the `--auth` server, added to its database before it starts.
async fn keys(db: &str) -> serde_json::Value {
    let store = gesta::Store::open(db, gesta_bank::app()).await.unwrap();
    let mut tokens = serde_json::Map::new();
    for (name, roles, subject) in [
        ("admin", "admin", None),
        ("alice", "customer", Some("alice")),
    ] {
        let key =
            gesta_auth::keys::generate(name, vec![roles.to_owned()], subject.map(str::to_owned))
                .unwrap();
        store.add_api_key(key.record).await.unwrap();
        tokens.insert(name.to_owned(), key.token.into());
    }
    store.stop_reactors().await;
    drop(store);
    tokens.into()
}

#[test]
fn the_console_passes_its_browser_suite() {
    let npm = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present("Node.js 20+ and npm", npm, "apt-get install -y nodejs npm") {
        return;
    }
    let chromium = std::env::var("GESTA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !present(
        &chromium,
        Path::new(&chromium).exists(),
        "apt-get install -y chromium",
    ) {
        return;
    }
    let dir = root().join("console");
    if !dir.join("node_modules/.package-lock.json").exists() {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
            "npm ci in console",
        );
    }
    // The embedded build is the sources' build.
    let built = tempfile::tempdir().unwrap();
    run(
        Command::new("npm").args(["run", "check"]).current_dir(&dir),
        "tsc --noEmit in console",
    );
    run(
        Command::new("node")
            .arg("build.mjs")
            .arg("--out")
            .arg(built.path())
            .current_dir(&dir),
        "building the console",
    );
    let embedded = root().join("crates/gesta-http/console");
    for name in ["index.html", "console.js", "console.css"] {
        let fresh = std::fs::read(built.path().join(name)).unwrap();
        let checked_in = std::fs::read(embedded.join(name)).unwrap();
        assert!(
            fresh == checked_in,
            "crates/gesta-http/console/{name} is not the build of console/src: run `npm run build` in console/ and commit it"
        );
    }

    let data = tempfile::tempdir().unwrap();
    let auth_db = format!("sqlite://{}", data.path().join("auth.db").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tokens = runtime.block_on(keys(&auth_db));
    drop(runtime);
    let report = run(
        Command::new("npm")
            .arg("test")
            .current_dir(&dir)
            .env("GESTA_BANK_BIN", env!("CARGO_BIN_EXE_gesta-bank"))
            .env("GESTA_CHROMIUM", &chromium)
            .env("GESTA_CONSOLE_DATA", data.path())
            .env("GESTA_CONSOLE_AUTH_DB", &auth_db)
            .env("GESTA_CONSOLE_KEYS", tokens.to_string())
            .env(
                "GESTA_CONSOLE_SCREENSHOTS",
                root().join("docs/console").display().to_string(),
            ),
        "npm test in console",
    );
    // Chromium is here and the keys were given: every browser test ran.
    assert!(
        report.contains("# skipped 0") && report.contains("# fail 0"),
        "console tests were skipped:\n{report}"
    );
    let summary: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("# ") && !l.starts_with("# Subtest"))
        .collect();
    eprintln!("{}", summary.join("\n"));
}
