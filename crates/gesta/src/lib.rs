//! Gesta: an event-sourced data store. "Redux for the backend".
//!
//! A command goes through a handler that checks it against the read model and turns
//! it into events; in one database transaction the events are appended to the log
//! and reducers update plain SQL read-model tables. Commit, or roll back both.
//!
//! # Layout
//!
//! - [`event`]: events, ids, positions, versions, the CloudEvents wire form.
//! - [`command`]: the [`Command`] trait, rejections, outcomes.
//! - [`App`]: an application's migrations, handlers and read models.
//! - [`Store`]: the handle: dispatch, append, read, query, rebuild.
//! - `writer`: the group-commit writer thread (private).
//! - [`backend`]: the database boundary; [`backend::sqlite`] is the embedded default,
//!   PostgreSQL and MySQL/MariaDB are the cargo features `postgres` and `mysql` (on by
//!   default).
//! - [`sql`] and [`Tx`]: backend-neutral SQL with `:name` parameters.
//! - [`Context`]: the caller's metadata of a write, from the transport to the log.
//! - [`middleware`]: redux-like middleware around dispatch (commands only).
//! - [`subscription`]: every event after a position, then live ones.
//! - [`reactor`]: side effects after commit, with checkpoints, retries and parking.
//! - [`projection`]: read models that follow the log after commit, exactly once.
//! - `follower`: what reactors and projections share: the named lock, the
//!   lock-and-run loop, pages of the log (private); `checkpoint`: the key scheme of
//!   the `checkpoints` table (private).
//! - [`copy`]: copying a whole store to another backend, verified by checksum.
//!
//! # Example
//!
//! ```
//! use gesta::{App, Command, HandlerError, Migration, ReadModel, Rejection, Store, Tx, params};
//! use gesta::event::{NewEvent, RecordedEvent};
//!
//! #[derive(serde::Deserialize)]
//! struct Open { id: String }
//! impl Command for Open { const NAME: &'static str = "Open"; }
//!
//! fn open(tx: &mut Tx<'_>, cmd: Open) -> Result<Vec<NewEvent>, HandlerError> {
//!     let exists = tx.query_opt("SELECT id FROM things WHERE id = :id", &params! { "id" => &cmd.id })?;
//!     if exists.is_some() {
//!         return Err(Rejection::conflict("already open").into());
//!     }
//!     Ok(vec![NewEvent::new(format!("thing-{}", cmd.id), "Opened", &serde_json::json!({ "id": cmd.id }))?])
//! }
//!
//! fn things(tx: &mut Tx<'_>, event: &RecordedEvent) -> Result<(), HandlerError> {
//!     #[derive(serde::Deserialize)]
//!     struct Opened { id: String }
//!     if event.event_type == "Opened" {
//!         let opened: Opened = event.data_as()?;
//!         tx.execute("INSERT INTO things (id) VALUES (:id)", &params! { "id" => opened.id })?;
//!     }
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), gesta::Error> {
//! let app = App::new("things")
//!     .migration(Migration::new("0001", "CREATE TABLE things (id VARCHAR(64) PRIMARY KEY)"))
//!     .command(open)
//!     .read_model(ReadModel::new("things", &["things"], things));
//! let store = Store::open("sqlite::memory:", app).await?;
//! let outcome = store.dispatch(Open { id: "a".into() }).await?;
//! assert_eq!(outcome.events[0].position.0, 1);
//! assert!(store.dispatch(Open { id: "a".into() }).await.is_err());
//! # Ok(()) }
//! ```

mod app;
pub mod archive;
pub mod backend;
mod checkpoint;
pub mod command;
mod context;
pub mod copy;
mod error;
pub mod event;
mod expected;
mod follower;
pub mod history;
pub mod json;
pub mod metrics;
pub mod middleware;
mod principal;
pub mod projection;
pub mod reactor;
mod read;
pub mod sql;
mod store;
pub mod subscription;
mod tx;
mod writer;

pub use app::{App, Migration, ReadModel};
pub use command::{Command, CommandOutcome, HandlerError, Rejection, RejectionKind};
pub use context::Context;
pub use error::Error;
pub use expected::ExpectedVersion;
pub use principal::Principal;
pub use read::{LogQuery, Readable, StreamPattern};
pub use store::{
    ApiKey, AppendRequest, AsOfView, CommandEvents, ERASE_COMMAND, Erasure, EventsCheck, Health,
    MAX_KEY_NAME, MAX_PAGE, REVERT_COMMAND, Stats, Store, StoreBuilder, StoreOptions, TypeCount,
};
pub use tx::Tx;
pub use writer::{ImportBatch, StoredKey};

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
