//! Running one unit of work (a command or an append) inside its savepoint.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use uuid::Uuid;

use super::batch::Writer;
use super::write_tx::WriteTx;
use super::{Work, append, idempotency};
use crate::command::{CommandOutcome, HandlerError};
use crate::sql::SqlErrorKind;
use crate::{Context, Error};

/// The least time a revert may take (it replays the log after a snapshot).
const REVERT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Who asked for a unit of work: the command (if any) and the caller's [`Context`].
#[derive(Debug, Clone)]
pub(crate) struct UnitMeta {
    /// The command's name; `None` for direct appends.
    pub(crate) command: Option<String>,
    pub(crate) command_id: Uuid,
    pub(crate) context: Context,
}

impl UnitMeta {
    /// The name idempotency keys are scoped to.
    pub(crate) fn label(&self) -> &str {
        self.command.as_deref().unwrap_or("(append)")
    }

    /// The metadata JSON object stored with each event.
    pub(crate) fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.context
            .event_metadata(self.command.as_deref(), self.command_id)
    }
}

/// What a unit's run left in the open transaction, for the writer's savepoint
/// bookkeeping (batch.rs, ADR 013).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Footprint {
    /// It may have changed the transaction: if it failed, something must be rolled back.
    pub(super) dirty: bool,
    /// Every write it made can be redone from its outcome (reducers on its events, the
    /// idempotency record), so a later rollback may take it back and redo it.
    pub(super) redoable: bool,
}

impl Writer {
    /// Runs `work`; panics and deadline overruns become errors.
    pub(super) fn run_unit(
        &mut self,
        work: Work,
        meta: &UnitMeta,
        next: &mut u64,
    ) -> (Result<CommandOutcome, Error>, Footprint) {
        // A revert replays part of the log; it gets more time than a command.
        let deadline = match work {
            Work::Revert(_) => self.config.command_deadline.max(REVERT_DEADLINE),
            _ => self.config.command_deadline,
        };
        let started = Instant::now();
        self.session.conn.set_deadline(Some(started + deadline));
        // A panic may leave anything behind: it counts as dirty.
        let mut footprint = Footprint {
            dirty: true,
            redoable: false,
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.produce_and_append(work, meta, next, &mut footprint)
        }));
        self.session.conn.set_deadline(None);
        let result = result.unwrap_or_else(|panic| {
            Err(Error::HandlerPanicked {
                command: meta.label().to_owned(),
                message: panic_message(&panic),
            })
        });
        let result = match result {
            Err(Error::Database(e)) if e.kind == SqlErrorKind::Interrupted => {
                Err(Error::DeadlineExceeded(deadline))
            }
            Ok(_) if started.elapsed() > deadline => Err(Error::DeadlineExceeded(deadline)),
            other => other,
        };
        (result, footprint)
    }

    fn produce_and_append(
        &mut self,
        work: Work,
        meta: &UnitMeta,
        next: &mut u64,
        footprint: &mut Footprint,
    ) -> Result<CommandOutcome, Error> {
        // Reverts and erasures write what their outcome cannot redo.
        let repeatable = matches!(work, Work::Command { .. } | Work::Append { .. });
        let mut w = WriteTx::new(&mut self.session, &mut self.log);
        let result = app_work(&self.app, self.dialect, &mut w, work, meta, next);
        *footprint = Footprint {
            dirty: w.trace().dirty(),
            redoable: repeatable && w.only_redoable_writes(),
        };
        drop(w);
        footprint.dirty |= self.log.unit_wrote();
        result
    }

    /// Redoes what a unit that succeeded earlier in the batch wrote, after a rollback
    /// to the writer's savepoint took it back: its reducers on its events (already in
    /// the log buffer) and its idempotency record. Reducers are deterministic, so the
    /// read models end as they were, and the unit's handler saw exactly that state.
    pub(super) fn redo(&mut self, meta: &UnitMeta, outcome: &CommandOutcome) -> Result<(), Error> {
        if outcome.replayed {
            return Ok(());
        }
        let mut w = WriteTx::new(&mut self.session, &mut self.log);
        w.set_principal(meta.context.principal.clone());
        for event in &outcome.events {
            append::reduce(&mut w.tx(), &self.app, event)?;
        }
        if let Some(key) = &meta.context.idempotency_key {
            idempotency::record(&mut w.tx(), key, meta.label(), outcome)?;
        }
        Ok(())
    }
}

/// The unit's own work: the idempotency look-up, the handler (or the given events),
/// the append with its reducers, the idempotency record.
fn app_work(
    app: &crate::App,
    dialect: &'static crate::backend::Dialect,
    w: &mut WriteTx<'_>,
    work: Work,
    meta: &UnitMeta,
    next: &mut u64,
) -> Result<CommandOutcome, Error> {
    w.set_principal(meta.context.principal.clone());
    if let Some(key) = &meta.context.idempotency_key {
        if let Some(outcome) = idempotency::lookup(&mut w.tx(), key, meta.label(), app.upcasters())?
        {
            return Ok(outcome);
        }
    }
    let (events, expected) = match work {
        Work::Command { handler, payload } => (
            handler
                .run(&mut w.tx(), payload)
                .map_err(|e| handler_error(meta.label(), e))?,
            None,
        ),
        Work::Append { events, expected } => (events, Some(expected)),
        Work::Revert(target) => {
            let head = crate::event::Position(*next - 1);
            let event = crate::history::revert::prepare(&mut w.tx(), app, dialect, &target, head)?;
            (vec![event], None)
        }
        Work::Erase(subject) => (
            vec![crate::event::personal::erase(&mut w.tx(), &subject)?],
            None,
        ),
    };
    let recorded = append::append(w, app, events, expected, meta, next)?;
    let outcome = CommandOutcome {
        command_id: meta.command_id,
        position: recorded.last().map(|e| e.position),
        events: recorded,
        replayed: false,
    };
    if let Some(key) = &meta.context.idempotency_key {
        w.redoable(|w| idempotency::record(&mut w.tx(), key, meta.label(), &outcome))?;
    }
    Ok(outcome)
}

fn handler_error(command: &str, err: HandlerError) -> Error {
    match err {
        HandlerError::Rejected(rejection) => Error::Rejected(rejection),
        HandlerError::Sql(sql) => Error::Database(sql),
        HandlerError::Event(e) => Error::InvalidInput {
            field: None,
            message: e.to_string(),
        },
        HandlerError::Failed(message) => Error::HandlerFailed {
            command: command.to_owned(),
            message,
        },
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
