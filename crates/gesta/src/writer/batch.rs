//! The writer loop: gather a batch, one transaction, a savepoint per unit, one commit.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};

use super::{Job, Unit, WriterConfig};
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

    /// Runs `units` in one transaction and replies to each caller.
    fn run_batch(&mut self, units: Vec<Unit>) {
        let size = units.len();
        if let Err(err) = self.session.begin(self.dialect.begin) {
            return self.fail_all(units.into_iter().map(|u| u.reply), &err);
        }
        let started = Instant::now();
        let head = match crate::read::last_position(&mut self.session.tx()) {
            Ok(head) => head,
            Err(err) => {
                let _ = self.session.end(false);
                return self.fail_all(units.into_iter().map(|u| u.reply), &err);
            }
        };
        self.log.start_batch(head);
        let mut next = head.0 + 1;
        let mut done: Vec<(Reply, CommandOutcome)> = Vec::with_capacity(size);
        let mut open = false;
        let mut units = units.into_iter();
        while let Some(unit) = units.next() {
            if let Err(err) = self.run_in_savepoint(unit, &mut next, &mut done, &mut open) {
                let _ = self.session.end(false);
                let pending = done
                    .into_iter()
                    .map(|(r, _)| r)
                    .chain(units.map(|u| u.reply));
                return self.fail_all(pending, &err);
            }
        }
        let last = Position(next - 1);
        if let Err(err) = self.finish_batch(head, last) {
            let _ = self.session.end(false);
            return self.fail_all(done.into_iter().map(|(r, _)| r), &err);
        }
        self.commit(done, started, size, last);
    }

    /// Writes the buffered log rows and advances the read models' checkpoints.
    fn finish_batch(&mut self, head: Position, last: Position) -> Result<(), SqlError> {
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

    /// Runs one unit inside a savepoint. Only savepoint bookkeeping errors are returned;
    /// the unit's own failure goes to its caller. A successful unit's savepoint is
    /// released together with the next one's start (`open`), one round trip fewer.
    fn run_in_savepoint(
        &mut self,
        unit: Unit,
        next: &mut u64,
        done: &mut Vec<(Reply, CommandOutcome)>,
        open: &mut bool,
    ) -> Result<(), SqlError> {
        let start = if *open {
            "RELEASE SAVEPOINT gesta_unit; SAVEPOINT gesta_unit"
        } else {
            "SAVEPOINT gesta_unit"
        };
        self.session.conn.execute_batch(start)?;
        self.log.start_unit();
        let before = *next;
        let Unit { work, meta, reply } = unit;
        match self.run_unit(work, &meta, next) {
            Ok(outcome) => {
                self.log.unit_succeeded();
                *open = true;
                done.push((reply, outcome));
            }
            Err(err) => {
                *next = before;
                self.log.unit_failed();
                self.session.conn.execute_batch(
                    "ROLLBACK TO SAVEPOINT gesta_unit; RELEASE SAVEPOINT gesta_unit",
                )?;
                *open = false;
                self.metrics.commands_failed.inc();
                let _ = reply.send(Err(err));
            }
        }
        Ok(())
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
