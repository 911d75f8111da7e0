//! The real `gesta-bank` server under the API fuzzer (schemathesis, see
//! `gesta_testkit::schemathesis`): every operation of its `/openapi.json`, each command
//! with the request schema derived from its Rust type.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use gesta_testkit::Engine;

#[test]
fn the_bank_api_answers_as_documented_under_fuzzing() {
    let Some(schemathesis) = gesta_testkit::schemathesis::command() else {
        return;
    };
    let db = Engine::Sqlite.fresh().expect("SQLite always runs");
    let outbox = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gesta-bank"))
        .args(["--db", db.url(), "--listen", "127.0.0.1:0", "--outbox"])
        .arg(outbox.path().join("outbox.txt"))
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
    let fuzzed = std::panic::catch_unwind(|| {
        gesta_testkit::schemathesis::fuzz(&schemathesis, &base, 30);
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = fuzzed {
        std::panic::resume_unwind(panic);
    }
}
