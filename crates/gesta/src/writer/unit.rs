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

impl Writer {
    /// Runs `work`; panics and deadline overruns become errors.
    pub(super) fn run_unit(
        &mut self,
        work: Work,
        meta: &UnitMeta,
        next: &mut u64,
    ) -> Result<CommandOutcome, Error> {
        // A revert replays part of the log; it gets more time than a command.
        let deadline = match work {
            Work::Revert(_) => self.config.command_deadline.max(REVERT_DEADLINE),
            _ => self.config.command_deadline,
        };
        let started = Instant::now();
        self.session.conn.set_deadline(Some(started + deadline));
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.produce_and_append(work, meta, next)
        }));
        self.session.conn.set_deadline(None);
        let result = result.unwrap_or_else(|panic| {
            Err(Error::HandlerPanicked {
                command: meta.label().to_owned(),
                message: panic_message(&panic),
            })
        });
        match result {
            Err(Error::Database(e)) if e.kind == SqlErrorKind::Interrupted => {
                Err(Error::DeadlineExceeded(deadline))
            }
            Ok(_) if started.elapsed() > deadline => Err(Error::DeadlineExceeded(deadline)),
            other => other,
        }
    }

    fn produce_and_append(
        &mut self,
        work: Work,
        meta: &UnitMeta,
        next: &mut u64,
    ) -> Result<CommandOutcome, Error> {
        let mut w = WriteTx::new(&mut self.session, &mut self.log);
        w.set_principal(meta.context.principal.clone());
        if let Some(key) = &meta.context.idempotency_key {
            if let Some(outcome) =
                idempotency::lookup(&mut w.tx(), key, meta.label(), self.app.upcasters())?
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
                let event = crate::history::revert::prepare(
                    &mut w.tx(),
                    &self.app,
                    self.dialect,
                    &target,
                    head,
                )?;
                (vec![event], None)
            }
            Work::Erase(subject) => (
                vec![crate::event::personal::erase(&mut w.tx(), &subject)?],
                None,
            ),
        };
        let recorded = append::append(&mut w, &self.app, events, expected, meta, next)?;
        let outcome = CommandOutcome {
            command_id: meta.command_id,
            position: recorded.last().map(|e| e.position),
            events: recorded,
            replayed: false,
        };
        if let Some(key) = &meta.context.idempotency_key {
            idempotency::record(&mut w.tx(), key, meta.label(), &outcome)?;
        }
        Ok(outcome)
    }
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
