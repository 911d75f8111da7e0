//! The store conformance suite: every test body is written once, as an
//! `async fn(TestDb)`, and instantiated once per backend by [`conformance!`]
//! (like ripgrep's `rgtest!`). A behaviour that differs between backends is a bug.
//!
//! Run it with `cargo test -p gesta --test conformance`; one backend only with a
//! filter such as `cargo test -p gesta --test conformance sqlite_file`.
//!
//! - `harness`: the backends, the `conformance!` macro, how a fresh store is made.
//! - `app`: the tiny application the suite drives (not the bank: the suite covers
//!   the library itself).
//! - `check`: shared assertions (gap-free log, read-model snapshots).
//! - `projected`: the table, writes and waits the projection tests share.
//! - one module per area of the contract (DESIGN.md sections 1 and 2).
//! - `sqlite`, `mysql`: the few tests that are truly specific to one backend.
//!
//! Server databases come from `gesta-testkit` (a fresh schema or database per test).

#[macro_use]
mod harness;

mod app;
mod check;

mod append;
mod archive;
mod erasure;
mod group_commit;
mod history;
mod idempotency;
mod import;
mod limits;
mod log_buffer;
mod metadata;
mod middleware;
mod mysql;
mod projected;
mod projection_requests;
mod projections;
mod reactors;
mod reads;
mod rebuild;
mod sqlite;
mod subscriptions;
mod upcasting;
