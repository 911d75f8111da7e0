//! (o) The baseline of "HTTP at 64 connections ≥ 5x one transaction per command" (issue
//! 16): the same Transfer over the same HTTP server (`gesta_http::serve`, axum), written
//! the way one would without Gesta — each request takes the one SQLite connection,
//! runs the hand-written Transfer SQL (`transfer_sql::transfer`: the balance check,
//! two events, two stream versions, two balance updates) in its own `BEGIN IMMEDIATE`
//! … `COMMIT`, and answers. WAL and `synchronous=FULL`, as Gesta's SQLite.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use rusqlite::Connection;
use serde::Deserialize;

use crate::transfer_sql::{create_bank, open_durable, transfer};

/// The connection and the next position, behind one lock: SQLite has one writer.
type Shared = Arc<Mutex<(Connection, i64)>>;

#[derive(Deserialize)]
struct TransferBody {
    from: String,
    to: String,
}

/// A router answering `POST /commands/Transfer` over a fresh bank in the file at `path`.
pub fn router(path: &Path, accounts: usize) -> anyhow::Result<axum::Router> {
    let mut conn = open_durable(path)?;
    create_bank(&mut conn, accounts)?;
    let shared: Shared = Arc::new(Mutex::new((conn, 1)));
    Ok(axum::Router::new()
        .route("/commands/Transfer", post(handle))
        .with_state(shared))
}

async fn handle(
    State(shared): State<Shared>,
    Json(body): Json<TransferBody>,
) -> (StatusCode, Json<serde_json::Value>) {
    let done = tokio::task::spawn_blocking(move || {
        let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
        let (conn, position) = &mut *guard;
        let start = *position;
        let result = (|| -> rusqlite::Result<bool> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let ok = transfer(conn, &body.from, &body.to, position)?;
            conn.execute_batch("COMMIT")?;
            Ok(ok)
        })();
        if result.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
            *position = start;
        }
        result.map(|ok| (ok, *position - 1))
    })
    .await;
    match done {
        Ok(Ok((true, position))) => (
            StatusCode::OK,
            Json(serde_json::json!({ "position": position })),
        ),
        Ok(Ok((false, _))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "title": "insufficient funds" })),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "title": "failed" })),
        ),
    }
}
