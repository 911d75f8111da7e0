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
                Job::Read(read) => read(&mut self.session),
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
        if let Err(err) = self.begin() {
            return fail_all(units.into_iter().map(|u| u.reply), &err);
        }
        let started = Instant::now();
        let mut next = match crate::read::last_position(&mut self.session.tx()) {
            Ok(last) => last.0 + 1,
            Err(err) => {
                let _ = self.exec("ROLLBACK");
                return fail_all(units.into_iter().map(|u| u.reply), &err);
            }
        };
        let next_at_start = next;
        let mut done: Vec<(Reply, CommandOutcome)> = Vec::with_capacity(size);
        let mut units = units.into_iter();
        while let Some(unit) = units.next() {
            if let Err(err) = self.run_in_savepoint(unit, &mut next, &mut done) {
                let _ = self.exec("ROLLBACK");
                let pending = done
                    .into_iter()
                    .map(|(r, _)| r)
                    .chain(units.map(|u| u.reply));
                return fail_all(pending, &err);
            }
        }
        let first = Position(next_at_start);
        let last = Position(next - 1);
        if last >= first && !self.app.read_models().is_empty() {
            let app = std::sync::Arc::clone(&self.app);
            if let Err(err) = super::checkpoints::advance(&mut self.session.tx(), &app, last) {
                let _ = self.exec("ROLLBACK");
                return fail_all(done.into_iter().map(|(r, _)| r), &err);
            }
        }
        self.commit(done, started, size, last);
    }

    /// Runs one unit inside a savepoint. Only savepoint bookkeeping errors are returned;
    /// the unit's own failure goes to its caller.
    fn run_in_savepoint(
        &mut self,
        unit: Unit,
        next: &mut u64,
        done: &mut Vec<(Reply, CommandOutcome)>,
    ) -> Result<(), SqlError> {
        self.exec("SAVEPOINT gesta_unit")?;
        let before = *next;
        let Unit { work, meta, reply } = unit;
        match self.run_unit(work, &meta, next) {
            Ok(outcome) => {
                self.exec("RELEASE SAVEPOINT gesta_unit")?;
                done.push((reply, outcome));
            }
            Err(err) => {
                *next = before;
                self.exec("ROLLBACK TO SAVEPOINT gesta_unit")?;
                self.exec("RELEASE SAVEPOINT gesta_unit")?;
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
        if let Err(err) = self.exec("COMMIT") {
            let _ = self.exec("ROLLBACK");
            return fail_all(done.into_iter().map(|(r, _)| r), &err);
        }
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
        for (reply, outcome) in done {
            let _ = reply.send(Ok(outcome));
        }
    }

    /// Starts the write transaction and takes the write lock.
    pub(super) fn begin(&mut self) -> Result<(), SqlError> {
        for (i, sql) in self.dialect.begin.iter().enumerate() {
            if let Err(err) = self.exec(sql) {
                if i > 0 {
                    let _ = self.exec("ROLLBACK");
                }
                return Err(err);
            }
        }
        Ok(())
    }

    pub(super) fn exec(&mut self, sql: &str) -> Result<(), SqlError> {
        self.session.conn.execute(sql, &[]).map(drop)
    }
}

fn fail_all(replies: impl Iterator<Item = Reply>, err: &SqlError) {
    tracing::error!(error = %err, "write transaction failed");
    for reply in replies {
        let _ = reply.send(Err(Error::Database(err.clone())));
    }
}
