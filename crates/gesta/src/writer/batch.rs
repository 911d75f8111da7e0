//! The writer loop: gather a batch, one transaction, a savepoint per unit, one commit.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};

use super::{Job, Unit, UnitMeta, WriterConfig};
use crate::Error;
use crate::app::App;
use crate::backend::Dialect;
use crate::command::CommandOutcome;
use crate::event::Position;
use crate::metrics::StoreMetrics;
use crate::sql::SqlError;
use crate::tx::Session;

pub(crate) struct Writer {
    pub(super) session: Session,
    pub(super) app: Arc<App>,
    pub(super) dialect: &'static Dialect,
    pub(super) config: WriterConfig,
    pub(super) metrics: Arc<StoreMetrics>,
    pub(super) committed: watch::Sender<Position>,
    pub(super) live: tokio::sync::broadcast::Sender<super::LiveBatch>,
    pub(super) log: super::LogBuffer,
}

type Reply = oneshot::Sender<Result<CommandOutcome, Error>>;

/// What the batch does after a unit.
enum Continue {
    /// Go on in the same transaction.
    Yes,
    /// The transaction was rolled back; open a new one for the rest.
    Reopen,
}

/// The writer's one savepoint in a batch, and the units after it (ADR 013).
#[derive(Default)]
struct Savepoint {
    /// `SAVEPOINT gesta_unit` is set in the open transaction.
    set: bool,
    /// The units that succeeded since it was set, in order (their outcomes are the
    /// last `metas.len()` entries of the batch's `done`). Each can be redone: after
    /// one that cannot, the savepoint moves before the next unit runs.
    metas: Vec<UnitMeta>,
    /// A unit after the savepoint cannot be redone, or units were redone: move the
    /// savepoint before the next unit.
    advance: bool,
}

impl Savepoint {
    /// The statement to run before the next unit, if any. `succeeded`: a unit of this
    /// transaction succeeded (so there is something to keep).
    fn before_unit(&mut self, succeeded: bool) -> Option<&'static str> {
        let statement = match (self.set, self.advance, succeeded) {
            (false, _, true) => "SAVEPOINT gesta_unit",
            (true, true, _) => "RELEASE SAVEPOINT gesta_unit; SAVEPOINT gesta_unit",
            _ => return None,
        };
        self.set = true;
        self.advance = false;
        self.metas.clear();
        Some(statement)
    }

    fn after_success(&mut self, meta: UnitMeta, redoable: bool) {
        if self.set {
            self.advance |= !redoable;
            self.metas.push(meta);
        }
    }

    /// The units since the savepoint were redone: they are kept by moving it.
    fn after_redo(&mut self) {
        self.advance = !self.metas.is_empty();
    }
}

impl Writer {
    /// Runs until every sender of `jobs` is gone.
    pub(super) fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        let mut batch = Vec::with_capacity(self.config.max_batch);
        while let Some(first) = jobs.blocking_recv() {
            batch.push(first);
            while batch.len() < self.config.max_batch {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.metrics.queue_depth.set(jobs.len() as i64);
            self.run_jobs(&mut batch);
        }
        tracing::debug!("writer stopped: store dropped");
    }

    fn run_jobs(&mut self, batch: &mut Vec<Job>) {
        let mut units = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            match job {
                Job::Unit(unit) => units.push(unit),
                Job::OnConnection(read) => read(&mut self.session),
                Job::Rebuild(reply) => {
                    let _ = reply.send(self.rebuild());
                }
                Job::Import(batch, reply) => {
                    let _ = reply.send(self.import(batch));
                }
            }
        }
        if !units.is_empty() {
            self.run_batch(units);
        }
    }

    /// Opens the batch's transaction and reads the head under the write lock.
    fn open(&mut self) -> Result<Position, SqlError> {
        let head = match self.dialect.open_batch {
            // One round trip on a server: BEGIN, the lock and the head together.
            Some(open) => self.session.conn.batch_value(open).and_then(|max| {
                let max = max.as_deref().unwrap_or("0");
                max.parse().map(Position).map_err(|_| {
                    SqlError::decode(format!("the log's last position is not a number: {max}"))
                })
            }),
            None => self
                .session
                .begin(self.dialect.begin)
                .and_then(|()| crate::read::last_position(&mut self.session.tx())),
        };
        match head {
            Ok(head) => {
                self.log.start_batch(head);
                Ok(head)
            }
            Err(err) => {
                let _ = self.session.end(false);
                Err(err)
            }
        }
    }

    /// Runs `units` in one transaction and replies to each caller.
    ///
    /// Units run without a savepoint of their own (ADR 013): a unit that fails before
    /// writing anything (a rejection, the common failure) leaves nothing to undo. One
    /// savepoint, set before the second unit, marks what the batch has done so far;
    /// when a unit fails after writing, the writer rolls back to it and redoes the
    /// units since (their reducers on their events, their idempotency records), then
    /// moves the savepoint past them. A unit whose writes cannot be redone (a handler
    /// that writes, sealed personal data, a revert, an erasure) gets the savepoint
    /// moved past it at once.
    fn run_batch(&mut self, units: Vec<Unit>) {
        let size = units.len();
        let started = Instant::now();
        let mut head = match self.open() {
            Ok(head) => head,
            Err(err) => return self.fail_all(units.into_iter().map(|u| u.reply), &err),
        };
        let mut next = head.0 + 1;
        let mut done: Vec<(Reply, CommandOutcome)> = Vec::with_capacity(size);
        let mut savepoint = Savepoint::default();
        let mut units = units.into_iter();
        while let Some(unit) = units.next() {
            match self.run_one(unit, &mut next, &mut done, &mut savepoint) {
                Ok(Continue::Yes) => {}
                Ok(Continue::Reopen) => {
                    // The unit failed with nothing of the batch to keep: the whole
                    // transaction was rolled back; the rest goes in a new one.
                    if units.len() == 0 {
                        return self.metrics.record_batch(size, started.elapsed());
                    }
                    head = match self.open() {
                        Ok(head) => head,
                        Err(err) => return self.fail_all(units.map(|u| u.reply), &err),
                    };
                    next = head.0 + 1;
                }
                Err(err) => {
                    let _ = self.session.end(false);
                    let pending = done
                        .into_iter()
                        .map(|(r, _)| r)
                        .chain(units.map(|u| u.reply));
                    return self.fail_all(pending, &err);
                }
            }
        }
        let last = Position(next - 1);
        if done.is_empty() {
            // Every unit failed: nothing to write.
            let _ = self.session.end(false);
            self.log.forget();
            return self.metrics.record_batch(size, started.elapsed());
        }
        if let Err(err) = self.finish_batch(head, last) {
            let _ = self.session.end(false);
            return self.fail_all(done.into_iter().map(|(r, _)| r), &err);
        }
        self.commit(done, started, size, last);
    }

    /// Writes the buffered log rows and advances the read models' checkpoints.
    fn finish_batch(&mut self, head: Position, last: Position) -> Result<(), SqlError> {
        if let (Some(finish), true) = (self.dialect.finish_batch, last > head) {
            let names = super::checkpoints::keys(&self.app);
            return self
                .log
                .finish(self.session.conn.as_mut(), finish, &names, last);
        }
        self.log.flush(self.session.conn.as_mut())?;
        if let (Some(notify), true) = (self.dialect.notify_commit, last > head) {
            self.exec(notify)?;
        }
        if last > head && !self.app.read_models().is_empty() {
            let app = std::sync::Arc::clone(&self.app);
            super::checkpoints::advance(&mut self.session.tx(), &app, last)?;
        }
        Ok(())
    }

    /// Runs one unit and settles the savepoint. Only errors of the writer's own
    /// statements (savepoints, redoing) are returned, and fail the batch; the unit's
    /// failure goes to its caller.
    fn run_one(
        &mut self,
        unit: Unit,
        next: &mut u64,
        done: &mut Vec<(Reply, CommandOutcome)>,
        savepoint: &mut Savepoint,
    ) -> Result<Continue, SqlError> {
        if let Some(statement) = savepoint.before_unit(!done.is_empty()) {
            self.session.conn.execute_batch(statement)?;
            self.log.start_segment();
        }
        self.log.start_unit();
        let before = *next;
        let Unit { work, meta, reply } = unit;
        let (result, footprint) = self.run_unit(work, &meta, next);
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(err) => {
                *next = before;
                self.metrics.commands_failed.inc();
                let _ = reply.send(Err(err));
                if !footprint.dirty {
                    self.log.unit_failed(false);
                    return Ok(Continue::Yes);
                }
                self.metrics.writer_rollbacks.inc();
                if !savepoint.set {
                    // Nothing before this unit to keep (else the savepoint would be set).
                    self.log.unit_failed(true);
                    self.session.end(false)?;
                    self.log.forget();
                    return Ok(Continue::Reopen);
                }
                self.session
                    .conn
                    .execute_batch("ROLLBACK TO SAVEPOINT gesta_unit")?;
                self.log.unit_failed(true);
                let kept = &done[done.len() - savepoint.metas.len()..];
                for (meta, (_, outcome)) in savepoint.metas.iter().zip(kept) {
                    self.redo(meta, outcome).map_err(|err| match err {
                        Error::Database(e) => e,
                        other => SqlError::new(
                            crate::sql::SqlErrorKind::Other,
                            format!("redoing a unit after a rollback failed: {other}"),
                        ),
                    })?;
                }
                savepoint.after_redo();
                return Ok(Continue::Yes);
            }
        };
        self.log.unit_succeeded();
        savepoint.after_success(meta, footprint.redoable);
        done.push((reply, outcome));
        Ok(Continue::Yes)
    }
    fn commit(
        &mut self,
        done: Vec<(Reply, CommandOutcome)>,
        started: Instant,
        size: usize,
        last: Position,
    ) {
        if let Err(err) = self.session.end(true) {
            return self.fail_all(done.into_iter().map(|(r, _)| r), &err);
        }
        self.log.committed(last);
        self.metrics.record_batch(size, started.elapsed());
        let events: usize = done
            .iter()
            .map(|(_, o)| if o.replayed { 0 } else { o.events.len() })
            .sum();
        self.metrics.events_appended.inc_by(events as u64);
        self.metrics.commands_committed.inc_by(done.len() as u64);
        self.committed.send_if_modified(|current| {
            let moved = last > *current;
            if moved {
                *current = last;
            }
            moved
        });
        if self.live.receiver_count() > 0 && events > 0 {
            let batch: Vec<_> = done
                .iter()
                .filter(|(_, o)| !o.replayed)
                .flat_map(|(_, o)| {
                    o.events
                        .iter()
                        .cloned()
                        .map(crate::event::SharedEvent::from)
                })
                .collect();
            let _ = self.live.send(std::sync::Arc::new(batch));
        }
        for (reply, outcome) in done {
            let _ = reply.send(Ok(outcome));
        }
    }

    pub(super) fn exec(&mut self, sql: &str) -> Result<(), SqlError> {
        self.session.conn.execute(sql, &[]).map(drop)
    }
}

impl Writer {
    /// Answers every caller with `err`; nothing of the batch committed.
    fn fail_all(&mut self, replies: impl Iterator<Item = Reply>, err: &SqlError) {
        tracing::error!(error = %err, "write transaction failed");
        self.log.forget();
        for reply in replies {
            let _ = reply.send(Err(Error::Database(err.clone())));
        }
    }
}
