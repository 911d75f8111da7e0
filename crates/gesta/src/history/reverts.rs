//! Which events a replay leaves out: those of reverted commands.
//!
//! A revert is the event [`REVERTED`], whose data names the command ids and whose
//! metadata records the positions of their events (`reverted_positions`, ranges
//! `[first, last]`; a command's events are always contiguous). A revert is in force
//! unless a later revert in force names its own command (redo). So the set of left-out
//! positions as of P is found by walking the reverts at or before P from the newest
//! back: a revert whose position is already left out is itself undone and adds
//! nothing; otherwise its ranges are added.

use serde::Deserialize;

use crate::Tx;
use crate::event::Position;
use crate::params;
use crate::sql::SqlError;

/// The type of the event a revert records.
pub const REVERTED: &str = "gesta.reverted";

/// The stream revert events go to.
pub const REVERTS_STREAM: &str = "gesta-reverts";

/// The metadata field holding the reverted positions.
pub(crate) const POSITIONS_FIELD: &str = "reverted_positions";

/// A set of positions, as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Skipped {
    ranges: Vec<(u64, u64)>,
}

/// One revert event as the walk needs it.
#[derive(Debug, Clone)]
pub(crate) struct RevertRecord {
    pub(crate) position: Position,
    pub(crate) ranges: Vec<(u64, u64)>,
}

impl Skipped {
    /// Whether the event at `position` is left out.
    pub(crate) fn contains(&self, position: Position) -> bool {
        let p = position.0;
        let i = self.ranges.partition_point(|&(_, last)| last < p);
        self.ranges.get(i).is_some_and(|&(first, _)| first <= p)
    }

    /// Whether every position of `first..=last` is left out.
    pub(crate) fn covers(&self, first: u64, last: u64) -> bool {
        let i = self.ranges.partition_point(|&(_, l)| l < first);
        self.ranges
            .get(i)
            .is_some_and(|&(f, l)| f <= first && l >= last)
    }

    fn add(&mut self, first: u64, last: u64) {
        if first > last {
            return;
        }
        self.ranges.push((first, last));
        self.ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.ranges.len());
        for &(f, l) in &self.ranges {
            match merged.last_mut() {
                Some(prev) if f <= prev.1.saturating_add(1) => prev.1 = prev.1.max(l),
                _ => merged.push((f, l)),
            }
        }
        self.ranges = merged;
    }

    /// The positions up to `upto` only.
    pub(crate) fn clipped(&self, upto: Position) -> Skipped {
        let ranges = self
            .ranges
            .iter()
            .filter(|&&(f, _)| f <= upto.0)
            .map(|&(f, l)| (f, l.min(upto.0)))
            .collect();
        Skipped { ranges }
    }

    /// The first position left out by one set and not the other.
    pub(crate) fn first_difference(&self, other: &Skipped) -> Option<Position> {
        let mut edges: Vec<u64> = self
            .ranges
            .iter()
            .chain(&other.ranges)
            .flat_map(|&(f, l)| [f, l.saturating_add(1)])
            .collect();
        edges.sort_unstable();
        edges
            .into_iter()
            .map(Position)
            .find(|&p| self.contains(p) != other.contains(p))
    }

    /// The walk described in the module docs, over `reverts` (any order).
    pub(crate) fn from_reverts(mut reverts: Vec<RevertRecord>) -> Skipped {
        reverts.sort_unstable_by_key(|r| std::cmp::Reverse(r.position));
        let mut skipped = Skipped::default();
        for revert in reverts {
            if skipped.contains(revert.position) {
                continue;
            }
            for (first, last) in revert.ranges {
                skipped.add(first, last);
            }
        }
        skipped
    }
}

#[derive(Deserialize)]
struct RevertMetadata {
    #[serde(default)]
    reverted_positions: Vec<(u64, u64)>,
}

/// The revert events at or before `upto`.
pub(crate) fn records(tx: &mut Tx<'_>, upto: Position) -> Result<Vec<RevertRecord>, SqlError> {
    // Live reverts first, then archived ones: an archiver committing in between
    // (READ COMMITTED) can then only make one appear twice, never not at all.
    let rows = tx.query(
        "SELECT position, metadata FROM events WHERE event_type = :type AND position <= :upto \
         ORDER BY position",
        &params! { "type" => REVERTED, "upto" => upto.0 },
    )?;
    let mut found = std::collections::BTreeMap::new();
    for row in rows {
        found.insert(row.get::<u64>("position")?, row.get::<String>("metadata")?);
    }
    for event in crate::archive::read::of_type(tx, REVERTED, upto)? {
        found.insert(event.position.0, event.metadata.get().to_owned());
    }
    found
        .into_iter()
        .map(|(position, metadata)| {
            let parsed: RevertMetadata = serde_json::from_str(&metadata).map_err(|e| {
                SqlError::decode(format!("revert at position {position}: metadata: {e}"))
            })?;
            Ok(RevertRecord {
                position: Position(position),
                ranges: parsed.reverted_positions,
            })
        })
        .collect()
}

/// The positions left out as of `upto`.
pub(crate) fn skipped_at(tx: &mut Tx<'_>, upto: Position) -> Result<Skipped, SqlError> {
    Ok(Skipped::from_reverts(records(tx, upto)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revert(position: u64, ranges: &[(u64, u64)]) -> RevertRecord {
        RevertRecord {
            position: Position(position),
            ranges: ranges.to_vec(),
        }
    }

    #[test]
    fn a_revert_leaves_its_ranges_out() {
        let s = Skipped::from_reverts(vec![revert(10, &[(3, 4)]), revert(11, &[(7, 7)])]);
        let out: Vec<u64> = (1..=12).filter(|&p| s.contains(Position(p))).collect();
        assert_eq!(out, vec![3, 4, 7]);
        assert!(s.covers(3, 4) && !s.covers(3, 5));
    }

    #[test]
    fn reverting_a_revert_redoes_and_a_third_undoes_again() {
        let redo = Skipped::from_reverts(vec![revert(10, &[(3, 4)]), revert(11, &[(10, 10)])]);
        assert!(!redo.contains(Position(3)));
        assert!(redo.contains(Position(10)));
        let again = Skipped::from_reverts(vec![
            revert(10, &[(3, 4)]),
            revert(11, &[(10, 10)]),
            revert(12, &[(11, 11)]),
        ]);
        assert!(again.contains(Position(3)) && again.contains(Position(11)));
        assert!(!again.contains(Position(10)));
    }

    #[test]
    fn ranges_merge_and_clip() {
        let s = Skipped::from_reverts(vec![revert(20, &[(5, 6), (1, 2), (3, 4)])]);
        assert_eq!(s.ranges, vec![(1, 6)]);
        assert_eq!(s.clipped(Position(3)).ranges, vec![(1, 3)]);
        assert_eq!(s.clipped(Position(0)), Skipped::default());
    }

    #[test]
    fn first_difference_finds_the_earliest_change() {
        let a = Skipped::from_reverts(vec![revert(20, &[(5, 9)])]);
        let b = Skipped::from_reverts(vec![revert(20, &[(5, 9)]), revert(21, &[(2, 3)])]);
        assert_eq!(a.first_difference(&b), Some(Position(2)));
        assert_eq!(a.first_difference(&a), None);
        let c = Skipped::from_reverts(vec![revert(20, &[(7, 9)])]);
        assert_eq!(a.first_difference(&c), Some(Position(5)));
    }
}
