//! `gesta serve --app examples/library/app.mjs` under the API fuzzer (schemathesis,
//! see `gesta_testkit::schemathesis`): every operation of its `/openapi.json`, the
//! per-command request schemas and the collections' row schemas included, on SQLite
//! and PostgreSQL (the routes and documents do not depend on the backend; MariaDB
//! runs the same routes through the `serve` suite).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use gesta_testkit::Engine;

#[test]
fn the_library_api_answers_as_documented_under_fuzzing() {
    let Some(schemathesis) = gesta_testkit::schemathesis::command() else {
        return;
    };
    let app = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/library/app.mjs"
    ));
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let Some(db) = engine.fresh() else {
            eprintln!("{}: left out (its URL variable is not set)", engine.title());
            continue;
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_gesta"))
            .args(["serve", "--app"])
            .arg(app)
            .args(["--db", db.url(), "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gesta serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("the listening line");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        let fuzzed = std::panic::catch_unwind(|| {
            gesta_testkit::schemathesis::fuzz(&schemathesis, &base, 30);
        });
        let _ = child.kill();
        let _ = child.wait();
        if let Err(panic) = fuzzed {
            eprintln!("on {}:", engine.title());
            std::panic::resume_unwind(panic);
        }
    }
}
