//! The key scheme of the `checkpoints` table, in one place: every row is named
//! `<kind>:<name>`, and only this module knows the prefixes (as KurrentDB keeps every
//! system stream name in one `SystemStreams` class).
//!
//! | key | row |
//! | --- | --- |
//! | `read_model:<name>` | how far an inline read model has applied the log |
//! | `reactor:<name>` | a reactor's checkpoint; also the name of its lock |
//! | `projection:<name>` | an async projection's checkpoint; also the name of its lock |
//! | `projection-rebuild:<name>` | a pending request to rebuild projection `<name>` |
//! | `read-model-version:<name>` | the version of read model `<name>` its tables hold (in `position`; 0 = being filled) |
//!
//! The rows of one kind are selected by a byte range of keys (`reactor:` up to
//! `reactor;`, the character after `:`), not `LIKE`, whose wildcards (`_` in
//! `read_model`) and case rules differ between backends; every backend stores the
//! keys with a binary collation.

use crate::event::{Position, Timestamp};
use crate::sql::SqlError;
use crate::{Tx, params};

/// What a row of `checkpoints` belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An inline read model.
    ReadModel,
    /// A reactor.
    Reactor,
    /// An async projection.
    Projection,
    /// A pending rebuild request of an async projection.
    ProjectionRebuild,
    /// The version an inline read model's tables were built by.
    ReadModelVersion,
}

impl Kind {
    /// The prefix of this kind's keys, with its `:`.
    const fn prefix(self) -> &'static str {
        match self {
            Kind::ReadModel => "read_model:",
            Kind::Reactor => "reactor:",
            Kind::Projection => "projection:",
            Kind::ProjectionRebuild => "projection-rebuild:",
            Kind::ReadModelVersion => "read-model-version:",
        }
    }

    /// The key of the row for `name`.
    pub(crate) fn key(self, name: &str) -> String {
        format!("{}{name}", self.prefix())
    }

    /// The name in `key`, when `key` is of this kind.
    pub(crate) fn name_in(self, key: &str) -> Option<&str> {
        key.strip_prefix(self.prefix())
    }

    /// Every stored row of this kind, in key order.
    pub(crate) fn stored(self, tx: &mut Tx<'_>) -> Result<Vec<Stored>, SqlError> {
        let prefix = self.prefix();
        let end = format!("{};", &prefix[..prefix.len() - 1]);
        let rows = tx.query(
            "SELECT name, position, updated_at FROM checkpoints \
             WHERE name >= :lo AND name < :hi ORDER BY name",
            &params! { "lo" => prefix, "hi" => end },
        )?;
        rows.iter()
            .map(|row| {
                let key: String = row.get("name")?;
                Ok(Stored {
                    name: self.name_in(&key).unwrap_or(&key).to_owned(),
                    position: Position(row.get("position")?),
                    updated_at: Timestamp(row.get("updated_at")?),
                })
            })
            .collect()
    }
}

/// A stored row of one [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// The name after the kind's prefix.
    pub(crate) name: String,
    pub(crate) position: Position,
    pub(crate) updated_at: Timestamp,
}

/// The position stored under `key`, if the row exists.
pub(crate) fn position(tx: &mut Tx<'_>, key: &str) -> Result<Option<Position>, SqlError> {
    let found: Option<u64> = tx.query_scalar(
        "SELECT position FROM checkpoints WHERE name = :name",
        &params! { "name" => key },
    )?;
    Ok(found.map(Position))
}

/// The position stored under `key`; when the row is missing, it is created at
/// `initial(tx)` first.
pub(crate) fn get_or_create(
    tx: &mut Tx<'_>,
    key: &str,
    initial: impl FnOnce(&mut Tx<'_>) -> Result<Position, SqlError>,
) -> Result<Position, SqlError> {
    if let Some(position) = position(tx, key)? {
        return Ok(position);
    }
    let start = initial(tx)?;
    insert(tx, key, start)?;
    Ok(start)
}

/// Creates the row `key` at `position`.
pub(crate) fn insert(tx: &mut Tx<'_>, key: &str, position: Position) -> Result<(), SqlError> {
    tx.execute(
        "INSERT INTO checkpoints (name, position, updated_at) VALUES (:name, :position, :at)",
        &params! { "name" => key, "position" => position.0, "at" => Timestamp::now().0 },
    )?;
    Ok(())
}

/// Moves the row `key` to `position`; the number of rows changed (0 when missing).
pub(crate) fn set(tx: &mut Tx<'_>, key: &str, position: Position) -> Result<u64, SqlError> {
    tx.execute(
        "UPDATE checkpoints SET position = :position, updated_at = :at WHERE name = :name",
        &params! { "position" => position.0, "at" => Timestamp::now().0, "name" => key },
    )
}

/// Deletes the row `key`, if any.
pub(crate) fn delete(tx: &mut Tx<'_>, key: &str) -> Result<(), SqlError> {
    tx.execute(
        "DELETE FROM checkpoints WHERE name = :name",
        &params! { "name" => key },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn keys_carry_their_kind_and_give_their_name_back() {
        let key = Kind::Reactor.key("welcome-email");
        assert_eq!(key, "reactor:welcome-email");
        assert_eq!(Kind::Reactor.name_in(&key), Some("welcome-email"));
        assert_eq!(Kind::Projection.name_in(&key), None);
        let request = Kind::ProjectionRebuild.key("p");
        assert_eq!(Kind::Projection.name_in(&request), None);
        assert_eq!(Kind::ProjectionRebuild.name_in(&request), Some("p"));
    }

    #[test]
    fn no_key_of_one_kind_falls_in_the_range_of_another() {
        let kinds = [
            Kind::ReadModel,
            Kind::Reactor,
            Kind::Projection,
            Kind::ProjectionRebuild,
            Kind::ReadModelVersion,
        ];
        for kind in kinds {
            let prefix = kind.prefix();
            let end = format!("{};", &prefix[..prefix.len() - 1]);
            for other in kinds {
                let key = other.key("x");
                let inside = key.as_str() >= prefix && key.as_str() < end.as_str();
                assert_eq!(inside, kind == other, "{key} in the range of {prefix}");
            }
        }
    }
}
