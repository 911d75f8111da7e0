//! Prometheus metrics of a store, registered by the HTTP layer under `/metrics`.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Counters and histograms the writer keeps up to date.
#[derive(Debug)]
pub struct StoreMetrics {
    /// Commands and appends committed.
    pub commands_committed: Counter,
    /// Commands and appends that failed and were rolled back.
    pub commands_failed: Counter,
    /// Events appended to the log.
    pub events_appended: Counter,
    /// Failed units that had written, so the writer rolled back to its savepoint (or
    /// the whole transaction) and redid the units since (ADR 013).
    pub writer_rollbacks: Counter,
    /// Units of work per transaction.
    pub batch_size: Histogram,
    /// Seconds from BEGIN to the end of COMMIT, per batch.
    pub commit_seconds: Histogram,
    /// Jobs waiting for the writer when it last took a batch.
    pub queue_depth: Gauge,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            commands_committed: Counter::default(),
            commands_failed: Counter::default(),
            events_appended: Counter::default(),
            writer_rollbacks: Counter::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            queue_depth: Gauge::default(),
        }
    }
}

impl StoreMetrics {
    /// Records one committed batch of `size` units that took `elapsed`.
    pub fn record_batch(&self, size: usize, elapsed: Duration) {
        self.batch_size.observe(size as f64);
        self.commit_seconds.observe(elapsed.as_secs_f64());
    }

    /// Registers every metric under the `gesta_` prefix.
    ///
    /// ```
    /// let mut registry = prometheus_client::registry::Registry::with_prefix("gesta");
    /// gesta::metrics::StoreMetrics::default().register(&mut registry);
    /// ```
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "commands_committed",
            "Commands and appends committed",
            self.commands_committed.clone(),
        );
        registry.register(
            "commands_failed",
            "Commands and appends rolled back",
            self.commands_failed.clone(),
        );
        registry.register(
            "events_appended",
            "Events appended to the log",
            self.events_appended.clone(),
        );
        registry.register(
            "writer_rollbacks",
            "Failed units that had written, rolled back with the units after the writer's savepoint",
            self.writer_rollbacks.clone(),
        );
        registry.register(
            "batch_size",
            "Units of work per write transaction",
            self.batch_size.clone(),
        );
        registry.register(
            "commit_seconds",
            "Write transaction duration, BEGIN to COMMIT",
            self.commit_seconds.clone(),
        );
        registry.register(
            "writer_queue_depth",
            "Jobs waiting for the writer",
            self.queue_depth.clone(),
        );
    }
}
