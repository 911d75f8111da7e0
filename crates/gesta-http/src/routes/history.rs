//! History over HTTP: `POST /admin/query` (read-only SQL, live or `as_of`),
//! `GET|POST /admin/snapshots`, `GET /admin/diff`, `POST /admin/revert`,
//! `GET /admin/commands/{command_id}`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gesta::event::Position;
use gesta::history::{AsOf, Diff, RevertTarget, SnapshotInfo};
use gesta::sql::{Params, SqlErrorKind, Value};
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;
use utoipa::ToSchema;

use super::ApiState;
use super::write::{context, detached, respond};
use crate::input::{Query, json_body};
use crate::problem::Problem;
use crate::wire::{CommandResponse, cloudevents};

/// The history routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/query", post(query))
        .route("/admin/snapshots", get(snapshots).post(take_snapshot))
        .route("/admin/diff", get(diff))
        .route("/admin/revert", post(revert))
        .route("/admin/commands/{command_id}", get(command))
}

/// Parses an `as_of` given as text (query string): a position or an RFC 3339 time.
pub fn parse_as_of(text: &str) -> Result<AsOf, Problem> {
    Ok(text.parse::<AsOf>()?)
}

/// The body of `POST /admin/query`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryRequest {
    /// One SQL statement, run read-only; `:name` placeholders take `params`.
    sql: String,
    /// Values of the placeholders: strings, numbers, booleans or null.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    params: BTreeMap<String, JsonValue>,
    /// Answer as of this point: a position (0 = empty store) or an RFC 3339 time.
    /// Default: now (the live read models).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "42")]
    as_of: Option<JsonValue>,
}

/// `200` from `POST /admin/query`.
#[derive(Serialize, ToSchema)]
pub(crate) struct QueryResponse {
    /// The position the rows are as of.
    position: u64,
    /// The rows, each an object of its columns.
    #[schema(value_type = Vec<Object>)]
    rows: Vec<serde_json::Map<String, JsonValue>>,
}

/// Run one read-only SQL statement against the read models, live or as of a point
/// in history. A write is refused (400); one running past the store's query timeout
/// is cancelled (503).
#[utoipa::path(
    post,
    path = "/admin/query",
    request_body(content = QueryRequest, content_type = "application/json"),
    responses(
        (status = 200, body = QueryResponse),
        (status = 400, description = "Bad SQL, a write, bad params or as_of", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Ran past the query timeout and was cancelled", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "history"
)]
pub(crate) async fn query(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<QueryResponse>, Problem> {
    let body = json_body(&headers, body)?;
    let request: QueryRequest =
        serde_json::from_slice(&body).map_err(|e| Problem::invalid(None, format!("body: {e}")))?;
    let as_of = request.as_of.as_ref().map(json_as_of).transpose()?;
    // No backend takes a NUL in statement text (PostgreSQL not in text values either).
    if request.sql.contains('\0') {
        return Err(Problem::invalid(
            Some("sql".into()),
            "contains a NUL character",
        ));
    }
    let mut params = Params::new();
    for (name, value) in request.params {
        params.push(name.clone(), json_param(&name, value)?);
    }
    let (position, rows) = state
        .store
        .query_at(as_of, &request.sql, params)
        .await
        .map_err(sql_problem)?;
    Ok(Json(QueryResponse {
        position: position.0,
        rows: rows.iter().map(gesta::history::row_to_json).collect(),
    }))
}

/// SQL errors of a query from outside are the caller's (400 naming `sql`), except
/// those of the server (busy, connection, timeout).
fn sql_problem(err: gesta::Error) -> Problem {
    match err {
        gesta::Error::Database(e) if e.kind == SqlErrorKind::ReadOnly => {
            Problem::invalid(Some("sql".into()), format!("queries are read-only: {e}"))
        }
        gesta::Error::Database(e)
            if matches!(
                e.kind,
                SqlErrorKind::Other
                    | SqlErrorKind::Decode
                    | SqlErrorKind::MissingParameter
                    | SqlErrorKind::UniqueViolation
                    | SqlErrorKind::ConstraintViolation
            ) =>
        {
            Problem::invalid(Some("sql".into()), e.to_string())
        }
        other => other.into(),
    }
}

fn json_as_of(value: &JsonValue) -> Result<AsOf, Problem> {
    match value {
        JsonValue::Number(n) => match n.as_u64() {
            Some(p) => Ok(AsOf::Position(Position(p))),
            None => Err(Problem::invalid(
                Some("as_of".into()),
                "a position must be a non-negative integer",
            )),
        },
        JsonValue::String(s) => parse_as_of(s),
        _ => Err(Problem::invalid(
            Some("as_of".into()),
            "must be a position (integer) or an RFC 3339 time (string)",
        )),
    }
}

fn json_param(name: &str, value: JsonValue) -> Result<Value, Problem> {
    Ok(match value {
        JsonValue::Null => Value::Null,
        JsonValue::Bool(b) => Value::Integer(i64::from(b)),
        JsonValue::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => match n.as_f64() {
                Some(f) => Value::Real(f),
                None => {
                    return Err(Problem::invalid(
                        Some(format!("params.{name}")),
                        "number out of range",
                    ));
                }
            },
        },
        JsonValue::String(s) if s.contains('\0') => {
            return Err(Problem::invalid(
                Some(format!("params.{name}")),
                "contains a NUL character",
            ));
        }
        JsonValue::String(s) => Value::Text(s),
        _ => {
            return Err(Problem::invalid(
                Some(format!("params.{name}")),
                "must be a string, number, boolean or null",
            ));
        }
    })
}

/// `200` from `GET /admin/snapshots`.
#[derive(Serialize, ToSchema)]
pub(crate) struct SnapshotsBody {
    /// Newest first.
    snapshots: Vec<SnapshotBody>,
}

/// One snapshot of the read models.
#[derive(Serialize, ToSchema)]
pub(crate) struct SnapshotBody {
    /// The position the read models were at.
    position: u64,
    /// When it was taken (RFC 3339).
    created: String,
    /// Bytes of its stored rows.
    bytes: u64,
    /// Rows per table.
    tables: BTreeMap<String, u64>,
    /// Whether it matches the running read models' versions (else it is not used).
    valid: bool,
}

impl From<SnapshotInfo> for SnapshotBody {
    fn from(s: SnapshotInfo) -> Self {
        SnapshotBody {
            position: s.position,
            created: s.created,
            bytes: s.bytes,
            tables: s.tables,
            valid: s.valid,
        }
    }
}

/// The stored snapshots of the read models.
#[utoipa::path(
    get,
    path = "/admin/snapshots",
    responses((status = 200, body = SnapshotsBody)),
    tag = "history"
)]
pub(crate) async fn snapshots(
    State(state): State<ApiState>,
) -> Result<Json<SnapshotsBody>, Problem> {
    let list = state.store.snapshots().await?;
    Ok(Json(SnapshotsBody {
        snapshots: list.into_iter().map(SnapshotBody::from).collect(),
    }))
}

/// Take a snapshot of the read models now (position = head); commands go on.
#[utoipa::path(
    post,
    path = "/admin/snapshots",
    responses(
        (status = 201, description = "Taken", body = SnapshotBody),
        (status = 400, description = "The application has no read models", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "history"
)]
pub(crate) async fn take_snapshot(
    State(state): State<ApiState>,
) -> Result<(StatusCode, Json<SnapshotBody>), Problem> {
    let info = state.store.take_snapshot().await?;
    Ok((StatusCode::CREATED, Json(info.into())))
}

/// `200` from `GET /admin/diff`.
#[derive(Serialize, ToSchema)]
pub(crate) struct DiffBody {
    from: u64,
    to: u64,
    /// Per table with changes.
    tables: BTreeMap<String, TableDiffBody>,
}

/// The changes of one table, rows as objects of all their columns.
#[derive(Serialize, ToSchema)]
pub(crate) struct TableDiffBody {
    #[schema(value_type = Vec<Object>)]
    inserted: Vec<serde_json::Map<String, JsonValue>>,
    updated: Vec<RowChangeBody>,
    #[schema(value_type = Vec<Object>)]
    deleted: Vec<serde_json::Map<String, JsonValue>>,
}

/// A row before and after.
#[derive(Serialize, ToSchema)]
pub(crate) struct RowChangeBody {
    #[schema(value_type = Object)]
    before: serde_json::Map<String, JsonValue>,
    #[schema(value_type = Object)]
    after: serde_json::Map<String, JsonValue>,
}

impl From<Diff> for DiffBody {
    fn from(diff: Diff) -> Self {
        DiffBody {
            from: diff.from,
            to: diff.to,
            tables: diff
                .tables
                .into_iter()
                .map(|(t, d)| {
                    let body = TableDiffBody {
                        inserted: d.inserted,
                        updated: d
                            .updated
                            .into_iter()
                            .map(|c| RowChangeBody {
                                before: c.before,
                                after: c.after,
                            })
                            .collect(),
                        deleted: d.deleted,
                    };
                    (t, body)
                })
                .collect(),
        }
    }
}

/// What changed in the read models between two positions, row by row (matched by
/// primary key). The diff of one command: `from` = its position minus its event
/// count, `to` = its position.
#[utoipa::path(
    get,
    path = "/admin/diff",
    params(
        ("from" = u64, Query, description = "The earlier position"),
        ("to" = u64, Query, description = "The later position (at most the head)"),
        ("table" = Option<String>, Query, description = "Only this read-model table"),
    ),
    responses(
        (status = 200, body = DiffBody),
        (status = 400, description = "from after to, past the head, or an unknown table", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "history"
)]
pub(crate) async fn diff(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<DiffBody>, Problem> {
    let query = Query::parse(raw.as_deref(), &["from", "to", "table"])?;
    let from = required(&query, "from")?;
    let to = required(&query, "to")?;
    let tables = query.all("table");
    if tables.len() > 1 {
        return Err(Problem::invalid(
            Some("table".into()),
            "given more than once",
        ));
    }
    let diff = state
        .store
        .diff(Position(from), Position(to), tables.into_iter().next())
        .await?;
    Ok(Json(diff.into()))
}

fn required(query: &Query, name: &str) -> Result<u64, Problem> {
    if query.all(name).is_empty() {
        return Err(Problem::invalid(Some(name.into()), "is required"));
    }
    query.number(name, 0, 0, i64::MAX as u64)
}

/// `200` from `GET /admin/commands/{command_id}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct CommandBody<'a> {
    /// The command's id.
    #[schema(format = Uuid)]
    command_id: String,
    /// The position just before its first event: what it changed in the read models is
    /// `GET /admin/diff?from={from}&to={to}`.
    from: u64,
    /// The position of its last event.
    to: u64,
    /// Its events, in position order.
    #[schema(value_type = Vec<crate::wire::CloudEventDoc>)]
    events: Vec<gesta::event::CloudEvent<'a>>,
}

/// What one command wrote: its events and the positions they span (a command's events
/// are consecutive in the log).
#[utoipa::path(
    get,
    path = "/admin/commands/{command_id}",
    params(("command_id" = String, Path, description = "The command's id (a UUID)")),
    responses(
        (status = 200, body = CommandBody),
        (status = 400, description = "Not a UUID", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No event in the log carries this command id", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "history"
)]
pub(crate) async fn command(
    State(state): State<ApiState>,
    Path(command_id): Path<String>,
) -> Result<Response, Problem> {
    let id = uuid::Uuid::parse_str(&command_id)
        .map_err(|_| Problem::invalid(Some("command_id".into()), "must be a UUID"))?;
    let Some(found) = state.store.command_events(id).await? else {
        return Err(Problem::not_found(format!(
            "no event in the log was written by command {id}"
        )));
    };
    Ok(Json(CommandBody {
        command_id: id.to_string(),
        from: found.from.0,
        to: found.to.0,
        events: cloudevents(&found.events),
    })
    .into_response())
}

/// The body of `POST /admin/revert`: exactly one of the two.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevertRequest {
    /// Revert this command (reverting a revert re-applies what it reverted).
    #[schema(value_type = Option<String>, format = Uuid)]
    command_id: Option<String>,
    /// Revert every command after this position.
    to: Option<u64>,
}

/// Revert a command, or every command after a position: records one
/// `gesta.reverted` event; from then on the read models are as if those commands'
/// events had never been applied. Checked first: refused (409) when replaying
/// without them fails, naming the first event that fails.
#[utoipa::path(
    post,
    path = "/admin/revert",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key; a retry returns the first outcome")),
    request_body(content = RevertRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Reverted", body = CommandResponse),
        (status = 400, description = "Neither or both of command_id and to, or to past the head", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such command in the log", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Already reverted, nothing to revert, or the replay without it fails", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    ),
    tag = "history"
)]
pub(crate) async fn revert(
    State(state): State<ApiState>,
    access: crate::auth::Access,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = json_body(&headers, body)?;
    let request: RevertRequest =
        serde_json::from_slice(&body).map_err(|e| Problem::invalid(None, format!("body: {e}")))?;
    let target = match (request.command_id, request.to) {
        (Some(id), None) => RevertTarget::Command(
            uuid::Uuid::parse_str(&id)
                .map_err(|_| Problem::invalid(Some("command_id".into()), "must be a UUID"))?,
        ),
        (None, Some(to)) => RevertTarget::To(Position(to)),
        _ => {
            return Err(Problem::invalid(
                None,
                "give exactly one of command_id and to",
            ));
        }
    };
    let ctx = context(&headers, &access)?;
    let store = state.store.clone();
    let outcome = detached(async move { store.revert(target, ctx).await }).await?;
    let body = CommandResponse {
        command_id: outcome.command_id.to_string(),
        position: outcome.position.map(|p| p.0),
        events: cloudevents(&outcome.events),
    };
    Ok(respond(body, outcome.replayed))
}
