//! A subscription read in batches, at most one batch per flush interval while events
//! keep coming: many events per network write instead of one write per commit.

use std::time::Duration;

use gesta::Error;
use gesta::event::SharedEvent;
use gesta::subscription::Subscription;
use tokio::time::Instant;

/// At most this many events in one batch.
pub(super) const MAX_EVENTS: usize = 512;

/// A subscription whose events go out in paced batches.
pub(super) struct Paced {
    subscription: Subscription,
    interval: Duration,
    /// When the last batch was handed out.
    last: Option<Instant>,
    /// A batch taken from the subscription but not handed out yet (kept when the
    /// caller's future is dropped while it waits out the interval).
    pending: Vec<SharedEvent>,
}

impl Paced {
    pub(super) fn new(subscription: Subscription, interval: Duration) -> Self {
        Paced {
            subscription,
            interval,
            last: None,
            pending: Vec::new(),
        }
    }

    /// The next events, at least one and at most [`MAX_EVENTS`]: waits for one; if the
    /// last batch went out less than the interval ago, waits out the rest of it and
    /// adds what committed meanwhile. Cancel-safe: no event is lost when the future is
    /// dropped.
    pub(super) async fn next(&mut self) -> Result<Vec<SharedEvent>, Error> {
        if self.pending.is_empty() {
            self.pending = self.subscription.next_batch(MAX_EVENTS).await?;
        }
        if let Some(last) = self.last {
            let until = last + self.interval;
            if self.pending.len() < MAX_EVENTS && Instant::now() < until {
                tokio::time::sleep_until(until).await;
                let room = MAX_EVENTS - self.pending.len();
                let more = self.subscription.ready(room);
                self.pending.extend(more);
            }
        }
        self.last = Some(Instant::now());
        Ok(std::mem::take(&mut self.pending))
    }
}
