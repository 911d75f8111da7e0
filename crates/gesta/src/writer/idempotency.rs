//! Idempotency keys: the first successful outcome, stored in the same transaction.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::command::CommandOutcome;
use crate::event::{Position, Timestamp};
use crate::sql::SqlError;
use crate::{Error, Tx, params};

/// The longest idempotency key accepted, in bytes.
pub(crate) const MAX_KEY_LEN: usize = 200;

#[derive(Serialize, Deserialize)]
struct StoredOutcome {
    command: String,
    command_id: Uuid,
    first: Option<u64>,
    last: Option<u64>,
}

/// The stored outcome for `key`, if a command already succeeded with it: its events
/// read back from the log, in their types' current shapes.
pub(super) fn lookup(
    tx: &mut Tx<'_>,
    key: &str,
    command: &str,
    upcasters: &crate::event::upcast::Upcasters,
) -> Result<Option<CommandOutcome>, Error> {
    let stored: Option<String> = tx.query_scalar(
        "SELECT outcome FROM commands WHERE idempotency_key = :key",
        &params! { "key" => key },
    )?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    let stored: StoredOutcome = serde_json::from_str(&stored)
        .map_err(|e| SqlError::decode(format!("stored idempotent outcome is invalid: {e}")))?;
    if stored.command != command {
        return Err(Error::IdempotencyKeyReused {
            key: key.to_owned(),
            first_command: stored.command,
        });
    }
    let mut events = match (stored.first, stored.last) {
        (Some(first), Some(last)) => crate::read::read_range(tx, Position(first), Position(last))?,
        _ => Vec::new(),
    };
    crate::read::open_all(tx, upcasters, &mut events)?;
    Ok(Some(CommandOutcome {
        command_id: stored.command_id,
        position: stored.last.map(Position),
        events,
        replayed: true,
    }))
}

/// Stores `outcome` under `key`.
pub(super) fn record(
    tx: &mut Tx<'_>,
    key: &str,
    command: &str,
    outcome: &CommandOutcome,
) -> Result<(), Error> {
    let stored = StoredOutcome {
        command: command.to_owned(),
        command_id: outcome.command_id,
        first: outcome.events.first().map(|e| e.position.0),
        last: outcome.events.last().map(|e| e.position.0),
    };
    let json = serde_json::to_string(&stored)
        .map_err(|e| SqlError::decode(format!("cannot encode outcome: {e}")))?;
    tx.execute(
        "INSERT INTO commands (idempotency_key, outcome, recorded_at) VALUES (:key, :outcome, :at)",
        &params! { "key" => key, "outcome" => json, "at" => Timestamp::now().0 },
    )?;
    Ok(())
}
