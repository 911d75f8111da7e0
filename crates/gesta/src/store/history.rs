//! The store's history methods: as-of queries, diffs, snapshots, reverts (see
//! `src/history/` and ADR 007).

use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{Store, check_key};
use crate::app::App;
use crate::backend::Backend;
use crate::checkpoint::{self, Kind};
use crate::command::CommandOutcome;
use crate::event::{Position, Timestamp};
use crate::history::cache::Places;
use crate::history::materialize::Materialized;
use crate::history::rebuild::{self, ReadModelState, ReadModelStatus, RebuildState};
use crate::history::{AsOf, Diff, RevertTarget, SnapshotInfo, TableRows, snapshot};
use crate::sql::{Params, Row, SqlErrorKind};
use crate::tx::{Session, Tx};
use crate::writer::{UnitMeta, Work};
use crate::{Context, Error, params};

/// What one command wrote; see [`Store::command_events`].
#[derive(Debug, Clone)]
pub struct CommandEvents {
    /// The command's id.
    pub command_id: Uuid,
    /// The position just before its first event.
    pub from: Position,
    /// The position of its last event.
    pub to: Position,
    /// Its events, in position order.
    pub events: Vec<crate::event::RecordedEvent>,
}

/// The command name revert units are recorded (and idempotency keys scoped) under.
pub const REVERT_COMMAND: &str = "gesta.Revert";

/// The read models as of one point in history; see [`Store::at`].
#[derive(Clone)]
pub struct AsOfView {
    store: Store,
    as_of: AsOf,
}

impl AsOfView {
    /// Runs a read-only query against the read models as they stood at the view's
    /// point; also returns the position that point resolved to.
    pub async fn query_with_position(
        &self,
        sql: &str,
        params: Params,
    ) -> Result<(Position, Vec<Row>), Error> {
        self.store
            .history_query(Some(self.as_of), sql.to_owned(), params, true)
            .await
    }

    /// Runs a read-only query against the read models as they stood at the view's point.
    pub async fn query(&self, sql: &str, params: Params) -> Result<Vec<Row>, Error> {
        Ok(self.query_with_position(sql, params).await?.1)
    }
}

impl Store {
    /// The read models as of `as_of`: right after the event at a position was applied,
    /// or after the last event recorded at or before a time.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), gesta::Error> {
    /// use gesta::{App, Store, event::Position, params};
    /// let store = Store::open("sqlite::memory:", App::new("demo")).await?;
    /// let rows = store.at(Position(0)).query("SELECT 1 AS one", params! {}).await?;
    /// assert_eq!(rows[0].get::<i64>("one")?, 1);
    /// # Ok(()) }
    /// ```
    pub fn at(&self, as_of: impl Into<AsOf>) -> AsOfView {
        AsOfView {
            store: self.clone(),
            as_of: as_of.into(),
        }
    }

    /// Runs a query from outside (an operator, `POST /admin/query`): read-only on
    /// every backend (a write is [`SqlErrorKind::ReadOnly`]), cancelled after
    /// [`crate::StoreOptions::query_timeout`] ([`Error::QueryTimeout`]), against the
    /// live read models or those as of `as_of`. Returns the position answered at.
    pub async fn query_at(
        &self,
        as_of: Option<AsOf>,
        sql: &str,
        params: Params,
    ) -> Result<(Position, Vec<Row>), Error> {
        self.history_query(as_of, sql.to_owned(), params, false)
            .await
    }

    /// The position `as_of` stands for (see [`AsOf`]); past the head is an error
    /// naming `as_of`.
    pub async fn resolve(&self, as_of: AsOf) -> Result<Position, Error> {
        self.read(move |tx| {
            let head = crate::read::last_position(tx)?;
            resolve(tx, as_of, head)
        })
        .await
    }

    async fn history_query(
        &self,
        as_of: Option<AsOf>,
        sql: String,
        params: Params,
        trusted: bool,
    ) -> Result<(Position, Vec<Row>), Error> {
        let history = self.history_parts();
        let timeout = self.inner.options.query_timeout;
        self.inner
            .readers
            .run_session(&self.inner.jobs, move |session| {
                let dialect = history.backend.dialect();
                session.begin(dialect.begin_read_only)?;
                let result = answer(session, &history, as_of, &sql, &params, timeout, trusted);
                let ended = session.end(true);
                if let Some(restore) = dialect.end_read_only {
                    session.conn.execute(restore, &[])?;
                }
                let answer = result?;
                ended?;
                Ok(answer)
            })
            .await
    }

    fn history_parts(&self) -> HistoryParts {
        HistoryParts {
            backend: Arc::clone(&self.inner.backend),
            app: Arc::clone(&self.inner.app),
            places: Arc::clone(&self.inner.places),
        }
    }

    /// What changed in the read models between positions `from` and `to`
    /// (`from <= to <= head`), row by row; only `table` when given.
    pub async fn diff(
        &self,
        from: Position,
        to: Position,
        table: Option<String>,
    ) -> Result<Diff, Error> {
        let tables: Vec<String> = self
            .inner
            .app
            .read_models()
            .iter()
            .flat_map(|m| m.tables.iter().cloned())
            .collect();
        let tables = match table {
            None => tables,
            Some(t) if tables.contains(&t) => vec![t],
            Some(t) => {
                return Err(Error::invalid(
                    "table",
                    format!(
                        "{t:?} is not a read-model table (they are: {})",
                        tables.join(", ")
                    ),
                ));
            }
        };
        if from > to {
            return Err(Error::invalid("from", format!("{from} is after to ({to})")));
        }
        let history = self.history_parts();
        self.inner
            .readers
            .run_session(&self.inner.jobs, move |session| {
                session.transaction(&["BEGIN"], |log| {
                    let head = crate::read::last_position(log)?;
                    for (field, p) in [("from", from), ("to", to)] {
                        if p > head {
                            return Err(Error::invalid(
                                field,
                                format!("position {p} is past the head of the log ({head})"),
                            ));
                        }
                    }
                    let mut place = obtain(&history, log, from)?;
                    let before = read_tables(&mut place, &tables)?;
                    if !place.advance(&history.app, log, to)? {
                        place =
                            Materialized::build(&*history.backend, &history.app, log, to, None)?;
                    }
                    let after = read_tables(&mut place, &tables)?;
                    let mut diff = Diff {
                        from: from.0,
                        to: to.0,
                        tables: Default::default(),
                    };
                    for (old, new) in before.iter().zip(&after) {
                        let key = place.primary_key(&old.table)?;
                        if let Some(changes) = crate::history::diff_tables(old, new, &key) {
                            diff.tables.insert(old.table.clone(), changes);
                        }
                    }
                    history.places.put(place);
                    Ok(diff)
                })
            })
            .await
    }

    /// Every stored snapshot, newest first.
    pub async fn snapshots(&self) -> Result<Vec<SnapshotInfo>, Error> {
        let app = Arc::clone(&self.inner.app);
        let dialect = self.inner.backend.dialect().name;
        self.read(move |tx| Ok(snapshot::list(tx, &app, dialect)?))
            .await
    }

    /// Takes a snapshot of every read model now: read in one read transaction, stored
    /// in a short transaction of its own (commands go on meanwhile). Older snapshots
    /// beyond [`crate::StoreOptions::snapshot_keep`] are deleted.
    pub async fn take_snapshot(&self) -> Result<SnapshotInfo, Error> {
        let app = Arc::clone(&self.inner.app);
        let dialect = self.inner.backend.dialect().name;
        let taken = self
            .inner
            .readers
            .run_session(&self.inner.jobs, move |session| {
                session.transaction(&["BEGIN"], |tx| snapshot::take(tx, &app, dialect))
            })
            .await?;
        let keep = self.inner.options.snapshot_keep;
        self.write_aside(move |tx| Ok(snapshot::save(tx, taken, keep)?))
            .await
    }

    /// Reverts a command, or every command after a position: records one
    /// `gesta.reverted` event and rewinds the read models to what they would be had
    /// those commands' events never been applied. Refused, with nothing changed, when
    /// that replay fails ([`Error::ReplayFailed`]), the command is unknown or already
    /// reverted ([`Error::Rejected`]). `ctx` carries the idempotency key and
    /// correlation as for commands.
    pub async fn revert(
        &self,
        target: RevertTarget,
        ctx: Context,
    ) -> Result<CommandOutcome, Error> {
        check_key(&ctx)?;
        let meta = UnitMeta {
            command: Some(REVERT_COMMAND.to_owned()),
            command_id: Uuid::now_v7(),
            context: ctx,
        };
        self.submit(Work::Revert(target), meta).await
    }

    /// What command `id` wrote: the positions its events span and the events (upcast,
    /// personal fields opened), or `None` when no event in the log carries that
    /// command id (it wrote none, it never ran, or its events were archived).
    ///
    /// A command's events are consecutive in the log, so the read models' changes it
    /// made are [`Store::diff`] from `from` to `to`.
    pub async fn command_events(&self, id: Uuid) -> Result<Option<CommandEvents>, Error> {
        let dialect = self.inner.backend.dialect();
        let upcasters = self.inner.app.upcasters().clone();
        self.read(move |tx| {
            let row = tx.query_one(
                dialect.command_positions,
                &params! { "command_id" => id.to_string() },
            )?;
            let first: Option<u64> = row.get_at(0)?;
            let last: Option<u64> = row.get_at(1)?;
            let Some((first, last)) = first.zip(last) else {
                return Ok(None);
            };
            let from = Position(first.saturating_sub(1));
            let count = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
            let query = crate::LogQuery::after(from).limit(count.min(crate::MAX_PAGE));
            let mut events = crate::read::read_log(tx, &query)?;
            crate::event::personal::open_all(tx, &mut events)?;
            crate::read::upcast_all(&upcasters, &mut events)?;
            events.retain(|e| e.metadata().command_id == Some(id));
            Ok(Some(CommandEvents {
                command_id: id,
                from,
                to: Position(last),
                events,
            }))
        })
        .await
    }

    /// Starts the task taking a snapshot every `snapshot_every` events, if set.
    pub(super) fn start_snapshots(&self) {
        let every = self.inner.options.snapshot_every;
        if every == 0 || self.inner.app.read_models().is_empty() {
            return;
        }
        let store = self.detached();
        self.inner.history_tasks.spawn(move |mut stop| async move {
            let mut position = store.watch_position();
            let mut last = match store.snapshots().await {
                Ok(list) => list.first().map_or(0, |s| s.position),
                Err(_) => 0,
            };
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    changed = position.changed() => if changed.is_err() { return },
                }
                let now = position.borrow().0;
                if now < last.saturating_add(every) {
                    continue;
                }
                match store.take_snapshot().await {
                    Ok(info) => last = info.position,
                    Err(err) => {
                        tracing::warn!(error = %err, "taking a snapshot failed");
                        last = now;
                    }
                }
            }
        });
    }
}

/// What the blocking side of a history question needs of the store.
struct HistoryParts {
    backend: Arc<dyn Backend>,
    app: Arc<App>,
    places: Arc<Places>,
}

/// Answers `sql` at `as_of` in the read-only transaction open on `session`.
fn answer(
    session: &mut Session,
    history: &HistoryParts,
    as_of: Option<AsOf>,
    sql: &str,
    params: &Params,
    timeout: Duration,
    trusted: bool,
) -> Result<(Position, Vec<Row>), Error> {
    let head = crate::read::last_position(&mut session.tx())?;
    let at = match as_of {
        None => head,
        Some(as_of) => resolve(&mut session.tx(), as_of, head)?,
    };
    if at == head {
        session.conn.set_deadline(Some(Instant::now() + timeout));
        let rows = session.tx().query(sql, params);
        session.conn.set_deadline(None);
        return match rows {
            Ok(rows) => Ok((at, rows)),
            Err(e) if e.kind == SqlErrorKind::Interrupted => Err(Error::QueryTimeout(timeout)),
            Err(e) => Err(e.into()),
        };
    }
    let mut place = obtain(history, &mut session.tx(), at)?;
    let rows = place.query(sql, params, timeout);
    // A place that ran someone else's SQL is not reused: on MySQL a DDL statement
    // commits by itself even in a read-only transaction of a scratch database.
    if trusted && rows.is_ok() {
        history.places.put(place);
    }
    Ok((at, rows?))
}

/// A kept place is moved forward to a question's position when at most this many
/// events behind it; further behind, a new place from the nearest snapshot is cheaper.
const REUSE_WITHIN: u64 = 5_000;

/// A place at `at`: a kept one moved forward, or a new one.
fn obtain(history: &HistoryParts, log: &mut Tx<'_>, at: Position) -> Result<Materialized, Error> {
    if let Some(mut place) = history.places.take(at) {
        let near = at.0 - place.position.0 <= REUSE_WITHIN;
        if near && place.holds_all(&history.app) && place.advance(&history.app, log, at)? {
            return Ok(place);
        }
        history.places.put(place);
    }
    Materialized::build(&*history.backend, &history.app, log, at, None)
}

fn read_tables(place: &mut Materialized, tables: &[String]) -> Result<Vec<TableRows>, Error> {
    tables.iter().map(|t| place.table(t)).collect()
}

/// The position `as_of` stands for, with the log's head at `head`.
fn resolve(tx: &mut Tx<'_>, as_of: AsOf, head: Position) -> Result<Position, Error> {
    match as_of {
        AsOf::Position(p) if p > head => Err(Error::invalid(
            "as_of",
            format!("position {p} is past the head of the log ({head})"),
        )),
        AsOf::Position(p) => Ok(p),
        AsOf::Time(t) if t > Timestamp::now() => Err(Error::invalid(
            "as_of",
            format!("{} is in the future", t.to_rfc3339()),
        )),
        AsOf::Time(t) => {
            let last: Option<Option<u64>> = tx.query_scalar(
                "SELECT MAX(position) FROM events WHERE recorded_at <= :t",
                &params! { "t" => t.0 },
            )?;
            let last = match last.flatten() {
                Some(found) => Some(found),
                // Older than every live event: the archive may know.
                None => crate::archive::read::position_at(tx, t.0)?,
            };
            Ok(Position(last.unwrap_or(0).min(head.0)))
        }
    }
}

/// Inline read models: status and background rebuilds.
impl Store {
    /// Every inline read model with its version, position and state.
    pub async fn read_models(&self) -> Result<Vec<ReadModelStatus>, Error> {
        let app = Arc::clone(&self.inner.app);
        // The rebuilds' progress first, the tables' versions after: a rebuild that
        // reads as done has swapped in, so the read below sees its version (read the
        // other way round, a swap landing in between showed "done" with the old one).
        let rebuilds: Vec<_> = app
            .read_models()
            .iter()
            .map(|m| self.inner.rebuilds.get(&m.name))
            .collect();
        let stored = self
            .read(move |tx| {
                let head = crate::read::last_position(tx)?;
                let mut out = Vec::new();
                for model in app.read_models() {
                    let position = checkpoint::position(tx, &Kind::ReadModel.key(&model.name))?
                        .unwrap_or_default();
                    let built = checkpoint::position(tx, &Kind::ReadModelVersion.key(&model.name))?
                        .unwrap_or(Position(u64::from(model.version)));
                    out.push((model.clone(), position, built, head));
                }
                Ok(out)
            })
            .await?;
        Ok(stored
            .into_iter()
            .zip(rebuilds)
            .map(|((model, position, built, head), rebuild)| {
                let building = rebuild
                    .as_ref()
                    .is_some_and(|r| r.state == RebuildState::Building);
                let state = if building {
                    ReadModelState::Rebuilding
                } else if built.0 != u64::from(model.version) {
                    ReadModelState::Stale
                } else {
                    ReadModelState::Live
                };
                ReadModelStatus {
                    name: model.name,
                    version: model.version,
                    built_version: built.0,
                    tables: model.tables,
                    position: position.0,
                    head: head.0,
                    state,
                    rebuild,
                }
            })
            .collect())
    }

    /// One inline read model's status; unknown names are [`RejectionKind::NotFound`].
    ///
    /// [`RejectionKind::NotFound`]: crate::RejectionKind::NotFound
    pub async fn read_model(&self, name: &str) -> Result<ReadModelStatus, Error> {
        self.read_models()
            .await?
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| unknown_model(name))
    }

    /// Starts rebuilding read model `name` from the log in the background while
    /// commands go on; the writer pauses only for the swap at the end. Follow it with
    /// [`Store::read_model`]. Refused when one is already running in this process.
    pub async fn rebuild_read_model(&self, name: &str) -> Result<ReadModelStatus, Error> {
        if self.inner.app.find_read_model(name).is_none() {
            return Err(unknown_model(name));
        }
        if !self.start_rebuild(name.to_owned()) {
            return Err(Error::Rejected(crate::Rejection::conflict(format!(
                "read model {name:?} is already being rebuilt"
            ))));
        }
        self.read_model(name).await
    }

    /// Waits until no background rebuild of this process is running (those started
    /// at open for read models that are new or of a new version, and requested ones).
    /// An application whose command handlers read a read model being filled should
    /// wait for this before taking commands (the bank server does). Fails with the
    /// first rebuild that failed.
    pub async fn read_models_ready(&self) -> Result<(), Error> {
        loop {
            match self.inner.rebuilds.busy() {
                (false, None) => return Ok(()),
                (_, Some(failed)) => {
                    return Err(Error::internal(format!(
                        "a read model rebuild failed: {failed}"
                    )));
                }
                (true, None) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Spawns the background rebuild of `name`; false when one is running.
    pub(super) fn start_rebuild(&self, name: String) -> bool {
        if !self.inner.rebuilds.begin(&name) {
            return false;
        }
        let store = self.detached();
        self.inner.history_tasks.spawn(move |_stop| async move {
            let result = store.run_rebuild(&name).await;
            match &result {
                Ok(pause) => tracing::info!(read_model = %name, pause_ms = pause.as_millis() as u64, "read model rebuilt and swapped in"),
                Err(err) => tracing::error!(read_model = %name, error = %err, "rebuilding the read model failed"),
            }
            store.inner.rebuilds.end(&name, result.as_ref().copied());
        });
        true
    }

    /// Builds `name` in a scratch place up to near the head, then has the writer swap
    /// it in. Returns how long the swap held the writer.
    async fn run_rebuild(&self, name: &str) -> Result<Duration, Error> {
        let names = vec![name.to_owned()];
        loop {
            let parts = self.history_parts();
            let only = names.clone();
            let (mut place, mut head) = self
                .inner
                .readers
                .run_session(&self.inner.jobs, move |session| {
                    let place = session.transaction(&["BEGIN"], |log| {
                        let to = rebuild::first_step(crate::read::last_position(log)?);
                        Materialized::build_from(
                            &*parts.backend,
                            &parts.app,
                            log,
                            to,
                            Some(&only),
                            false,
                        )
                    })?;
                    // The head after the first step, as after every step below (the
                    // head from before it left every event committed while the place
                    // was first filled to the swap).
                    let head = session.transaction(&["BEGIN"], |log| {
                        Ok::<_, Error>(crate::read::last_position(log)?)
                    })?;
                    Ok((place, head))
                })
                .await?;
            let mut current = true;
            let mut last_gap = u64::MAX;
            loop {
                self.inner.rebuilds.update(name, |p| {
                    p.position = place.position.0;
                    p.head = head.0;
                });
                let gap = head.0.saturating_sub(place.position.0);
                if rebuild::close_enough(gap, last_gap) {
                    break;
                }
                last_gap = gap;
                let parts = self.history_parts();
                let (moved, now, ok) = self
                    .inner
                    .readers
                    .run_session(&self.inner.jobs, move |session| {
                        let ok = session.transaction(&["BEGIN"], |log| {
                            let head = crate::read::last_position(log)?;
                            let to = Position(head.0.min(place.position.0 + rebuild::CHUNK));
                            place.advance(&parts.app, log, to)
                        })?;
                        // The head now, not when the step began: commands went on
                        // while it ran, and the swap replays whatever is left.
                        let head = session.transaction(&["BEGIN"], |log| {
                            Ok::<_, Error>(crate::read::last_position(log)?)
                        })?;
                        Ok((place, head, ok))
                    })
                    .await?;
                (place, head) = (moved, now);
                if !ok {
                    current = false;
                    break;
                }
            }
            if !current {
                drop_blocking(place).await;
                continue;
            }
            let app = Arc::clone(&self.inner.app);
            let model_name = name.to_owned();
            let built = tokio::task::spawn_blocking(move || {
                let model = app
                    .find_read_model(&model_name)
                    .ok_or_else(|| unknown_model(&model_name))?;
                rebuild::Built::read(model, place)
            })
            .await
            .map_err(|_| Error::Closed)??;
            let app = Arc::clone(&self.inner.app);
            let begin = self.inner.backend.dialect().begin;
            let model_name = name.to_owned();
            let (reply, result) = tokio::sync::oneshot::channel();
            let job = crate::writer::Job::OnConnection(Box::new(move |session: &mut Session| {
                let started = Instant::now();
                let swapped = match app.find_read_model(&model_name) {
                    Some(model) => session.transaction(begin, |tx| {
                        rebuild::swap_in(tx, model, &built, app.upcasters())
                    }),
                    None => Err(unknown_model(&model_name)),
                };
                // The place goes back too: dropping it is blocking SQL the writer
                // should not wait for.
                let _ = reply.send((swapped.map(|ok| (ok, started.elapsed())), built));
            }));
            self.inner.jobs.send(job).await.map_err(|_| Error::Closed)?;
            let (swapped, built) = result.await.map_err(|_| Error::Closed)?;
            let _ = tokio::task::spawn_blocking(move || drop(built)).await;
            let (swapped, pause) = swapped?;
            if swapped {
                return Ok(pause);
            }
        }
    }
}

/// Drops a materialized place on a blocking thread (its scratch namespace is
/// dropped with blocking SQL).
async fn drop_blocking(place: Materialized) {
    let _ = tokio::task::spawn_blocking(move || drop(place)).await;
}

fn unknown_model(name: &str) -> Error {
    Error::Rejected(crate::Rejection::not_found(format!(
        "no read model named {name:?}"
    )))
}
