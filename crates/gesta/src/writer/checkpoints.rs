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

/// The checkpoint names of the app's read models.
pub(super) fn keys(app: &App) -> Vec<String> {
    app.read_models().iter().map(key).collect()
}

/// Creates a checkpoint at 0 for every read model that has none yet.
pub(super) fn ensure(tx: &mut Tx<'_>, app: &App) -> Result<(), SqlError> {
    for model in app.read_models() {
        checkpoint::get_or_create(tx, &key(model), |_| Ok(Position(0)))?;
    }
    Ok(())
}

/// When the store opens: a read model new to a store with history gets its
/// checkpoint at the head and version 0 (its tables are filled in the background,
/// not by a replay that would hold the writer); one whose stored version differs from
/// the declared one keeps its tables until a background rebuild swaps new ones in.
/// Returns the names of the read models to rebuild in the background.
pub(super) fn versions(tx: &mut Tx<'_>, app: &App) -> Result<Vec<String>, SqlError> {
    let head = crate::read::last_position(tx)?;
    let mut pending = Vec::new();
    for model in app.read_models() {
        let version_key = Kind::ReadModelVersion.key(&model.name);
        let declared = Position(u64::from(model.version));
        let new = checkpoint::position(tx, &key(model))?.is_none();
        let stored = if new && head > Position(0) {
            checkpoint::insert(tx, &key(model), head)?;
            checkpoint::delete(tx, &version_key)?;
            checkpoint::insert(tx, &version_key, Position(0))?;
            Position(0)
        } else {
            checkpoint::get_or_create(tx, &version_key, |_| Ok(declared))?
        };
        if stored != declared {
            pending.push(model.name.clone());
        }
    }
    Ok(pending)
}

/// Records that `model`'s tables are now built by its declared version.
pub(crate) fn set_version(tx: &mut Tx<'_>, model: &crate::ReadModel) -> Result<(), SqlError> {
    let version_key = Kind::ReadModelVersion.key(&model.name);
    let declared = Position(u64::from(model.version));
    if checkpoint::set(tx, &version_key, declared)? == 0 {
        checkpoint::insert(tx, &version_key, declared)?;
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
