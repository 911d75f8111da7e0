//! Running reads: on a pool of reader connections (at most `max` at once, the rest
//! wait for a turn), or on the writer where the backend has no separate readers
//! (in-memory SQLite).

use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::backend::{Backend, Role};
use crate::tx::Session;
use crate::writer::Job;
use crate::{Error, Tx};

pub(crate) struct Readers {
    backend: Arc<dyn Backend>,
    idle: Mutex<Vec<Session>>,
    max_idle: usize,
    /// One permit per read that may run at once.
    turns: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn new(backend: Arc<dyn Backend>, max: usize, max_idle: usize) -> Self {
        Readers {
            backend,
            idle: Mutex::new(Vec::new()),
            max_idle,
            turns: Arc::new(Semaphore::new(max.max(1))),
        }
    }

    /// Runs `read` in a read transaction and returns its result.
    pub(crate) async fn run<T, F>(
        self: &Arc<Self>,
        jobs: &mpsc::Sender<Job>,
        read: F,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, Error> + Send + 'static,
    {
        if !self.backend.supports_readers() {
            return on_writer(jobs, read).await;
        }
        let turn = Arc::clone(&self.turns)
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        let readers = Arc::clone(self);
        // The turn is given back when the read is done, even if the caller has gone.
        tokio::task::spawn_blocking(move || {
            let result = readers.run_blocking(read);
            drop(turn);
            result
        })
        .await
        .map_err(|e| Error::internal(format!("the read task failed: {e}")))?
    }

    /// Runs `work` on a reader connection outside any transaction (it brackets its
    /// own); on the writer's connection where there are no readers.
    pub(crate) async fn run_session<T, F>(
        self: &Arc<Self>,
        jobs: &mpsc::Sender<Job>,
        work: F,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Session) -> Result<T, Error> + Send + 'static,
    {
        if !self.backend.supports_readers() {
            let (reply, result) = oneshot::channel();
            let job = Job::OnConnection(Box::new(move |session: &mut Session| {
                let _ = reply.send(work(session));
            }));
            jobs.send(job).await.map_err(|_| Error::Closed)?;
            return result.await.map_err(|_| Error::Closed)?;
        }
        let turn = Arc::clone(&self.turns)
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let result = readers.with_session(work);
            drop(turn);
            result
        })
        .await
        .map_err(|e| Error::internal(format!("the read task failed: {e}")))?
    }

    fn with_session<T>(
        &self,
        work: impl FnOnce(&mut Session) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let pooled = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let mut session = match pooled {
            Some(session) => session,
            None => Session::new(
                self.backend.connect(Role::Reader)?,
                self.backend.dialect().placeholder,
            ),
        };
        // `work` brackets its own transactions (`Session::transaction` ends them on
        // either path), so the connection is clean afterwards.
        let result = work(&mut session);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max_idle {
                idle.push(session);
            }
        }
        result
    }

    fn run_blocking<T>(
        &self,
        read: impl FnOnce(&mut Tx<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let pooled = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let mut session = match pooled {
            Some(session) => session,
            None => Session::new(
                self.backend.connect(Role::Reader)?,
                self.backend.dialect().placeholder,
            ),
        };
        session.begin(&["BEGIN"])?;
        let result = read(&mut session.tx());
        // A read changes nothing: commit even when it failed, and keep the connection
        // if that worked.
        let ended = session.end(true);
        if ended.is_ok() {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < self.max_idle {
                    idle.push(session);
                }
            }
        }
        result
    }
}

async fn on_writer<T, F>(jobs: &mpsc::Sender<Job>, read: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<T, Error> + Send + 'static,
{
    let (reply, result) = oneshot::channel();
    let job = Job::OnConnection(Box::new(move |session: &mut Session| {
        let _ = reply.send(read(&mut session.tx()));
    }));
    jobs.send(job).await.map_err(|_| Error::Closed)?;
    result.await.map_err(|_| Error::Closed)?
}
