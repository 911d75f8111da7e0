//! Security end to end: the bank served with `--auth` and its policy file, driven over
//! HTTP, GraphQL (POST and graphql-transport-ws) and NATS request-reply by callers with
//! every kind of credential, on SQLite and PostgreSQL (and MariaDB when it is
//! configured).

/// Prints to the real stderr, which the test harness does not capture, so the counts
/// show in CI's log.
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod graphql;
mod graphql_ws;
mod matrix;
mod nats;
mod push;
mod support;
mod transport;
