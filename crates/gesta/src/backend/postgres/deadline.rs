//! Interrupting statements that run past the command's deadline.
//!
//! The hot path costs no round trip: a statement that would start after the deadline
//! fails at once, client side, and one watchdog thread per connection (started the
//! first time a deadline is set) sleeps until the deadline and, if a statement is
//! still running then, cancels it with `pg_cancel_backend` from a side connection.
//! The server answers with SQLSTATE 57014, which is [`SqlErrorKind::Interrupted`].
//!
//! The cancel is sent while holding the lock [`Deadline::set`] takes, and
//! `pg_cancel_backend` returns only once the signal is posted, so a cancel can never
//! hit a statement run after the deadline was cleared (the server drops a cancel
//! that finds it idle). Until the deadline is cleared, a late cancel can only hit
//! statements of the overrunning command, which fails anyway. A cancel that arrives
//! just before its statement started is repeated every [`REFIRE`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use postgres::{CancelToken, Client, Config, NoTls};

use crate::sql::{SqlError, SqlErrorKind};

/// How often a statement still running past its deadline is cancelled again.
const REFIRE: Duration = Duration::from_millis(100);

/// How to reach the server process running a connection's statements.
pub(super) struct CancelTarget {
    pub(super) config: Config,
    pub(super) pid: i32,
    pub(super) token: CancelToken,
}

/// The deadline of one connection, and the watchdog enforcing it.
pub(super) struct Deadline {
    at: Option<Instant>,
    target: Option<CancelTarget>,
    shared: Option<Arc<Shared>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Whether a statement is in flight on the watched connection.
    running: AtomicBool,
}

#[derive(Default)]
struct State {
    at: Option<Instant>,
    /// The watchdog waits for a change of `at` (no timeout): `set` must wake it.
    parked: bool,
    closed: bool,
}

/// Marks a statement in flight until dropped.
pub(super) struct Running<'a>(Option<&'a AtomicBool>);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(flag) = self.0 {
            flag.store(false, Ordering::SeqCst);
        }
    }
}

impl Deadline {
    pub(super) fn new(target: CancelTarget) -> Self {
        Deadline {
            at: None,
            target: Some(target),
            shared: None,
        }
    }

    /// Sets or clears the deadline. Waits for a cancel being sent to finish.
    pub(super) fn set(&mut self, at: Option<Instant>) {
        self.at = at;
        if at.is_some() && self.shared.is_none() {
            self.shared = self.target.take().and_then(spawn_watchdog);
        }
        if let Some(shared) = &self.shared {
            let mut state = lock(&shared.state);
            state.at = at;
            if state.parked && at.is_some() {
                shared.wake.notify_one();
            }
        }
    }

    /// Called before a statement: fails if the deadline has passed, otherwise marks
    /// the statement in flight for the watchdog.
    pub(super) fn start(&self) -> Result<Running<'_>, SqlError> {
        let Some(at) = self.at else {
            return Ok(Running(None));
        };
        let flag = self.shared.as_ref().map(|s| &s.running);
        if let Some(flag) = flag {
            flag.store(true, Ordering::SeqCst);
        }
        let running = Running(flag);
        if Instant::now() >= at {
            return Err(SqlError::new(
                SqlErrorKind::Interrupted,
                "statement not started: the deadline has passed",
            ));
        }
        Ok(running)
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            lock(&shared.state).closed = true;
            shared.wake.notify_one();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn spawn_watchdog(target: CancelTarget) -> Option<Arc<Shared>> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
        running: AtomicBool::new(false),
    });
    let watched = Arc::clone(&shared);
    let spawned = std::thread::Builder::new()
        .name("gesta-pg-deadline".to_owned())
        .spawn(move || watch(&watched, &target));
    match spawned {
        Ok(_) => Some(shared),
        Err(err) => {
            tracing::warn!(error = %err, "no deadline watchdog: running statements will not be interrupted");
            None
        }
    }
}

/// The watchdog loop: sleeps until the deadline, cancels what still runs then.
fn watch(shared: &Shared, target: &CancelTarget) {
    let mut side: Option<Client> = None;
    let mut state = lock(&shared.state);
    while !state.closed {
        let now = Instant::now();
        state = match state.at {
            Some(at) if now < at => wait(shared, state, Some(at - now)),
            Some(_) if shared.running.load(Ordering::SeqCst) => {
                cancel(target, &mut side);
                wait(shared, state, Some(REFIRE))
            }
            // No deadline, or it passed between statements: statements that start
            // now fail on their own, so wait for the next deadline.
            _ => wait(shared, state, None),
        };
    }
}

fn wait<'a>(
    shared: &Shared,
    mut state: MutexGuard<'a, State>,
    timeout: Option<Duration>,
) -> MutexGuard<'a, State> {
    match timeout {
        Some(timeout) => {
            shared
                .wake
                .wait_timeout(state, timeout)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        }
        None => {
            state.parked = true;
            let mut state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.parked = false;
            state
        }
    }
}

/// Cancels the statement running on `target`: `pg_cancel_backend` from a side
/// connection (returns once the signal is posted), else the protocol's cancel request.
fn cancel(target: &CancelTarget, side: &mut Option<Client>) {
    if side.is_none() {
        *side = target.config.connect(NoTls).ok();
    }
    if let Some(client) = side {
        match client.execute("SELECT pg_cancel_backend($1)", &[&target.pid]) {
            Ok(_) => return,
            Err(err) => {
                tracing::debug!(error = %err, "pg_cancel_backend failed");
                *side = None;
            }
        }
    }
    if let Err(err) = target.token.cancel_query(NoTls) {
        tracing::warn!(error = %err, "cannot cancel a statement past its deadline");
    }
}
