//! `GET /metrics`: Prometheus text format, with the lag gauges of projections and
//! reactors (`gesta_projection_lag`, `gesta_reactor_lag`) refreshed at each scrape.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gesta::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::ApiState;

/// Prometheus metrics: commands, events, batch sizes, commit latency, queue depth,
/// projections' and reactors' lag.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text format (what Prometheus scrapes)", content_type = "application/openmetrics-text")), tag = "operations")]
pub(crate) async fn metrics(State(state): State<ApiState>) -> Response {
    state.lag.refresh(&state.store).await;
    let mut body = String::new();
    if let Err(err) = prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The `name` label of a lag gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Name {
    name: String,
}

/// Lag gauges of projections and reactors, one series per name.
#[derive(Clone, Default)]
pub(crate) struct Lag {
    projections: Family<Name, Gauge>,
    reactors: Family<Name, Gauge>,
}

impl Lag {
    /// Registers the gauges as `projection_lag` and `reactor_lag`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "projection_lag",
            "Events between an async projection's checkpoint and the head of the log",
            self.projections.clone(),
        );
        registry.register(
            "reactor_lag",
            "Events between a reactor's position and the head of the log",
            self.reactors.clone(),
        );
    }

    /// Reads every projection's and reactor's lag now; a failed read leaves the
    /// gauges as they were.
    pub(crate) async fn refresh(&self, store: &Store) {
        match store.projections().await {
            Ok(statuses) => set(
                &self.projections,
                statuses.into_iter().map(|s| (s.name, s.lag)),
            ),
            Err(err) => tracing::warn!(error = %err, "cannot read projections' lag"),
        }
        match store.reactors().await {
            Ok(statuses) => set(
                &self.reactors,
                statuses.into_iter().map(|s| (s.name, s.lag)),
            ),
            Err(err) => tracing::warn!(error = %err, "cannot read reactors' lag"),
        }
    }
}

fn set(family: &Family<Name, Gauge>, lags: impl Iterator<Item = (String, u64)>) {
    family.clear();
    for (name, lag) in lags {
        family
            .get_or_create(&Name { name })
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }
}
