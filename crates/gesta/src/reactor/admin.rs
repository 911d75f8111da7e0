//! What operators see and do: reactors' progress, parked events, retry and skip.

use std::collections::BTreeMap;

use super::state;
use crate::checkpoint::Kind;
use crate::event::{EventId, Position, Timestamp};
use crate::follower::FollowerEntry as _;
use crate::{Error, MAX_PAGE, Store, params};

/// One reactor's progress, as stored (and, when it is registered in this process, as
/// it runs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReactorStatus {
    /// The reactor's name.
    pub name: String,
    /// The durable checkpoint: every event up to it was handled.
    pub checkpoint: Position,
    /// How far it got: its progress in this process when it runs here, else the
    /// checkpoint.
    pub position: Position,
    /// When the checkpoint was last written (`None` before it first ran).
    pub updated_at: Option<Timestamp>,
    /// The last position of the log.
    pub head: Position,
    /// Events between `position` and the head.
    pub lag: u64,
    /// Events it parked that are still parked.
    pub parked: u64,
    /// Whether this process registered it.
    pub registered: bool,
    /// Whether it runs in this process (holds its lock) right now.
    pub running: bool,
}

/// An event a reactor gave up on after its last attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParkedEvent {
    /// The reactor.
    pub reactor: String,
    /// The event's position.
    pub position: Position,
    /// The event's id.
    pub event_id: EventId,
    /// The event's type (empty if the event is no longer in the log).
    pub event_type: String,
    /// The event's stream (empty if the event is no longer in the log).
    pub stream_id: String,
    /// The last error.
    pub error: String,
    /// Attempts made, retries included.
    pub attempts: u64,
    /// When it was parked.
    pub parked_at: Timestamp,
    /// Whether a retry was requested and has not run yet.
    pub retry_requested: bool,
}

impl Store {
    /// Every reactor registered here or with a checkpoint in the database, by name.
    pub async fn reactors(&self) -> Result<Vec<ReactorStatus>, Error> {
        let (head, stored) = self.read(stored_statuses).await?;
        let mut statuses: BTreeMap<String, ReactorStatus> = stored
            .into_iter()
            .map(|status| (status.name.clone(), status))
            .collect();
        for entry in &self.reactor_registry().entries {
            let status = statuses
                .entry(entry.name().to_owned())
                .or_insert_with(|| empty_status(entry.name()));
            status.registered = true;
            status.running = entry.is_running();
            if status.running {
                status.position = entry.position().max(status.checkpoint);
            }
        }
        Ok(statuses
            .into_values()
            .map(|mut status| {
                status.head = head;
                status.lag = head.0.saturating_sub(status.position.0);
                status
            })
            .collect())
    }

    /// Parked events, of `reactor` only when given, by reactor and position; at most
    /// `limit`.
    pub async fn parked_events(
        &self,
        reactor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ParkedEvent>, Error> {
        let reactor = reactor.map(str::to_owned);
        let limit = limit.min(MAX_PAGE) as u64;
        self.read(move |tx| {
            let (filter, params) = match &reactor {
                Some(name) => (
                    "WHERE p.reactor = :reactor",
                    params! { "reactor" => name.as_str(), "limit" => limit },
                ),
                None => ("", params! { "limit" => limit }),
            };
            let sql = format!(
                "SELECT p.reactor, p.position, p.event_id, p.error, p.attempts, p.parked_at, \
                 p.retry_requested_at, e.event_type, e.stream_id \
                 FROM parked_events p LEFT JOIN events e ON e.position = p.position {filter} \
                 ORDER BY p.reactor, p.position LIMIT :limit"
            );
            tx.query(&sql, &params)?.iter().map(parked_from).collect()
        })
        .await
    }

    /// Asks for `reactor`'s parked event at `position` (every one of its parked events
    /// when `None`) to be delivered once more by the process running the reactor: if
    /// that succeeds it is no longer parked, otherwise it stays parked with the new
    /// error. Returns how many were marked.
    pub async fn retry_parked(
        &self,
        reactor: &str,
        position: Option<Position>,
    ) -> Result<u64, Error> {
        let marked = state::request_retry(self, reactor, position).await?;
        if let Some(entry) = self.reactor_registry().entry(reactor) {
            entry.wake.notify_one();
        }
        Ok(marked)
    }

    /// Removes `reactor`'s parked event at `position` (every one when `None`) without
    /// delivering it. Returns how many were removed.
    pub async fn skip_parked(
        &self,
        reactor: &str,
        position: Option<Position>,
    ) -> Result<u64, Error> {
        state::skip(self, reactor, position).await
    }

    /// Stops this store's reactors and waits until they have written their checkpoints
    /// and released their locks (another process may then take them over). They do not
    /// start again in this store; dropping the last handle of a store stops them too,
    /// without waiting.
    pub async fn stop_reactors(&self) {
        self.reactor_registry().stop().await;
    }
}

/// The head of the log and the stored reactors' checkpoints and parked counts.
fn stored_statuses(tx: &mut crate::Tx<'_>) -> Result<(Position, Vec<ReactorStatus>), Error> {
    let head = crate::read::last_position(tx)?;
    let mut parked: BTreeMap<String, u64> = BTreeMap::new();
    for row in tx.query(
        "SELECT reactor, COUNT(*) AS n FROM parked_events GROUP BY reactor",
        &params! {},
    )? {
        parked.insert(row.get("reactor")?, row.get("n")?);
    }
    let stored = Kind::Reactor.stored(tx)?;
    let mut statuses = Vec::with_capacity(stored.len());
    for checkpoint in stored {
        statuses.push(ReactorStatus {
            parked: parked.remove(&checkpoint.name).unwrap_or(0),
            checkpoint: checkpoint.position,
            position: checkpoint.position,
            updated_at: Some(checkpoint.updated_at),
            ..empty_status(&checkpoint.name)
        });
    }
    // Parked events of a reactor whose checkpoint is gone still show.
    for (name, count) in parked {
        statuses.push(ReactorStatus {
            parked: count,
            ..empty_status(&name)
        });
    }
    Ok((head, statuses))
}

fn empty_status(name: &str) -> ReactorStatus {
    ReactorStatus {
        name: name.to_owned(),
        checkpoint: Position(0),
        position: Position(0),
        updated_at: None,
        head: Position(0),
        lag: 0,
        parked: 0,
        registered: false,
        running: false,
    }
}

fn parked_from(row: &crate::sql::Row) -> Result<ParkedEvent, Error> {
    let requested: Option<i64> = row.get("retry_requested_at")?;
    Ok(ParkedEvent {
        reactor: row.get("reactor")?,
        position: Position(row.get("position")?),
        event_id: EventId(parse_uuid(&row.get::<String>("event_id")?)?),
        event_type: row.get::<Option<String>>("event_type")?.unwrap_or_default(),
        stream_id: row.get::<Option<String>>("stream_id")?.unwrap_or_default(),
        error: row.get("error")?,
        attempts: row.get("attempts")?,
        parked_at: Timestamp(row.get("parked_at")?),
        retry_requested: requested.is_some(),
    })
}

fn parse_uuid(text: &str) -> Result<uuid::Uuid, Error> {
    uuid::Uuid::parse_str(text)
        .map_err(|e| crate::sql::SqlError::decode(format!("parked event id {text:?}: {e}")).into())
}
