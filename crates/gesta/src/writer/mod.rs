//! The single writer: one thread per store that runs every write in turn.
//!
//! It takes every job that is waiting (up to a bound), runs the units of work one
//! after another inside one transaction, and commits once (group commit). A failing
//! unit leaves nothing behind and fails alone: units have no savepoint of their own;
//! a failure after writes rolls back to the batch's one savepoint and redoes the
//! units since (batch.rs, docs/adr/013). See DESIGN.md section 1.

mod append;
mod batch;
pub(crate) mod checkpoints;
mod idempotency;
mod import;
mod log_buffer;
mod migrate;
mod rebuild;

pub(crate) use idempotency::MAX_KEY_LEN;
pub use import::{ImportBatch, StoredKey};
mod unit;
mod write_tx;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::app::{App, ErasedHandler};
use crate::backend::{Backend, Role};
use crate::command::CommandOutcome;
use crate::event::{NewEvent, Position};
use crate::metrics::StoreMetrics;
use crate::tx::Session;
use crate::{Error, ExpectedVersion};

pub(crate) use append::reduce_one;
pub(crate) use log_buffer::LogBuffer;
pub(crate) use unit::UnitMeta;

/// What a unit of work produces its events from.
pub(crate) enum Work {
    /// A command: run its handler.
    Command {
        handler: Arc<dyn ErasedHandler>,
        payload: Box<dyn std::any::Any + Send>,
    },
    /// A direct append: the events are given; `expected` applies to the first one.
    Append {
        events: Vec<NewEvent>,
        expected: ExpectedVersion,
    },
    /// A revert: checked, the live read models rewound, one `gesta.reverted` event.
    Revert(crate::history::RevertTarget),
    /// An erasure: the subject's key deleted, one `gesta.subject_erased` event.
    Erase(String),
}

/// One command or append, with the channel its caller waits on.
pub(crate) struct Unit {
    pub(crate) work: Work,
    pub(crate) meta: UnitMeta,
    pub(crate) reply: oneshot::Sender<Result<CommandOutcome, Error>>,
}

/// Work run on the writer's connection between batches: reads where the backend has
/// no separate readers, and the small transactions of `Store::write_aside`.
pub(crate) type ConnectionJob = Box<dyn FnOnce(&mut Session) + Send>;

/// Everything the writer thread can be asked to do.
pub(crate) enum Job {
    Unit(Unit),
    OnConnection(ConnectionJob),
    Rebuild(oneshot::Sender<Result<u64, Error>>),
    Import(ImportBatch, oneshot::Sender<Result<u64, Error>>),
}

/// Limits the writer works within.
#[derive(Debug, Clone)]
pub(crate) struct WriterConfig {
    pub(crate) max_batch: usize,
    pub(crate) command_deadline: Duration,
}

/// Opens the writer connection, migrates, and starts the writer thread.
pub(crate) fn spawn(
    backend: Arc<dyn Backend>,
    app: Arc<App>,
    config: WriterConfig,
    metrics: Arc<StoreMetrics>,
    jobs: mpsc::Receiver<Job>,
) -> Result<(Commits, Vec<String>), Error> {
    let dialect = backend.dialect();
    let conn = backend.connect(Role::Writer)?;
    let mut session = Session::new(conn, dialect.placeholder);
    migrate::run(&mut session, dialect, &app)?;
    let last = crate::read::last_position(&mut session.tx())?;
    let (committed, watcher) = watch::channel(last);
    let (live, _) = broadcast::channel(LIVE_BATCHES);
    let (elsewhere, heard) = watch::channel(0);
    let pushed = backend.watch_commits(elsewhere);
    let commits = Commits {
        position: watcher,
        live: live.clone(),
        elsewhere: pushed.then_some(heard),
    };
    let mut writer = batch::Writer {
        session,
        app,
        dialect,
        config,
        metrics,
        committed,
        live,
        log: LogBuffer::new(dialect),
    };
    let pending = writer.open_read_models()?;
    writer.catch_up()?;
    std::thread::Builder::new()
        .name("gesta-writer".to_owned())
        .spawn(move || writer.run(jobs))
        .map_err(|e| Error::internal(format!("cannot start the writer thread: {e}")))?;
    Ok((commits, pending))
}

/// Committed batches kept for subscribers that are a little behind; one further behind
/// reads the log instead.
const LIVE_BATCHES: usize = 1024;

/// The events of one committed batch, in position order, for subscribers.
pub(crate) type LiveBatch = Arc<Vec<crate::event::SharedEvent>>;

/// What the writer tells the rest of the process about commits.
#[derive(Clone)]
pub(crate) struct Commits {
    /// The last committed position.
    pub(crate) position: watch::Receiver<Position>,
    /// Every committed batch's events, so subscriptions need not read them back.
    pub(crate) live: broadcast::Sender<LiveBatch>,
    /// Bumped when any process commits, where the database pushes that (PostgreSQL).
    pub(crate) elsewhere: Option<watch::Receiver<u64>>,
}

impl Commits {
    /// The last position this process committed.
    pub(crate) fn borrow(&self) -> watch::Ref<'_, Position> {
        self.position.borrow()
    }
}
