//! `GET /openapi.json`: the OpenAPI document, generated from the route annotations.

use axum::Json;
use axum::extract::State;
use utoipa::OpenApi;

use super::ApiState;

/// Gesta's own routes; applications merge theirs in.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gesta",
        description = "Event-sourced data store: commands, the log, read models"
    ),
    paths(
        super::commands::run,
        super::streams::append,
        super::streams::read,
        super::events::list,
        super::subscribe::subscribe,
        super::subscribe::websocket,
        super::reactors::reactors,
        super::reactors::retry,
        super::reactors::skip,
        super::projections::projections,
        super::projections::rebuild,
        super::history::query,
        super::history::snapshots,
        super::history::take_snapshot,
        super::history::diff,
        super::history::revert,
        super::read_models::list,
        super::read_models::one,
        super::read_models::rebuild,
        super::health::health,
        super::metrics::metrics,
        document,
    ),
    components(schemas(crate::problem::ProblemBody, crate::wire::CloudEventDoc))
)]
pub(crate) struct GestaApi;

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document")), tag = "operations")]
pub(crate) async fn document(State(state): State<ApiState>) -> Json<utoipa::openapi::OpenApi> {
    Json((*state.openapi).clone())
}
