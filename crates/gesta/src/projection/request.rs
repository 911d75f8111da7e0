//! Durable rebuild requests: any process (the `gesta` CLI, a server that does not run
//! the projection) asks for a rebuild by writing row `projection-rebuild:<name>` of
//! `checkpoints`; the process running the projection performs it (see `state.rs`) and
//! deletes the row in the same transaction. The key is of its own kind
//! ([`Kind::ProjectionRebuild`]), so the row is never taken for a projection's
//! checkpoint (nor a reactor's).

use crate::checkpoint::{self, Kind};
use crate::event::Position;
use crate::sql::SqlErrorKind;
use crate::{Error, Store, Tx};

/// Whether a rebuild of projection `name` is requested.
pub(super) fn pending(tx: &mut Tx<'_>, name: &str) -> Result<bool, Error> {
    let key = Kind::ProjectionRebuild.key(name);
    Ok(checkpoint::position(tx, &key)?.is_some())
}

/// Deletes the rebuild request of projection `name`, if any.
pub(super) fn clear(tx: &mut Tx<'_>, name: &str) -> Result<(), Error> {
    Ok(checkpoint::delete(tx, &Kind::ProjectionRebuild.key(name))?)
}

/// Whether a rebuild of projection `name` is requested, read without the writer.
pub(super) async fn requested(store: &Store, name: &str) -> Result<bool, Error> {
    let name = name.to_owned();
    store.read(move |tx| pending(tx, &name)).await
}

impl Store {
    /// Asks the process running projection `name` (holding its lock: this one or any
    /// other over the same database) to rebuild it: it empties the projection's tables
    /// and resets its checkpoint in one transaction that also removes the request, then
    /// replays the log. The request is durable: made while no process runs the
    /// projection, it is performed when one starts. Works without the projection being
    /// registered here (as from the `gesta` CLI); [`Store::projections`] shows it as
    /// [`ProjectionStatus::rebuild_requested`](super::ProjectionStatus::rebuild_requested)
    /// until performed. Asking again before it is performed changes nothing.
    ///
    /// Returns [`Error::InvalidInput`] (field `projection`), writing nothing, when no
    /// projection of that name has a checkpoint in the database or is registered here.
    pub async fn request_projection_rebuild(&self, name: &str) -> Result<(), Error> {
        let entry = self.projection_registry().entry(name).cloned();
        let (owned, registered) = (name.to_owned(), entry.is_some());
        let written = self
            .write_aside(move |tx| record(tx, &owned, registered))
            .await;
        match written {
            Err(Error::Database(e)) if e.kind == SqlErrorKind::UniqueViolation => {
                // Another request was recorded at the same moment: one is enough.
            }
            other => other?,
        }
        if let Some(entry) = entry {
            entry.wake.notify_one();
        }
        Ok(())
    }
}

/// Records the request for projection `name`, when it is known.
fn record(tx: &mut Tx<'_>, name: &str, registered: bool) -> Result<(), Error> {
    if !registered && !has_checkpoint(tx, name)? {
        return Err(Error::invalid(
            "projection",
            format!(
                "no projection named {name:?}: it has no checkpoint in the database \
                 and is not registered here"
            ),
        ));
    }
    if pending(tx, name)? {
        return Ok(());
    }
    let key = Kind::ProjectionRebuild.key(name);
    Ok(checkpoint::insert(tx, &key, Position(0))?)
}

/// Whether projection `name` has a checkpoint in the database.
fn has_checkpoint(tx: &mut Tx<'_>, name: &str) -> Result<bool, Error> {
    // No projection has another name length (and a longer one would not fit MySQL's
    // column).
    if name.is_empty() || name.len() > 200 {
        return Ok(false);
    }
    let key = Kind::Projection.key(name);
    Ok(checkpoint::position(tx, &key)?.is_some())
}
