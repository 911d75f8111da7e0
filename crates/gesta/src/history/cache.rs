//! A few materialized places kept for reuse: a question at the same position is
//! answered at once, one further on replays only the difference (a slider scrubbing
//! forward through history).

use std::sync::Mutex;

use super::materialize::Materialized;
use crate::event::Position;

/// How many places are kept.
const KEEP: usize = 4;

/// The kept places, most recently returned last.
#[derive(Default)]
pub(crate) struct Places {
    kept: Mutex<Vec<Materialized>>,
}

impl Places {
    /// Takes the kept place nearest at or before `at` (holding every read model).
    pub(crate) fn take(&self, at: Position) -> Option<Materialized> {
        let mut kept = self.kept.lock().ok()?;
        let best = kept
            .iter()
            .enumerate()
            .filter(|(_, p)| p.position <= at)
            .max_by_key(|(_, p)| p.position)
            .map(|(i, _)| i)?;
        Some(kept.swap_remove(best))
    }

    /// Keeps `place` for later, dropping the oldest beyond the limit.
    pub(crate) fn put(&self, place: Materialized) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.push(place);
            if kept.len() > KEEP {
                kept.remove(0);
            }
        }
    }
}

impl Places {
    /// Drops every kept place (they may hold an erased subject's data), on a thread
    /// of its own as [`Drop`] does.
    pub(crate) fn clear(&self) {
        let kept = match self.kept.lock() {
            Ok(mut kept) => std::mem::take(&mut *kept),
            Err(_) => return,
        };
        if !kept.is_empty() {
            let _ = std::thread::spawn(move || drop(kept)).join();
        }
    }
}

impl Drop for Places {
    /// Dropping a place drops its scratch namespace with blocking SQL, which the
    /// server drivers cannot run on an async thread (where the last store handle
    /// usually goes): it is done on a thread of its own, waited for.
    fn drop(&mut self) {
        let kept = std::mem::take(self.kept.get_mut().unwrap_or_else(|e| e.into_inner()));
        if kept.is_empty() {
            return;
        }
        let _ = std::thread::spawn(move || drop(kept)).join();
    }
}
