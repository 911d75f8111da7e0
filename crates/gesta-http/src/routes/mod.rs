//! One module per group of routes.

pub(crate) mod commands;
pub(crate) mod erase;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod history;
pub(crate) mod metrics;
pub(crate) mod openapi;
pub(crate) mod projections;
pub(crate) mod reactors;
pub(crate) mod read_models;
pub(crate) mod status;
pub(crate) mod streams;
pub(crate) mod subscribe;
pub(crate) mod write;

use std::sync::Arc;

use gesta::Store;
use prometheus_client::registry::Registry;

/// What every Gesta route handler gets.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) store: Store,
    pub(crate) registry: Arc<Registry>,
    pub(crate) openapi: Arc<serde_json::Value>,
    /// Projections' and reactors' lag, refreshed at each `/metrics` scrape.
    pub(crate) lag: metrics::Lag,
    /// Open live streams, for `/admin/status`.
    pub(crate) subscribers: crate::limits::Subscribers,
    /// When the router was built (RFC 3339), for `/admin/status`.
    pub(crate) started: String,
}
