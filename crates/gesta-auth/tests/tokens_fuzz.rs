//! Property-based fuzzing of the token decoders: any bearer text, API-key-shaped or
//! JWT-shaped, is an error (never a panic, never a principal) unless it is real.

/// Prints to the real stderr, which the test harness does not capture, so the counts
/// show in CI's log.
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use gesta_auth::{JwtConfig, Policy, Security};
use proptest::prelude::*;

fn security() -> (tokio::runtime::Runtime, Security) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime
        .block_on(gesta::Store::open(
            "sqlite::memory:",
            gesta::App::new("fuzz"),
        ))
        .unwrap();
    let jwt = JwtConfig::new()
        .hs256_secret(b"0123456789abcdef0123456789abcdef")
        .unwrap()
        .jwks(include_str!("fixtures/jwks.json"))
        .unwrap();
    (
        runtime,
        Security::new(Policy::builtin()).keys(store).jwt(jwt),
    )
}

fn token() -> impl Strategy<Value = String> {
    let segment = "[A-Za-z0-9_=+/-]{0,40}";
    prop_oneof![
        any::<String>(),
        "gesta_[0-9a-f]{16}_[0-9a-f]{64}",
        "gesta_[ -~]{0,90}",
        (segment, segment, segment).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
        // A real JWT header with random claims and signature.
        ("[A-Za-z0-9_-]{0,80}", "[A-Za-z0-9_-]{0,80}")
            .prop_map(|(b, c)| format!("eyJhbGciOiJIUzI1NiJ9.{b}.{c}")),
        ("[A-Za-z0-9_-]{0,80}", "[A-Za-z0-9_-]{0,80}")
            .prop_map(|(b, c)| format!("eyJhbGciOiJub25lIn0.{b}.{c}")),
    ]
}

#[test]
fn no_made_up_token_authenticates_and_none_panics() {
    let (runtime, security) = security();
    let cases = 2_000;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let counts = std::cell::Cell::new([0_u32; 2]);
    runner
        .run(&token(), |token| {
            let result = runtime.block_on(security.authenticate(&token));
            prop_assert!(result.is_err(), "{token:?} authenticated");
            let mut seen = counts.get();
            seen[usize::from(token.starts_with("gesta_"))] += 1;
            counts.set(seen);
            Ok(())
        })
        .unwrap();
    report!(
        "token fuzzing: {cases} cases ({} API-key-shaped, {} others), none accepted, no panic",
        counts.get()[1],
        counts.get()[0]
    );
}
