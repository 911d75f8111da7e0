//! Erasing a data subject: its key deleted, a `gesta.subject_erased` event recorded in
//! the same transaction, then what could still hold its data cleaned up (see
//! [`crate::event::personal`]).

use std::time::Duration;

use uuid::Uuid;

use super::Store;
use crate::command::CommandOutcome;
use crate::tx::Session;
use crate::writer::{Job, UnitMeta, Work};
use crate::{Context, Error};

/// The command name erasures are recorded under (in the event's metadata).
pub const ERASE_COMMAND: &str = "gesta.Erase";

/// What an erasure did.
#[derive(Debug, Clone)]
pub struct Erasure {
    /// The `gesta.subject_erased` event and its position.
    pub outcome: CommandOutcome,
    /// Whether the subject had a key (any personal data) before.
    pub key_found: bool,
    /// SQLite only: whether the write-ahead log was checkpointed and truncated to zero
    /// bytes, so no earlier page image holding the subject's data is left in it.
    /// `false` when readers kept it busy (it is truncated at the next checkpoint);
    /// `None` on the other backends.
    pub wal_truncated: Option<bool>,
}

/// How often a busy WAL checkpoint is tried again, and how long between tries.
const CHECKPOINT_TRIES: u32 = 40;
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(25);

impl Store {
    /// Erases `subject`: deletes its key and the snapshots that could hold its data,
    /// and records a `gesta.subject_erased` event on the stream named like the subject,
    /// all in one transaction; reducers run on that event (an application anonymizes
    /// what its read models kept). From then on the subject's personal fields read as
    /// `null` everywhere. Afterwards the history's materialized places are dropped and,
    /// on SQLite, the WAL is checkpointed and truncated (`secure_delete` is always on,
    /// so freed pages hold zeros). Erasing a subject twice, or one without personal
    /// data, records the event again with `key_found: false`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), gesta::Error> {
    /// use gesta::{App, AppendRequest, Context, ExpectedVersion, Store};
    /// use gesta::event::{NewEvent, StreamId};
    /// let store = Store::open("sqlite::memory:", App::new("crm").personal("Registered", "name")).await?;
    /// let event = NewEvent::new("customer-7", "Registered", &serde_json::json!({"name": "Ann"})).unwrap();
    /// let request = AppendRequest {
    ///     stream_id: StreamId::new("customer-7").unwrap(),
    ///     expected: ExpectedVersion::Any,
    ///     events: vec![event],
    /// };
    /// store.append(request, Context::default()).await?;
    /// let erased = store.erase("customer-7", Context::default()).await?;
    /// assert!(erased.key_found);
    /// let events = store.read_stream(&StreamId::new("customer-7").unwrap(), gesta::event::StreamVersion(1), 10).await?;
    /// assert_eq!(events[0].data_as::<serde_json::Value>().unwrap()["name"], serde_json::Value::Null);
    /// assert_eq!(events[1].event_type, "gesta.subject_erased");
    /// # Ok(()) }
    /// ```
    pub async fn erase(&self, subject: &str, ctx: Context) -> Result<Erasure, Error> {
        super::check_key(&ctx)?;
        let meta = UnitMeta {
            command: Some(ERASE_COMMAND.to_owned()),
            command_id: Uuid::now_v7(),
            context: ctx,
        };
        let outcome = self.submit(Work::Erase(subject.to_owned()), meta).await?;
        let key_found = outcome
            .events
            .first()
            .and_then(|e| e.data_as::<serde_json::Value>().ok())
            .and_then(|d| d["key_found"].as_bool())
            .unwrap_or(false);
        self.inner.places.clear();
        let wal_truncated = match self.inner.backend.dialect().name {
            "sqlite" => Some(self.truncate_wal().await?),
            _ => None,
        };
        Ok(Erasure {
            outcome,
            key_found,
            wal_truncated,
        })
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)` on the writer's connection, tried again while
    /// readers keep it from finishing.
    async fn truncate_wal(&self) -> Result<bool, Error> {
        let (reply, done) = tokio::sync::oneshot::channel();
        let job = Job::OnConnection(Box::new(move |session: &mut Session| {
            let mut result = Ok(false);
            for _ in 0..CHECKPOINT_TRIES {
                result = session
                    .tx()
                    .query(
                        "PRAGMA wal_checkpoint(TRUNCATE)",
                        &crate::sql::Params::new(),
                    )
                    .map_err(Error::from)
                    .and_then(|rows| {
                        let busy: i64 = rows.first().map_or(Ok(1), |r| r.get("busy"))?;
                        Ok(busy == 0)
                    });
                if !matches!(result, Ok(false)) {
                    break;
                }
                std::thread::sleep(CHECKPOINT_PAUSE);
            }
            let _ = reply.send(result);
        }));
        self.inner.jobs.send(job).await.map_err(|_| Error::Closed)?;
        done.await.map_err(|_| Error::Closed)?
    }
}
