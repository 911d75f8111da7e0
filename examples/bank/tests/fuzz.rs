//! The real `gesta-bank` server under the API fuzzer (schemathesis, see
//! `gesta_testkit::schemathesis`): every operation of its `/openapi.json`, each command
//! with the request schema derived from its Rust type.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use gesta_testkit::Engine;

/// A `gesta-bank` on `db` with `extra` flags; its base URL.
fn start(db: &str, outbox: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gesta-bank"))
        .args(["--db", db, "--listen", "127.0.0.1:0", "--outbox"])
        .arg(outbox.join("outbox.txt"))
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gesta-bank");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let base = loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("stdout") == 0 {
            panic!("gesta-bank exited before listening");
        }
        if let Some(rest) = line.strip_prefix("bank listening on ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in stdout.lines() {});
    (child, base)
}

/// Runs `fuzz` against the server, then stops it.
fn fuzzing(mut child: std::process::Child, fuzz: impl FnOnce() + std::panic::UnwindSafe) {
    let fuzzed = std::panic::catch_unwind(fuzz);
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = fuzzed {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn the_bank_api_answers_as_documented_under_fuzzing() {
    let Some(schemathesis) = gesta_testkit::schemathesis::command() else {
        return;
    };
    let db = Engine::Sqlite.fresh().expect("SQLite always runs");
    let outbox = tempfile::tempdir().expect("temp dir");
    let (child, base) = start(db.url(), outbox.path(), &[]);
    fuzzing(child, || {
        gesta_testkit::schemathesis::fuzz(&schemathesis, &base, 30)
    });
}

/// The same with `--auth` and the bank's policy, as an admin (every route is open to
/// it, so every operation is fuzzed): schemathesis also sends each operation without
/// the token and requires a 401.
#[test]
fn the_authenticated_bank_api_answers_as_documented_under_fuzzing() {
    let Some(schemathesis) = gesta_testkit::schemathesis::command() else {
        return;
    };
    let db = Engine::Sqlite.fresh().expect("SQLite always runs");
    let outbox = tempfile::tempdir().expect("temp dir");
    let token = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = gesta::Store::open(db.url(), gesta_bank::app())
            .await
            .unwrap();
        let key = gesta_auth::keys::generate("fuzzer", vec!["admin".into()], None).unwrap();
        store.add_api_key(key.record).await.unwrap();
        drop(store);
        key.token
    });
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/policy.toml");
    let (child, base) = start(db.url(), outbox.path(), &["--auth", "--policy", policy]);
    let header = format!("Authorization: Bearer {token}");
    fuzzing(child, || {
        gesta_testkit::schemathesis::fuzz_with(&schemathesis, &base, 20, &[header]);
    });
}
