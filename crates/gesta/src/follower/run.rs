//! The loop every follower runs: wait for its named lock, follow the log while holding
//! it, and after an error release it, wait, and start over from the durable checkpoint.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Lock, stopped};
use crate::{Error, Store};

/// One registered follower (a reactor or a projection) as the shared loop sees it.
pub(crate) trait FollowerEntry: Send + Sync + 'static {
    /// What kind of follower this is, for messages: "reactor", "projection".
    const KIND: &'static str;

    /// The follower's name, unique among its kind.
    fn name(&self) -> &str;

    /// Its checkpoint's key, which is also the name of its lock.
    fn key(&self) -> String;

    /// How often a process without the lock tries again.
    fn lock_retry(&self) -> Duration;

    /// The wait after consecutive failure number `failures` (1-based) before trying
    /// again; by default the lock retry interval.
    fn wait_after(&self, failures: u32) -> Duration {
        let _ = failures;
        self.lock_retry()
    }

    /// Records whether this process holds the lock and follows the log.
    fn set_running(&self, running: bool);

    /// Records the error a run of [`FollowerEntry::follow`] ended with.
    fn failed(&self, error: &Error) {
        let _ = error;
    }

    /// Follows the log while `held` holds the lock: `Ok` when told to stop, an error
    /// when it must start over from its checkpoint.
    fn follow<'a>(&'a self, held: Held<'a>) -> impl Future<Output = Result<(), Error>> + Send + 'a;
}

/// What a follower has while it holds its lock.
pub(crate) struct Held<'a> {
    pub(crate) store: &'a Store,
    /// The follower's checkpoint key (and lock name).
    pub(crate) key: &'a str,
    pub(crate) lock: &'a mut Lock,
    pub(crate) stop: &'a mut watch::Receiver<bool>,
    /// Consecutive failed runs; a follower that makes progress sets it back to 0.
    pub(crate) failures: &'a mut u32,
}

impl Held<'_> {
    /// Whether the follower was told to stop.
    pub(crate) fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// [`Error::LockLost`] when this process no longer holds the lock (another one
    /// may run the follower now).
    pub(crate) async fn check_lock(&mut self) -> Result<(), Error> {
        if self.lock.still_held().await? {
            Ok(())
        } else {
            Err(Error::LockLost(self.key.to_owned()))
        }
    }
}

/// Runs `entry` until `stop` turns true: waits for the lock, follows the log while it
/// holds it, and starts over (from the durable checkpoint) after an error.
pub(crate) async fn run_while_locked<E: FollowerEntry>(
    store: Store,
    entry: Arc<E>,
    mut stop: watch::Receiver<bool>,
) {
    let key = entry.key();
    let mut lock = Lock::new(Arc::clone(store.backend()), &key);
    let mut failures = 0;
    while !*stop.borrow() {
        let mut wait = entry.lock_retry();
        match lock.try_acquire().await {
            Ok(true) => {
                entry.set_running(true);
                tracing::info!(follower = %key, "{} running in this process", E::KIND);
                let held = Held {
                    store: &store,
                    key: &key,
                    lock: &mut lock,
                    stop: &mut stop,
                    failures: &mut failures,
                };
                let result = entry.follow(held).await;
                entry.set_running(false);
                let Err(err) = result else { break };
                failures += 1;
                wait = entry.wait_after(failures);
                tracing::warn!(follower = %key, error = %err, ?wait, "{} interrupted; starting again from its checkpoint", E::KIND);
                entry.failed(&err);
                lock.release().await;
            }
            Ok(false) => {
                tracing::debug!(follower = %key, "{} runs in another process", E::KIND)
            }
            Err(err) => {
                tracing::warn!(follower = %key, error = %err, "cannot take the {}'s lock", E::KIND)
            }
        }
        let _ = tokio::time::timeout(wait, stopped(&mut stop)).await;
    }
    lock.release().await;
}
