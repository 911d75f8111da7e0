//! How followers wait: for the stop signal, for the next commit, and after failures.

use std::time::Duration;

use tokio::sync::watch;

use crate::event::Position;

/// Resolves once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Waits for a commit of this process, or `wait`, whichever comes first.
pub(crate) async fn changed_or_sleep(commits: &mut watch::Receiver<Position>, wait: Duration) {
    let _ = tokio::time::timeout(wait, async {
        if commits.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await;
}

/// The wait after consecutive failure number `failure` (1-based) of a follower: `base`,
/// doubled after each further failure, at most `max`.
pub(crate) fn backoff(base: Duration, max: Duration, failure: u32) -> Duration {
    let doublings = failure.saturating_sub(1).min(31);
    base.saturating_mul(1_u32 << doublings).min(max)
}
