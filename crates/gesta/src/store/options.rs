//! Tunables of a store.

use std::time::Duration;

/// Limits and sizes of a store; the defaults suit most applications.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Most units of work per write transaction (group commit). Default 512.
    pub max_batch: usize,
    /// Jobs that may wait for the writer before callers are made to wait. Default 8192.
    pub queue_capacity: usize,
    /// How long a caller waits for room in a full queue before [`crate::Error::Overloaded`].
    /// Default 2 s.
    pub queue_wait: Duration,
    /// How long one command's handler and reducers may run before it is rolled back with
    /// [`crate::Error::DeadlineExceeded`]. Default 5 s.
    pub command_deadline: Duration,
    /// Idle reader connections kept open. Default 8.
    pub max_idle_readers: usize,
    /// Reads (queries, subscriptions catching up, reactors and projections reading the
    /// log) that may run at once, each on a connection of its own; more wait for a
    /// turn, so a crowd of subscribers cannot open more connections than the database
    /// allows. Default 16.
    pub max_readers: usize,
    /// How often a caught-up subscription looks for events committed by other
    /// processes (its own process's commits wake it at once). Default 200 ms.
    pub poll_interval: Duration,
    /// How long a query from outside (`POST /admin/query`, [`crate::Store::query_at`])
    /// may run before it is cancelled. Default 5 s.
    pub query_timeout: Duration,
    /// Take a snapshot of the read models every this many events (0 = only on
    /// demand). Default 0; the bank example turns it on.
    pub snapshot_every: u64,
    /// Snapshots kept; older ones are deleted when a new one is taken (0 = all).
    /// Default 100.
    pub snapshot_keep: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_batch: 512,
            queue_capacity: 8192,
            queue_wait: Duration::from_secs(2),
            command_deadline: Duration::from_secs(5),
            max_idle_readers: 8,
            max_readers: 16,
            poll_interval: Duration::from_millis(200),
            query_timeout: Duration::from_secs(5),
            snapshot_every: 0,
            snapshot_keep: 100,
        }
    }
}

impl StoreOptions {
    /// Sets [`StoreOptions::command_deadline`].
    pub fn command_deadline(mut self, deadline: Duration) -> Self {
        self.command_deadline = deadline;
        self
    }

    /// Sets [`StoreOptions::queue_capacity`] and [`StoreOptions::queue_wait`].
    pub fn queue(mut self, capacity: usize, wait: Duration) -> Self {
        self.queue_capacity = capacity.max(1);
        self.queue_wait = wait;
        self
    }

    /// Sets [`StoreOptions::poll_interval`].
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets [`StoreOptions::max_readers`] (at least 1) and
    /// [`StoreOptions::max_idle_readers`] (at most as many).
    pub fn readers(mut self, max: usize, max_idle: usize) -> Self {
        self.max_readers = max.max(1);
        self.max_idle_readers = max_idle.min(self.max_readers);
        self
    }

    /// Sets [`StoreOptions::query_timeout`].
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Sets [`StoreOptions::snapshot_every`] and [`StoreOptions::snapshot_keep`].
    pub fn snapshots(mut self, every: u64, keep: usize) -> Self {
        self.snapshot_every = every;
        self.snapshot_keep = keep;
        self
    }

    /// Sets [`StoreOptions::max_batch`].
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }
}
