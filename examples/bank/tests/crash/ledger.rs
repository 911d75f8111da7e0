//! What the clients learnt: acknowledged commands with their events, refusals, and
//! commands left in doubt, checked against the log later.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::wire::{Cmd, Event, Outcome};

/// Everything the clients learnt, checked against the log.
#[derive(Default)]
pub struct Ledger {
    /// Acknowledged commands by key, with the events the server returned.
    pub acked: HashMap<String, Vec<Event>>,
    /// Keys of commands definitely refused (404, 422, 503) and never acknowledged.
    pub refused: HashSet<String>,
    /// Commands with no definite answer, retried later.
    pub in_doubt: Vec<Cmd>,
    /// Accounts known to exist.
    pub accounts: Vec<String>,
    pub stats: Stats,
}

#[derive(Default, Debug)]
pub struct Stats {
    pub acked: usize,
    pub refused: usize,
    pub replayed_during_load: usize,
    pub in_doubt: usize,
    pub retried_replayed: usize,
    pub retried_executed: usize,
    pub retried_refused: usize,
}

impl Ledger {
    /// Records `outcome`; returns whether the command is acknowledged.
    pub fn record(&mut self, cmd: &Cmd, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Acked { replayed, body } => {
                self.ack(cmd, replayed, body.events);
                return true;
            }
            Outcome::Refused(status) => {
                // 404: unknown account, 422: insufficient funds, 503: overloaded.
                assert!([404, 422, 503].contains(&status), "{cmd:?} got {status}");
                let acked = self.acked.contains_key(&cmd.key);
                assert!(status == 503 || !acked, "acked {cmd:?}, retry got {status}");
                self.refused.insert(cmd.key.clone());
                self.stats.refused += 1;
            }
            Outcome::InDoubt(reason) => {
                assert!(!reason.starts_with("server error"), "{cmd:?}: {reason}");
                self.in_doubt.push(cmd.clone());
                self.stats.in_doubt += 1;
            }
        }
        false
    }

    /// An acknowledgement: a first execution, or a replay of an earlier one.
    fn ack(&mut self, cmd: &Cmd, replayed: bool, events: Vec<Event>) {
        assert!(!events.is_empty(), "{cmd:?} wrote no event");
        match self.acked.get(&cmd.key) {
            Some(first) if replayed => {
                assert_eq!(first, &events, "replay of {} differs", cmd.key);
                self.stats.replayed_during_load += 1;
            }
            Some(first) => panic!("{cmd:?} committed twice: {first:?}, then {events:?}"),
            None => {
                assert!(!replayed, "{} replayed but never acknowledged", cmd.key);
                let id = cmd.body["account_id"].as_str().unwrap_or_default();
                if cmd.name == "OpenAccount" && !self.accounts.iter().any(|a| a == id) {
                    self.accounts.push(id.to_owned());
                }
                self.acked.insert(cmd.key.clone(), events);
                self.stats.acked += 1;
            }
        }
    }

    /// Records the retry of an in-doubt command, given the events the log held for its
    /// key before the retry: a replay returns exactly those, a first run needs none.
    pub fn record_retry(&mut self, cmd: &Cmd, before: Vec<Event>, outcome: Outcome) {
        match outcome {
            Outcome::Acked { replayed, body } => {
                let id = Some(&body.command_id);
                assert!(body.events.iter().all(|e| e.commandid.as_ref() == id));
                if replayed {
                    assert_eq!(
                        body.events, before,
                        "replay of {cmd:?} differs from the log"
                    );
                    self.stats.retried_replayed += 1;
                } else {
                    assert!(before.is_empty(), "{cmd:?} committed twice: {before:?}");
                    self.stats.retried_executed += 1;
                }
                if !self.acked.contains_key(&cmd.key) {
                    self.ack(cmd, false, body.events);
                }
            }
            Outcome::Refused(status) => {
                assert!(
                    before.is_empty(),
                    "{cmd:?} had committed, retry got {status}"
                );
                self.refused.insert(cmd.key.clone());
                self.stats.retried_refused += 1;
            }
            Outcome::InDoubt(reason) => panic!("retry of {cmd:?} failed: {reason}"),
        }
    }
}

/// The ledger shared by the client tasks.
#[derive(Clone, Default)]
pub struct Shared(Arc<Mutex<Ledger>>);

impl Shared {
    /// The ledger; a panic elsewhere does not hide the first failure behind poisoning.
    pub fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
