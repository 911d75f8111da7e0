//! Where each read model is in the log. Reducers run in the write transaction, so a
//! read model is normally at the head of the log; it is behind only when it was added
//! after events were written, or when the log arrived by `gesta copy`. The writer
//! then catches it up when the store opens (see `rebuild.rs`).

use crate::app::App;
use crate::event::{Position, Timestamp};
use crate::sql::SqlError;
use crate::{Tx, params};

fn name(model: &crate::ReadModel) -> String {
    format!("read_model:{}", model.name)
}

/// Creates a checkpoint at 0 for every read model that has none yet.
pub(super) fn ensure(tx: &mut Tx<'_>, app: &App) -> Result<(), SqlError> {
    for model in app.read_models() {
        let name = name(model);
        let found: Option<i64> = tx.query_scalar(
            "SELECT position FROM checkpoints WHERE name = :name",
            &params! { "name" => name.as_str() },
        )?;
        if found.is_none() {
            tx.execute(
                "INSERT INTO checkpoints (name, position, updated_at) VALUES (:name, 0, :at)",
                &params! { "name" => name, "at" => Timestamp::now().0 },
            )?;
        }
    }
    Ok(())
}

/// Each read model's position, in the order of `app.read_models()`.
pub(super) fn load(tx: &mut Tx<'_>, app: &App) -> Result<Vec<Position>, SqlError> {
    app.read_models()
        .iter()
        .map(|model| {
            let position: Option<u64> = tx.query_scalar(
                "SELECT position FROM checkpoints WHERE name = :name",
                &params! { "name" => name(model) },
            )?;
            Ok(Position(position.unwrap_or(0)))
        })
        .collect()
}

/// Records that every read model has applied the log up to `to`.
pub(super) fn advance(tx: &mut Tx<'_>, app: &App, to: Position) -> Result<(), SqlError> {
    let at = Timestamp::now().0;
    for model in app.read_models() {
        tx.execute(
            "UPDATE checkpoints SET position = :position, updated_at = :at WHERE name = :name",
            &params! { "position" => to.0, "at" => at, "name" => name(model) },
        )?;
    }
    Ok(())
}
