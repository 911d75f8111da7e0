//! What operators see and do: projections' checkpoints and lag, rebuild, stop.

use std::collections::BTreeMap;

use super::state;
use crate::checkpoint::Kind;
use crate::event::{Position, Timestamp};
use crate::follower::FollowerEntry as _;
use crate::{Error, Store};

/// One projection's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProjectionStatus {
    /// The projection's name.
    pub name: String,
    /// The durable checkpoint: every event up to it is in the projection's tables.
    pub checkpoint: Position,
    /// When the checkpoint was last written (`None` before it first ran).
    pub updated_at: Option<Timestamp>,
    /// The last position of the log.
    pub head: Position,
    /// Events between the checkpoint and the head.
    pub lag: u64,
    /// Whether this process registered it.
    pub registered: bool,
    /// Whether it runs in this process (holds its lock) right now.
    pub running: bool,
    /// Its last failure in this process, until a batch succeeds again.
    pub error: Option<String>,
    /// Whether a rebuild was requested ([`Store::request_projection_rebuild`]) and the
    /// process running the projection has not performed it yet.
    pub rebuild_requested: bool,
}

impl Store {
    /// Every projection registered here or with a checkpoint (or a rebuild request) in
    /// the database, by name.
    pub async fn projections(&self) -> Result<Vec<ProjectionStatus>, Error> {
        let (head, stored) = self.read(stored_statuses).await?;
        let mut statuses: BTreeMap<String, ProjectionStatus> = stored
            .into_iter()
            .map(|status| (status.name.clone(), status))
            .collect();
        for entry in &self.projection_registry().entries {
            let status = statuses
                .entry(entry.name().to_owned())
                .or_insert_with(|| empty_status(entry.name()));
            status.registered = true;
            status.running = entry.is_running();
            status.error = entry.error();
        }
        Ok(statuses
            .into_values()
            .map(|mut status| {
                status.head = head;
                status.lag = head.0.saturating_sub(status.checkpoint.0);
                status
            })
            .collect())
    }

    /// Empties the tables of projection `name` (registered in this store) and resets
    /// its checkpoint, in one transaction that also removes a pending rebuild request;
    /// the process running it then replays the log into them. Returns at once: follow
    /// the progress with [`Store::projections`]. From a process that did not register
    /// the projection, use [`Store::request_projection_rebuild`].
    pub async fn rebuild_projection(&self, name: &str) -> Result<(), Error> {
        let entry = self.projection_registry().entry(name).ok_or_else(|| {
            Error::invalid("projection", format!("no projection named {name:?} here"))
        })?;
        state::reset(self, name, &entry.projection.tables).await?;
        entry.wake.notify_one();
        Ok(())
    }

    /// Stops this store's projections and waits until they have (each after the batch
    /// it is applying) and released their locks. They do not start again in this
    /// store; dropping the last handle of a store stops them too, without waiting.
    pub async fn stop_projections(&self) {
        self.projection_registry().stop().await;
    }
}

/// The head of the log and the stored projections' checkpoints and rebuild requests.
fn stored_statuses(tx: &mut crate::Tx<'_>) -> Result<(Position, Vec<ProjectionStatus>), Error> {
    let head = crate::read::last_position(tx)?;
    let mut statuses: BTreeMap<String, ProjectionStatus> = BTreeMap::new();
    for stored in Kind::Projection.stored(tx)? {
        let status = statuses
            .entry(stored.name.clone())
            .or_insert_with(|| empty_status(&stored.name));
        status.checkpoint = stored.position;
        status.updated_at = Some(stored.updated_at);
    }
    for stored in Kind::ProjectionRebuild.stored(tx)? {
        let status = statuses
            .entry(stored.name.clone())
            .or_insert_with(|| empty_status(&stored.name));
        status.rebuild_requested = true;
    }
    Ok((head, statuses.into_values().collect()))
}

fn empty_status(name: &str) -> ProjectionStatus {
    ProjectionStatus {
        name: name.to_owned(),
        checkpoint: Position(0),
        updated_at: None,
        head: Position(0),
        lag: 0,
        registered: false,
        running: false,
        error: None,
        rebuild_requested: false,
    }
}
