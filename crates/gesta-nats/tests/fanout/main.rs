//! The NATS JetStream fan-out against a real NATS server with JetStream enabled, each
//! test body written once and run on every backend by [`on_every_backend!`], as
//! `<test>::sqlite`, `<test>::postgres` and `<test>::mysql`.
//!
//! - `backend`: the macro, and the store the tests open on a fresh database of each
//!   backend from `gesta-testkit` (a SQLite file, a PostgreSQL schema or a
//!   MySQL/MariaDB database).
//! - `nats`: the JetStream stream a test publishes to, and reading it back.
//! - `log`: writing events to a store and checking the messages against its log.
//! - `publishing`: subjects, CloudEvents bodies, order, the filter.
//! - `restart`: a publishing process killed with SIGKILL, then restarted.
//! - `unreachable`: NATS down (runs without a NATS server).
//!
//! NATS comes from `GESTA_TEST_NATS_URL` (e.g. `nats://127.0.0.1:4222`), the servers
//! from `GESTA_TEST_POSTGRES_URL` and `GESTA_TEST_MYSQL_URL`. An unset variable leaves
//! its tests out with a message, except under `CI=true`, where it is a failure. Each
//! test uses its own JetStream stream and subject prefix and deletes the stream at the
//! end. One backend only: `cargo test -p gesta-nats --test fanout postgres`.

#[macro_use]
mod backend;

mod log;
mod nats;

mod publishing;
mod restart;
mod unreachable;
