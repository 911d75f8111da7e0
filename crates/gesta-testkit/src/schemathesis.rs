//! The API fuzzer: [schemathesis](https://schemathesis.readthedocs.io) 4.3 run against a
//! live server's `/openapi.json`. It generates requests from the document (valid ones
//! and broken ones) and checks every answer: no 5xx, each status, content type, header
//! and body as documented, and invalid input refused with a 4xx.
//!
//! The command is `$GESTA_SCHEMATHESIS` (what `.ci/run` installs into a virtualenv), or
//! `schemathesis` on the `PATH`. Without it the fuzzing is left out with a message;
//! under `CI=true` that is a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::in_ci;

/// The schemathesis command, or `None` (after saying so) when there is none.
pub fn command() -> Option<PathBuf> {
    let candidate = std::env::var_os("GESTA_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("schemathesis"));
    let runs = Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        return Some(candidate);
    }
    assert!(
        !in_ci(),
        "schemathesis is missing under CI=true: .ci/run installs it (pip install 'schemathesis==4.3.*' 'hypothesis<6.150') and sets GESTA_SCHEMATHESIS"
    );
    let _ = writeln!(
        std::io::stderr(),
        "API fuzzing left out: it needs schemathesis 4.3 (pip install 'schemathesis==4.3.*' 'hypothesis<6.150'), or GESTA_SCHEMATHESIS naming it"
    );
    None
}

/// Fuzzes the server at `base` (e.g. `http://127.0.0.1:8080`) with `examples` cases
/// per operation and a fixed seed, so a failure reproduces. Panics with schemathesis'
/// report when any check fails.
///
/// Left out: the streaming routes (`/subscribe`, `/ws` never end, so a fuzzer waiting
/// for the whole answer times out; their own suites cover bad input), and the check
/// that every schema-valid request succeeds, which an event store cannot pass by
/// design: a valid command may be rejected by its handler (422), conflict (409), name
/// a position past the head or a parked event that does not exist.
pub fn fuzz(schemathesis: &Path, base: &str, examples: u32) {
    fuzz_with(schemathesis, base, examples, &[]);
}

/// [`fuzz`], sending `headers` (`Name: value`, e.g. an `Authorization` header) with
/// every request; schemathesis then also checks that operations declaring security
/// refuse requests without it.
pub fn fuzz_with(schemathesis: &Path, base: &str, examples: u32, headers: &[String]) {
    let hooks = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/schemathesis"));
    let output = Command::new(schemathesis)
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--checks", "all"])
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args(["--exclude-path", "/subscribe", "--exclude-path", "/ws"])
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", "20261206", "--workers", "1", "--no-color"])
        .args(["--request-timeout", "30"])
        .args(headers.iter().flat_map(|h| ["--header", h.as_str()]))
        .env("PYTHONPATH", hooks)
        .env("SCHEMATHESIS_HOOKS", "gesta_hooks")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", schemathesis.display()));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems in the API at {base} ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // The counts of each phase, on the real stderr (the harness captures the rest),
    // so CI's log shows how much was fuzzed.
    let counts: Vec<&str> = report
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.contains("passed") || l.starts_with("Operations:") || l.starts_with("Scenarios:")
        })
        .collect();
    let auth = if headers.is_empty() {
        ""
    } else {
        " (with credentials)"
    };
    let _ = writeln!(
        std::io::stderr(),
        "schemathesis{auth}: {}",
        counts.join("; ")
    );
}
