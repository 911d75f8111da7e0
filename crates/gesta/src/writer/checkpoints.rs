//! Where each read model is in the log. Reducers run in the write transaction, so a
//! read model is normally at the head of the log; it is behind only when it was added
//! after events were written, or when the log arrived by `gesta copy`. The writer
//! then catches it up when the store opens (see `rebuild.rs`).

use crate::Tx;
use crate::app::App;
use crate::checkpoint::{self, Kind};
use crate::event::Position;
use crate::sql::SqlError;

fn key(model: &crate::ReadModel) -> String {
    Kind::ReadModel.key(&model.name)
}

/// Creates a checkpoint at 0 for every read model that has none yet.
pub(super) fn ensure(tx: &mut Tx<'_>, app: &App) -> Result<(), SqlError> {
    for model in app.read_models() {
        checkpoint::get_or_create(tx, &key(model), |_| Ok(Position(0)))?;
    }
    Ok(())
}

/// Each read model's position, in the order of `app.read_models()`.
pub(super) fn load(tx: &mut Tx<'_>, app: &App) -> Result<Vec<Position>, SqlError> {
    app.read_models()
        .iter()
        .map(|model| Ok(checkpoint::position(tx, &key(model))?.unwrap_or(Position(0))))
        .collect()
}

/// Records that every read model has applied the log up to `to`.
pub(super) fn advance(tx: &mut Tx<'_>, app: &App, to: Position) -> Result<(), SqlError> {
    for model in app.read_models() {
        checkpoint::set(tx, &key(model), to)?;
    }
    Ok(())
}
