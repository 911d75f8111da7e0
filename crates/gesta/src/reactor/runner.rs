//! A reactor while it holds its lock: follow the log from the checkpoint, deliver
//! each event with retries, park what keeps failing, write the checkpoint now and then.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::registry::Entry;
use super::state::{self, Retried};
use super::{HandlerFn, ReactorOptions};
use crate::Error;
use crate::event::{Position, RecordedEvent};
use crate::follower::{FollowerEntry as _, Held, changed_or_sleep, page, stopped};

/// The longest error message kept with a parked event.
const MAX_ERROR_LEN: usize = 4000;

/// Following the log while the lock is held.
pub(super) struct Follower<'a> {
    held: Held<'a>,
    entry: &'a Entry,
    options: ReactorOptions,
    /// Every event up to here was handled (delivered, parked or not matching).
    cursor: Position,
    /// The durable checkpoint.
    flushed: Position,
    unflushed: u64,
    last_flush: Instant,
    /// When to check the lock (and look for retry requests) next.
    next_check: Instant,
}

impl<'a> Follower<'a> {
    pub(super) fn new(held: Held<'a>, entry: &'a Entry) -> Self {
        Follower {
            held,
            entry,
            options: entry.reactor.options.clone(),
            cursor: Position(0),
            flushed: Position(0),
            unflushed: 0,
            last_flush: Instant::now(),
            next_check: Instant::now(),
        }
    }

    /// Follows the log until stopped (`Ok`, checkpoint written) or an error.
    pub(super) async fn run(mut self) -> Result<(), Error> {
        self.cursor = state::start(self.held.store, self.held.key, self.options.start).await?;
        self.flushed = self.cursor;
        self.entry.set_position(self.cursor);
        let mut commits = self.held.store.watch_position();
        loop {
            if self.check_due() {
                self.check_lock().await?;
                self.retry_requested().await?;
            }
            if self.is_stopped() {
                return self.flush().await;
            }
            commits.borrow_and_update();
            let page = page(self.held.store, &self.entry.reactor.filter, self.cursor).await?;
            for event in &page.events {
                if self.check_due() {
                    self.check_lock().await?;
                }
                if !self.deliver(event).await? {
                    return self.flush().await;
                }
            }
            self.advance(page.scanned_to);
            self.flush_if_due().await?;
            if page.full {
                continue;
            }
            let wait = self.idle_wait();
            tokio::select! {
                () = changed_or_sleep(&mut commits, wait) => {}
                () = stopped(self.held.stop) => {}
                () = self.entry.wake.notified() => self.next_check = Instant::now(),
            }
        }
    }

    fn is_stopped(&self) -> bool {
        self.held.is_stopped()
    }

    fn check_due(&self) -> bool {
        Instant::now() >= self.next_check && !self.is_stopped()
    }

    /// How long to wait for a commit when caught up: until the next poll for other
    /// processes' commits, checkpoint write or housekeeping, whichever comes first.
    fn idle_wait(&self) -> Duration {
        let mut wait = self
            .held
            .store
            .poll_interval()
            .min(self.next_check.saturating_duration_since(Instant::now()));
        if self.cursor > self.flushed {
            let due = self
                .options
                .checkpoint_interval
                .saturating_sub(self.last_flush.elapsed());
            wait = wait.min(due);
        }
        wait
    }

    fn advance(&mut self, to: Position) {
        if to > self.cursor {
            self.cursor = to;
            self.entry.set_position(to);
        }
    }

    /// Delivers `event`, retrying with backoff and parking it after the last attempt.
    /// `false` when the reactor was stopped first (the event stays undelivered).
    async fn deliver(&mut self, event: &RecordedEvent) -> Result<bool, Error> {
        let handler = Arc::clone(&self.entry.reactor.handler);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let timeout = self.options.attempt_timeout;
            let outcome = tokio::select! {
                outcome = call(&handler, event.clone(), timeout) => outcome,
                () = stopped(self.held.stop) => return Ok(false),
            };
            let error = match outcome {
                Ok(()) => {
                    self.advance(event.position);
                    self.unflushed += 1;
                    self.flush_if_due().await?;
                    return Ok(true);
                }
                Err(error) => error,
            };
            tracing::warn!(reactor = self.entry.name(), position = event.position.0, attempt, error = %error, "reactor call failed");
            if attempt >= self.options.max_attempts {
                self.park(event, error, attempt).await?;
                return Ok(true);
            }
            tokio::select! {
                () = tokio::time::sleep(self.options.backoff(attempt)) => {}
                () = stopped(self.held.stop) => return Ok(false),
            }
        }
    }

    async fn park(
        &mut self,
        event: &RecordedEvent,
        error: String,
        attempts: u32,
    ) -> Result<(), Error> {
        tracing::error!(reactor = self.entry.name(), position = event.position.0, event_id = %event.id, attempts, error = %error, "event parked");
        let reactor = self.entry.name();
        state::park(
            self.held.store,
            reactor,
            self.held.key,
            event,
            error,
            attempts,
        )
        .await?;
        self.advance(event.position);
        self.flushed = event.position;
        self.unflushed = 0;
        self.last_flush = Instant::now();
        Ok(())
    }

    async fn flush_if_due(&mut self) -> Result<(), Error> {
        let due = self.unflushed >= self.options.checkpoint_every
            || self.last_flush.elapsed() >= self.options.checkpoint_interval;
        if due && self.cursor > self.flushed {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes the checkpoint if it moved.
    async fn flush(&mut self) -> Result<(), Error> {
        if self.cursor > self.flushed {
            state::save(self.held.store, self.held.key, self.cursor).await?;
            self.flushed = self.cursor;
        }
        self.unflushed = 0;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Checks that the lock is still held (an error if not: another process may run
    /// the reactor now).
    async fn check_lock(&mut self) -> Result<(), Error> {
        self.next_check = Instant::now() + self.options.lock_retry;
        self.held.check_lock().await
    }

    /// Delivers once more every parked event whose retry was requested.
    async fn retry_requested(&mut self) -> Result<(), Error> {
        let reactor = self.entry.name();
        for position in state::retry_requests(self.held.store, reactor).await? {
            let outcome = match state::event_at(self.held.store, position).await? {
                Some(event) => tokio::select! {
                    outcome = call(&self.entry.reactor.handler, event, self.options.attempt_timeout) => outcome,
                    () = stopped(self.held.stop) => return Ok(()),
                },
                None => Err("the event is no longer in the log".to_owned()),
            };
            let outcome = match outcome {
                Ok(()) => Retried::Delivered,
                Err(error) => {
                    tracing::warn!(reactor, position = position.0, error = %error, "retried event failed again");
                    Retried::Failed(error)
                }
            };
            state::retried(self.held.store, reactor, position, outcome).await?;
        }
        Ok(())
    }
}

/// Aborts a spawned call when dropped (the reactor stopped, or the call timed out).
struct AbortOnDrop(JoinHandle<Result<(), super::BoxError>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the reactor's function on its own task (so that a panic is a failure, not the
/// end of the reactor) with a time limit; the error message on failure.
async fn call(
    handler: &Arc<HandlerFn>,
    event: RecordedEvent,
    timeout: Duration,
) -> Result<(), String> {
    let mut task = AbortOnDrop(tokio::spawn(handler(event)));
    let message = match tokio::time::timeout(timeout, &mut task.0).await {
        Ok(Ok(Ok(()))) => return Ok(()),
        Ok(Ok(Err(err))) => describe(err.as_ref()),
        Ok(Err(join)) if join.is_panic() => format!("panicked: {}", panic_message(join)),
        Ok(Err(join)) => join.to_string(),
        Err(_) => format!("no answer within {timeout:?}"),
    };
    Err(truncate(message))
}

/// An error and its sources, `outer: inner: ...`.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn panic_message(join: tokio::task::JoinError) -> String {
    let payload = join.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

fn truncate(mut message: String) -> String {
    if message.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    message
}
