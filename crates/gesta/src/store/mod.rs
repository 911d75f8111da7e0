//! The store handle: dispatch commands, append, read the log, query read models.

mod aside;
mod erase;
mod history;
mod keys;
mod options;
mod readers;
mod stats;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

pub use erase::{ERASE_COMMAND, Erasure};
pub use history::{AsOfView, CommandEvents, REVERT_COMMAND};
pub use keys::{ApiKey, MAX_KEY_NAME};
pub use options::StoreOptions;
pub use stats::{Health, Stats, TypeCount};

use crate::app::App;
use crate::backend::{self, Backend};
use crate::command::{Command, CommandOutcome, CommandRequest};
use crate::event::{NewEvent, Position, RecordedEvent, StreamId, StreamVersion};
use crate::follower::Lifetime;
use crate::metrics::StoreMetrics;
use crate::middleware::{BoxFuture, Middleware, Next, TraceCommands};
use crate::projection::{self, Projection};
use crate::reactor::{Reactor, Registry};
use crate::read::LogQuery;
use crate::sql::{Params, Row};
use crate::tx::Session;
use crate::writer::{self, ImportBatch, Job, StoredKey, Unit, UnitMeta, Work, WriterConfig};
use crate::{Context, Error, ExpectedVersion};
use readers::Readers;

/// What [`Store::check_events`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsCheck {
    /// Events read.
    pub events: u64,
    /// Of those, events written in an older version of their type.
    pub upcast: u64,
    /// Events an upcaster failed on.
    pub failed: u64,
    /// The first of them.
    pub failures: Vec<crate::event::upcast::UpcastError>,
}

/// The longest page a read returns.
pub const MAX_PAGE: usize = 10_000;

/// A direct append to one stream (imports and integration); reducers run as for commands.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// The stream.
    pub stream_id: StreamId,
    /// What the stream's version must be before the append.
    pub expected: ExpectedVersion,
    /// The events, in order (at least one); their `stream_id` must be `stream_id`.
    pub events: Vec<NewEvent>,
}

struct Inner {
    app: Arc<App>,
    backend: Arc<dyn Backend>,
    jobs: mpsc::Sender<Job>,
    middleware: Vec<Arc<dyn Middleware>>,
    readers: Arc<Readers>,
    options: StoreOptions,
    metrics: Arc<StoreMetrics>,
    committed: writer::Commits,
    reactors: Arc<Registry>,
    projections: Arc<projection::Registry>,
    /// Materialized places kept for reuse (history).
    places: Arc<crate::history::cache::Places>,
    /// The snapshot task and background rebuilds.
    history_tasks: Arc<crate::follower::Tasks>,
    /// Background rebuilds of inline read models started by this process.
    rebuilds: crate::history::rebuild::Rebuilds,
}

/// A handle to an open store; cheap to clone. The reactors and the writer stop when the
/// last clone is dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), gesta::Error> {
/// use gesta::{App, Store};
/// let store = Store::open("sqlite::memory:", App::new("demo")).await?;
/// assert_eq!(store.last_position(), gesta::event::Position(0));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// `None` in the reactors' and projections' own handles, which must not keep the
    /// store open.
    _lifetime: Option<Arc<Lifetime>>,
}

/// Configures a store before opening it.
pub struct StoreBuilder {
    app: App,
    url: String,
    options: StoreOptions,
    middleware: Vec<Arc<dyn Middleware>>,
    reactors: Vec<Reactor>,
    projections: Vec<Projection>,
}

impl StoreBuilder {
    /// The database URL (default `sqlite::memory:`).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Limits and sizes.
    pub fn options(mut self, options: StoreOptions) -> Self {
        self.options = options;
        self
    }

    /// Adds a middleware; the first added runs first (outermost).
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Adds a reactor (a side effect run after commit); it starts when the store opens.
    pub fn reactor(mut self, reactor: Reactor) -> Self {
        self.reactors.push(reactor);
        self
    }

    /// Adds an async projection (a read model following the log after commit); it
    /// starts when the store opens.
    pub fn projection(mut self, projection: Projection) -> Self {
        self.projections.push(projection);
        self
    }

    /// Opens the database, migrates, and starts the writer and the reactors.
    pub async fn open(self) -> Result<Store, Error> {
        let reactors = Arc::new(crate::reactor::registry(self.reactors)?);
        let projections = Arc::new(projection::registry(self.projections)?);
        let backend = backend::open(&self.url)?;
        let app = Arc::new(self.app);
        let metrics = Arc::new(StoreMetrics::default());
        let (jobs, receiver) = mpsc::channel(self.options.queue_capacity);
        let config = WriterConfig {
            max_batch: self.options.max_batch,
            command_deadline: self.options.command_deadline,
        };
        let (spawn_backend, spawn_app, spawn_metrics) =
            (Arc::clone(&backend), Arc::clone(&app), Arc::clone(&metrics));
        let (committed, pending_rebuilds) = tokio::task::spawn_blocking(move || {
            writer::spawn(spawn_backend, spawn_app, config, spawn_metrics, receiver)
        })
        .await
        .map_err(|e| Error::internal(format!("opening the writer failed: {e}")))??;
        let durability = backend.durability();
        if !durability.durable {
            tracing::warn!(detail = %durability.detail, "store is NOT durable");
        }
        tracing::info!(db = %backend.describe(), app = app.name(), "store open");
        let readers = Arc::new(Readers::new(
            Arc::clone(&backend),
            self.options.max_readers,
            self.options.max_idle_readers,
        ));
        let mut middleware = self.middleware;
        middleware.push(Arc::new(TraceCommands));
        let history_tasks = crate::follower::Tasks::new("history");
        let store = Store {
            _lifetime: Some(Arc::new(Lifetime::new(vec![
                Arc::clone(&reactors.tasks),
                Arc::clone(&projections.tasks),
                Arc::clone(&history_tasks),
            ]))),
            inner: Arc::new(Inner {
                app,
                backend,
                jobs,
                middleware,
                readers,
                options: self.options,
                metrics,
                committed,
                reactors,
                projections,
                places: Arc::default(),
                rebuilds: Default::default(),
                history_tasks,
            }),
        };
        store.inner.reactors.start(&store.detached());
        store.inner.projections.start(&store.detached());
        store.start_snapshots();
        for name in pending_rebuilds {
            tracing::info!(read_model = %name, "read model new or of a new version: rebuilding it in the background");
            store.start_rebuild(name);
        }
        Ok(store)
    }
}

impl Store {
    /// Starts configuring a store for `app`.
    pub fn builder(app: App) -> StoreBuilder {
        StoreBuilder {
            app,
            url: "sqlite::memory:".to_owned(),
            options: StoreOptions::default(),
            middleware: Vec::new(),
            reactors: Vec::new(),
            projections: Vec::new(),
        }
    }

    /// Opens a store for `app` at `url` with default options.
    pub async fn open(url: &str, app: App) -> Result<Store, Error> {
        Store::builder(app).url(url).open().await
    }

    /// The application.
    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// A handle for the store's own tasks: it does not keep the store open.
    pub(crate) fn detached(&self) -> Store {
        Store {
            inner: Arc::clone(&self.inner),
            _lifetime: None,
        }
    }

    pub(crate) fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    pub(crate) fn reactor_registry(&self) -> &Registry {
        &self.inner.reactors
    }

    pub(crate) fn projection_registry(&self) -> &projection::Registry {
        &self.inner.projections
    }

    pub(crate) fn poll_interval(&self) -> std::time::Duration {
        self.inner.options.poll_interval
    }

    /// The store's metrics.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.inner.metrics
    }

    /// The position of the last committed event.
    pub fn last_position(&self) -> Position {
        *self.inner.committed.borrow()
    }

    /// A receiver that changes whenever a batch commits.
    pub fn watch_position(&self) -> watch::Receiver<Position> {
        self.inner.committed.position.clone()
    }

    /// Runs a typed command through the middleware chain and the writer.
    pub async fn dispatch<C: Command>(&self, command: C) -> Result<CommandOutcome, Error> {
        self.dispatch_with(command, Context::default()).await
    }

    /// Runs a typed command with caller context (idempotency key, correlation id).
    pub async fn dispatch_with<C: Command>(
        &self,
        command: C,
        ctx: Context,
    ) -> Result<CommandOutcome, Error> {
        let request = request_from(C::NAME, Box::new(command), ctx)?;
        self.dispatch_request(request).await
    }

    /// Decodes `json` as command `name` and runs it; unknown names and invalid input are
    /// refused before anything is queued.
    pub async fn dispatch_json(
        &self,
        name: &str,
        json: &[u8],
        ctx: Context,
    ) -> Result<CommandOutcome, Error> {
        let handler = self
            .inner
            .app
            .handler(name)
            .ok_or_else(|| Error::UnknownCommand(name.to_owned()))?;
        let payload = handler.decode(json)?;
        self.dispatch_request(request_from(name, payload, ctx)?)
            .await
    }

    /// Runs an already decoded request through the middleware chain and the writer.
    pub async fn dispatch_request(&self, request: CommandRequest) -> Result<CommandOutcome, Error> {
        let terminal = |request: CommandRequest| -> BoxFuture<'_, Result<CommandOutcome, Error>> {
            Box::pin(self.submit_command(request))
        };
        Next::new(&self.inner.middleware, &terminal)
            .run(request)
            .await
    }

    async fn submit_command(&self, request: CommandRequest) -> Result<CommandOutcome, Error> {
        let handler = self
            .inner
            .app
            .handler(&request.name)
            .ok_or_else(|| Error::UnknownCommand(request.name.clone()))?;
        let meta = UnitMeta {
            command: Some(request.name),
            command_id: request.command_id,
            context: request.context,
        };
        let work = Work::Command {
            handler: Arc::clone(handler),
            payload: request.payload,
        };
        self.submit(work, meta).await
    }

    /// Appends events to one stream, checking `expected` first; reducers run as for
    /// commands. Appends do not pass through the middleware (see [`Context`] for why);
    /// `ctx` is recorded on their events as a command's is.
    pub async fn append(
        &self,
        request: AppendRequest,
        ctx: Context,
    ) -> Result<CommandOutcome, Error> {
        if request.events.is_empty() {
            return Err(Error::invalid("events", "at least one event is required"));
        }
        if let Some(i) = request
            .events
            .iter()
            .position(|e| e.stream_id != request.stream_id)
        {
            return Err(Error::invalid(
                format!("events[{i}]"),
                "event targets another stream",
            ));
        }
        check_key(&ctx)?;
        let meta = UnitMeta {
            command: None,
            command_id: Uuid::now_v7(),
            context: ctx,
        };
        let work = Work::Append {
            events: request.events,
            expected: request.expected,
        };
        self.submit(work, meta).await
    }

    async fn submit(&self, work: Work, meta: UnitMeta) -> Result<CommandOutcome, Error> {
        let (reply, outcome) = oneshot::channel();
        self.enqueue(Job::Unit(Unit { work, meta, reply })).await?;
        outcome.await.map_err(|_| Error::Closed)?
    }

    /// Queues a job; waits at most `queue_wait` for room, then reports overload.
    async fn enqueue(&self, job: Job) -> Result<(), Error> {
        let jobs = &self.inner.jobs;
        match jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::Closed),
            Err(mpsc::error::TrySendError::Full(job)) => {
                match tokio::time::timeout(self.inner.options.queue_wait, jobs.send(job)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(_)) => Err(Error::Closed),
                    Err(_) => Err(Error::Overloaded),
                }
            }
        }
    }

    /// Reads `stream` from `from_version` (1 = the start), at most `limit` events.
    /// [`Error::StreamNotFound`] if the stream has no events.
    pub async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        let stream = stream.clone();
        let limit = limit.min(MAX_PAGE);
        let upcasters = Arc::clone(self.inner.app.upcasters());
        self.read(move |tx| {
            if crate::read::stream_version(tx, &stream)?.0 == 0 {
                return Err(Error::StreamNotFound(stream));
            }
            let mut events = crate::read::read_stream(tx, &stream, from_version, limit)?;
            crate::read::open_all(tx, &upcasters, &mut events)?;
            Ok(events)
        })
        .await
    }

    /// Reads the global log in position order, each event in its type's current shape
    /// (see [`crate::event::upcast`]).
    pub async fn read_all(&self, query: LogQuery) -> Result<Vec<RecordedEvent>, Error> {
        let mut events = self.read_decrypted(query).await?;
        crate::read::upcast_all(self.inner.app.upcasters(), &mut events)?;
        Ok(events)
    }

    /// Reads the global log with personal fields decrypted, not upcast.
    async fn read_decrypted(&self, query: LogQuery) -> Result<Vec<RecordedEvent>, Error> {
        let mut query = query;
        query.limit = query.limit.min(MAX_PAGE);
        self.read(move |tx| {
            let mut events = crate::read::read_log(tx, &query)?;
            crate::event::personal::open_all(tx, &mut events)?;
            Ok(events)
        })
        .await
    }

    /// Reads the global log in position order, each event exactly as stored (no
    /// upcasting, personal fields sealed): what [`crate::copy`] copies.
    pub async fn read_stored(&self, query: LogQuery) -> Result<Vec<RecordedEvent>, Error> {
        let mut query = query;
        query.limit = query.limit.min(MAX_PAGE);
        self.read(move |tx| Ok(crate::read::read_log(tx, &query)?))
            .await
    }

    /// Reads every event through the app's upcasters and reports those that fail
    /// (at most `max_failures`, in position order): what to run before deploying a
    /// version with new upcasters (`gesta events check`).
    pub async fn check_events(&self, max_failures: usize) -> Result<EventsCheck, Error> {
        let upcasters = Arc::clone(self.inner.app.upcasters());
        let mut check = EventsCheck::default();
        let mut after = Position(0);
        loop {
            let page = self
                .read_decrypted(LogQuery::after(after).limit(MAX_PAGE))
                .await?;
            let Some(last) = page.last().map(|e| e.position) else {
                return Ok(check);
            };
            for mut event in page {
                check.events += 1;
                let written = crate::event::upcast::written_version(&event.metadata);
                if written < upcasters.current_version(&event.event_type) {
                    check.upcast += 1;
                }
                if let Err(err) = upcasters.upcast(&mut event) {
                    check.failed += 1;
                    if check.failures.len() < max_failures {
                        check.failures.push(err);
                    }
                }
            }
            after = last;
        }
    }

    /// Calls `each` for every event after `after`, in order, page by page; returns how
    /// many were read. For replays and exports.
    pub async fn scan<F>(&self, after: Position, each: F) -> Result<u64, Error>
    where
        F: FnMut(&RecordedEvent) + Send + 'static,
    {
        let each = Arc::new(std::sync::Mutex::new(each));
        let (mut after, mut count) = (after, 0_u64);
        loop {
            let each = Arc::clone(&each);
            let upcasters = Arc::clone(self.inner.app.upcasters());
            let query = LogQuery::after(after).limit(MAX_PAGE);
            let (last, read) = self
                .read(move |tx| {
                    let mut each = each.lock().map_err(|_| Error::Closed)?;
                    let mut page = Vec::with_capacity(MAX_PAGE);
                    crate::read::scan_log(tx, &query, &mut |event| page.push(event))?;
                    crate::read::open_all(tx, &upcasters, &mut page)?;
                    let last = page.last().map(|e| e.position);
                    page.iter().for_each(&mut *each);
                    Ok((last, page.len() as u64))
                })
                .await?;
            count += read;
            match last {
                Some(last) if read == MAX_PAGE as u64 => after = last,
                _ => return Ok(count),
            }
        }
    }

    /// The position of the last committed event, read from the database (so it includes
    /// commits of other processes, unlike [`Store::last_position`]).
    pub async fn head(&self) -> Result<Position, Error> {
        self.read(|tx| Ok(crate::read::last_position(tx)?)).await
    }

    /// Follows the log: every event matching `filter` (its `after` and `limit` are
    /// ignored) after `start`, then live ones as they commit.
    pub async fn subscribe(
        &self,
        start: crate::subscription::Start,
        filter: LogQuery,
    ) -> Result<crate::subscription::Subscription, Error> {
        let poll = self.inner.options.poll_interval;
        let live = self.inner.committed.live.subscribe();
        let elsewhere = self.inner.committed.elsewhere.clone();
        crate::subscription::Subscription::new(self.clone(), start, filter, poll, live, elsewhere)
            .await
    }

    /// Runs a read-only query against the read model (or Gesta's tables).
    pub async fn query(&self, sql: &str, params: Params) -> Result<Vec<Row>, Error> {
        let sql = sql.to_owned();
        self.read(move |tx| Ok(tx.query(&sql, &params)?)).await
    }

    /// Runs `work` in a write transaction on the writer (serialized with commands and,
    /// through the dialect's write lock, with writers in other processes).
    pub(crate) async fn on_writer<T, F>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut crate::Tx<'_>) -> Result<T, Error> + Send + 'static,
    {
        let begin = self.inner.backend.dialect().begin;
        let (reply, result) = tokio::sync::oneshot::channel();
        let job = Job::OnConnection(Box::new(move |session: &mut Session| {
            let _ = reply.send(session.transaction(begin, work));
        }));
        self.inner.jobs.send(job).await.map_err(|_| Error::Closed)?;
        result.await.map_err(|_| Error::Closed)?
    }

    /// Runs `read` in a read transaction on a reader connection.
    pub async fn read<T, F>(&self, read: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut crate::Tx<'_>) -> Result<T, Error> + Send + 'static,
    {
        self.inner.readers.run(&self.inner.jobs, read).await
    }

    /// Empties every read model and replays the whole log into it, in one transaction,
    /// serialized with commands. Returns the number of events replayed.
    pub async fn rebuild_read_models(&self) -> Result<u64, Error> {
        let (reply, result) = oneshot::channel();
        self.inner
            .jobs
            .send(Job::Rebuild(reply))
            .await
            .map_err(|_| Error::Closed)?;
        result.await.map_err(|_| Error::Closed)?
    }

    /// Imports events exactly as recorded elsewhere (positions, ids, versions, times)
    /// and idempotency keys, in one transaction; no handlers or reducers run. The first
    /// event must directly follow this store's last position. Used by [`crate::copy`].
    pub async fn import(&self, batch: ImportBatch) -> Result<u64, Error> {
        let (reply, result) = oneshot::channel();
        self.enqueue(Job::Import(batch, reply)).await?;
        result.await.map_err(|_| Error::Closed)?
    }

    /// Stored idempotency keys in key order, after `after`, at most `limit`.
    pub async fn read_keys(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<StoredKey>, Error> {
        let limit = limit.min(MAX_PAGE) as u64;
        self.read(move |tx| {
            let rows = tx.query(
                "SELECT idempotency_key, outcome, recorded_at FROM commands \
                 WHERE idempotency_key > :after ORDER BY idempotency_key LIMIT :limit",
                &crate::params! { "after" => after.unwrap_or_default(), "limit" => limit },
            )?;
            rows.iter()
                .map(|r| {
                    Ok(StoredKey {
                        key: r.get("idempotency_key")?,
                        outcome: r.get("outcome")?,
                        recorded_at: r.get("recorded_at")?,
                    })
                })
                .collect()
        })
        .await
    }

    /// The data subjects' keys whose first sealed event is after `after` and at or
    /// before `up_to`: what `gesta copy` carries along with those events.
    pub async fn subject_keys_between(
        &self,
        after: Position,
        up_to: Position,
    ) -> Result<Vec<crate::event::personal::SubjectKey>, Error> {
        self.read(move |tx| crate::event::personal::keys_between(tx, after.0, up_to.0))
            .await
    }

    /// Counts of events and streams, positions, and events per type.
    pub async fn stats(&self) -> Result<Stats, Error> {
        let backend = self.inner.backend.dialect().name;
        self.read(move |tx| stats::collect(tx, backend)).await
    }

    /// Durability, last position and writer queue depth, for `/healthz`.
    pub fn health(&self) -> Health {
        Health {
            backend: self.inner.backend.dialect().name,
            durability: self.inner.backend.durability(),
            last_position: self.last_position(),
            queue_depth: self.inner.options.queue_capacity - self.inner.jobs.capacity(),
            queue_capacity: self.inner.options.queue_capacity,
        }
    }
}

fn request_from(
    name: &str,
    payload: Box<dyn std::any::Any + Send>,
    ctx: Context,
) -> Result<CommandRequest, Error> {
    check_key(&ctx)?;
    Ok(CommandRequest::with_context(name, payload, ctx))
}

fn check_key(ctx: &Context) -> Result<(), Error> {
    match &ctx.idempotency_key {
        Some(key) if key.is_empty() || key.len() > writer::MAX_KEY_LEN => Err(Error::invalid(
            "Idempotency-Key",
            format!("must be 1 to {} bytes", writer::MAX_KEY_LEN),
        )),
        _ => Ok(()),
    }
}
