//! Carrying reactors' state along when a store is copied ([`crate::copy`]): their
//! checkpoints and parked events, so that reactors on the copy go on where they were
//! instead of running again over the whole log.

use crate::checkpoint::{self, Kind};
use crate::sql::Value;
use crate::{Error, Store, params};

/// Copies every reactor checkpoint and every parked event of `from` into `to`,
/// replacing what `to` had for them. Returns the number of checkpoints copied.
pub(crate) async fn copy_state(from: &Store, to: &Store) -> Result<u64, Error> {
    let (checkpoints, parked) = from
        .read(|tx| {
            let checkpoints = Kind::Reactor.stored(tx)?;
            let parked = tx.query(
                "SELECT reactor, position, event_id, error, attempts, parked_at, \
                 retry_requested_at FROM parked_events",
                &params! {},
            )?;
            Ok((checkpoints, parked))
        })
        .await?;
    let copied = checkpoints.len() as u64;
    to.write_aside(move |tx| {
        for stored in &checkpoints {
            let key = Kind::Reactor.key(&stored.name);
            checkpoint::delete(tx, &key)?;
            tx.execute(
                "INSERT INTO checkpoints (name, position, updated_at) \
                 VALUES (:name, :position, :updated_at)",
                &params! {
                    "name" => key,
                    "position" => stored.position.0,
                    "updated_at" => stored.updated_at.0,
                },
            )?;
        }
        for row in &parked {
            let key = params! {
                "reactor" => row.get::<String>("reactor")?,
                "position" => row.get::<i64>("position")?,
            };
            tx.execute(
                "DELETE FROM parked_events WHERE reactor = :reactor AND position = :position",
                &key,
            )?;
            let requested: Option<i64> = row.get("retry_requested_at")?;
            tx.execute(
                "INSERT INTO parked_events \
                 (reactor, position, event_id, error, attempts, parked_at, retry_requested_at) \
                 VALUES (:reactor, :position, :event_id, :error, :attempts, :parked_at, :requested)",
                &key.with("event_id", row.get::<String>("event_id")?)
                    .with("error", row.get::<String>("error")?)
                    .with("attempts", row.get::<i64>("attempts")?)
                    .with("parked_at", row.get::<i64>("parked_at")?)
                    .with("requested", requested.map_or(Value::Null, Value::Integer)),
            )?;
        }
        Ok(copied)
    })
    .await
}
