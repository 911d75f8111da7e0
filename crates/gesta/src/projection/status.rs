//! What operators see and do: projections' checkpoints and lag, rebuild, stop.

use std::collections::BTreeMap;

use super::{checkpoint_name, state};
use crate::event::{Position, Timestamp};
use crate::{Error, Store, params};

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
}

impl Store {
    /// Every projection registered here or with a checkpoint in the database, by name.
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
    /// its checkpoint, in one transaction; the process running it then replays the
    /// log into them. Returns at once: follow the progress with
    /// [`Store::projections`].
    pub async fn rebuild_projection(&self, name: &str) -> Result<(), Error> {
        let entry = self.projection_registry().entry(name).ok_or_else(|| {
            Error::invalid("projection", format!("no projection named {name:?} here"))
        })?;
        state::reset(self, &checkpoint_name(name), &entry.projection.tables).await?;
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

/// The head of the log and the stored projections' checkpoints.
fn stored_statuses(tx: &mut crate::Tx<'_>) -> Result<(Position, Vec<ProjectionStatus>), Error> {
    let head = crate::read::last_position(tx)?;
    let rows = tx.query(
        "SELECT name, position, updated_at FROM checkpoints WHERE name LIKE 'projection:%'",
        &params! {},
    )?;
    let mut statuses = Vec::with_capacity(rows.len());
    for row in rows {
        let full: String = row.get("name")?;
        let name = full.strip_prefix("projection:").unwrap_or(&full);
        statuses.push(ProjectionStatus {
            checkpoint: Position(row.get("position")?),
            updated_at: Some(Timestamp(row.get("updated_at")?)),
            ..empty_status(name)
        });
    }
    Ok((head, statuses))
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
    }
}
