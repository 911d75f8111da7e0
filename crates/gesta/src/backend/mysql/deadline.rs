//! Interrupting a statement at its deadline: a watchdog thread with its own
//! connection sends `KILL QUERY <id>` for the watched connection.
//!
//! Why `KILL QUERY` rather than MariaDB's `max_statement_time`: it works on MySQL and
//! MariaDB alike and on every statement (MySQL's `max_execution_time` only limits
//! SELECTs), and it costs no round trip per command: setting a deadline only updates
//! shared state, while a session timeout would need a `SET` before and after every
//! command, or a `SET STATEMENT ... FOR` prefix that defeats the statement cache.
//!
//! No wrong statement is ever killed: the watchdog only kills while the watched
//! connection is inside a statement, and it holds the state lock while `KILL QUERY`
//! runs, so the connection cannot finish that statement and start the next one until
//! the kill has landed. A kill that lands just after the statement ended hits an idle
//! thread, which the server ignores (the next command resets it).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Error as MyError, Opts};

use super::error::NO_SUCH_THREAD;

/// How long the watchdog waits before retrying a kill that failed.
const RETRY: Duration = Duration::from_millis(50);

#[derive(Debug, Default)]
struct State {
    /// When the watched connection's statements must stop.
    deadline: Option<Instant>,
    /// Whether the watched connection is inside a statement.
    running: bool,
    /// Whether that statement has been killed already.
    killed: bool,
    /// The watched connection's id.
    target: u64,
    /// When the watchdog thread wakes up next (`None`: only when told).
    wakes_at: Option<Instant>,
    /// Set when the watched connection is dropped.
    closed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The watchdog of one connection; its thread ends when this is dropped.
#[derive(Debug)]
pub(super) struct Watchdog {
    shared: Arc<Shared>,
}

impl Watchdog {
    /// Starts a watchdog for connection `target`, killing through connections made
    /// with `opts`.
    pub(super) fn start(opts: Opts, target: u64) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        shared.lock().target = target;
        let watched = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("gesta-mysql-watchdog".to_owned())
            .spawn(move || watch(&watched, &opts))?;
        Ok(Watchdog { shared })
    }

    /// The watched connection was replaced by one with id `target`.
    pub(super) fn set_target(&self, target: u64) {
        self.shared.lock().target = target;
    }

    /// Sets or clears the deadline; wakes the thread only if it would sleep past it.
    pub(super) fn set_deadline(&self, deadline: Option<Instant>) {
        let mut state = self.shared.lock();
        state.deadline = deadline;
        if let Some(deadline) = deadline {
            if state.wakes_at.is_none_or(|at| at > deadline) {
                state.wakes_at = Some(deadline);
                self.shared.wake.notify_one();
            }
        }
    }

    /// Marks the start of a statement; `false` if the deadline has already passed.
    pub(super) fn enter(&self) -> bool {
        let mut state = self.shared.lock();
        if state.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        state.running = true;
        state.killed = false;
        true
    }

    /// Marks the end of a statement (waits for a kill in flight to land).
    pub(super) fn leave(&self) {
        self.shared.lock().running = false;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

/// The watchdog thread: sleeps until the deadline, then kills the running statement.
fn watch(shared: &Shared, opts: &Opts) {
    let mut killer = Conn::new(opts.clone()).ok();
    let mut state = shared.lock();
    loop {
        if state.closed {
            return;
        }
        let now = Instant::now();
        match state.deadline {
            Some(deadline) if now < deadline => {
                state.wakes_at = Some(deadline);
                state = wait(shared, state, Some(deadline - now));
            }
            Some(_) if state.running && !state.killed => {
                match kill(&mut killer, opts, state.target) {
                    Ok(()) => state.killed = true,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot interrupt a MySQL statement at its deadline");
                        killer = None;
                        state.wakes_at = Some(now + RETRY);
                        state = wait(shared, state, Some(RETRY));
                    }
                }
            }
            _ => {
                state.wakes_at = None;
                state = wait(shared, state, None);
            }
        }
    }
}

fn wait<'a>(
    shared: &'a Shared,
    state: MutexGuard<'a, State>,
    timeout: Option<Duration>,
) -> MutexGuard<'a, State> {
    match timeout {
        Some(timeout) => match shared.wake.wait_timeout(state, timeout) {
            Ok((state, _)) => state,
            Err(poisoned) => poisoned.into_inner().0,
        },
        None => shared
            .wake
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner),
    }
}

/// Sends `KILL QUERY target`, connecting first if needed.
fn kill(killer: &mut Option<Conn>, opts: &Opts, target: u64) -> Result<(), MyError> {
    let conn = match killer {
        Some(conn) => conn,
        None => killer.insert(Conn::new(opts.clone())?),
    };
    match conn.query_drop(format!("KILL QUERY {target}")) {
        Err(MyError::MySqlError(e)) if e.code == NO_SUCH_THREAD => Ok(()),
        other => other,
    }
}
