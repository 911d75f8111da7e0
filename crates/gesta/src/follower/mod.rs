//! Followers of the log: what reactors and async projections share.
//!
//! A follower has a name, a durable checkpoint and a named lock. Whichever process
//! holds the lock runs it: [`run_while_locked`] waits for the lock, calls the
//! follower's [`FollowerEntry::follow`] while the lock is held, and after an error
//! releases it, waits, and starts over from the checkpoint. What differs between the
//! kinds (delivery with retries and parking, batches applied with their checkpoint)
//! stays in `crate::reactor` and `crate::projection`.
//!
//! - `registry.rs`: the followers of one kind, their tasks, and stopping them.
//! - `run.rs`: the lock-and-run loop and what a follower has while it holds the lock.
//! - `lock.rs`: the named lock, on a blocking thread.
//! - `page.rs`: reading the log a page at a time.
//! - `wait.rs`: waiting for the stop signal, a commit, or the end of a backoff.

mod lock;
mod page;
mod registry;
mod run;
mod wait;

pub(crate) use lock::Lock;
pub(crate) use page::{Page, page};
pub(crate) use registry::{Lifetime, Registry, Tasks};
pub(crate) use run::{FollowerEntry, Held, run_while_locked};
pub(crate) use wait::{backoff, changed_or_sleep, stopped};
