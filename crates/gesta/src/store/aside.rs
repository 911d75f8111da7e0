//! Small writes beside the command path: reactor checkpoints and parked events, each a
//! short transaction of its own on the writer's connection between two batches. They
//! take no write lock of the log, so they never delay another process's writer.

use tokio::sync::oneshot;

use super::Store;
use crate::tx::Session;
use crate::writer::Job;
use crate::{Error, Tx};

impl Store {
    /// Runs `work` in a transaction of its own on the writer's connection, between
    /// batches; commits on success, rolls back on error.
    pub(crate) async fn write_aside<T, F>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, Error> + Send + 'static,
    {
        // The dialect's plain BEGIN: on SQLite `BEGIN IMMEDIATE`, elsewhere without the
        // log's write lock, which the statements after it do not need.
        let begin = self
            .inner
            .backend
            .dialect()
            .begin
            .first()
            .copied()
            .unwrap_or("BEGIN");
        let (reply, result) = oneshot::channel();
        let job = Job::OnConnection(Box::new(move |session: &mut Session| {
            let _ = reply.send(session.transaction(&[begin], work));
        }));
        self.inner.jobs.send(job).await.map_err(|_| Error::Closed)?;
        result.await.map_err(|_| Error::Closed)?
    }
}
