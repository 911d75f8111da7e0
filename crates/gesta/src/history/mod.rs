//! History: the read models as of any position or time, snapshots, diffs between two
//! positions, reverts, and rebuilds in the background. One mechanism serves them all
//! (ADR 007): [`materialize`] fills a scratch place with the read models at a position
//! by the same reducers the writer runs, starting from a [`snapshot`].
//!
//! The [`crate::Store`] methods are in `store/history.rs`.

mod as_of;
pub(crate) mod cache;
mod diff;
pub(crate) mod materialize;
pub(crate) mod rebuild;
pub(crate) mod revert;
pub mod reverts;
mod rows;
pub(crate) mod snapshot;

pub use as_of::AsOf;
pub(crate) use diff::compare as diff_tables;
pub use diff::{Diff, RowChange, TableDiff};
pub use rebuild::{ReadModelState, ReadModelStatus, RebuildProgress, RebuildState};
pub use revert::RevertTarget;
pub(crate) use rows::TableRows;
pub use rows::row_to_json;
pub use snapshot::SnapshotInfo;
