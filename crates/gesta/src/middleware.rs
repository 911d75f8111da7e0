//! Redux-like middleware around `dispatch`: each one sees the command on its way to
//! the writer and the outcome on its way back, and may change, refuse or observe it.
//! Direct appends do not pass through it (see [`crate::Context`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use crate::Error;
use crate::command::{CommandOutcome, CommandRequest};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A link in the dispatch chain.
///
/// ```
/// use gesta::middleware::{BoxFuture, Middleware, Next};
/// use gesta::command::{CommandOutcome, CommandRequest};
///
/// /// Stamps every command with the tenant it came through.
/// struct Tenant(&'static str);
///
/// impl Middleware for Tenant {
///     fn call<'a>(&'a self, mut req: CommandRequest, next: Next<'a>)
///         -> BoxFuture<'a, Result<CommandOutcome, gesta::Error>> {
///         req.context.metadata.insert("tenant".into(), self.0.into());
///         next.run(req)
///     }
/// }
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `request`, usually by calling `next.run(request)`.
    fn call<'a>(
        &'a self,
        request: CommandRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<CommandOutcome, Error>>;
}

/// The end of the chain: hands the command to the writer.
pub(crate) type Terminal<'a> =
    &'a (dyn Fn(CommandRequest) -> BoxFuture<'a, Result<CommandOutcome, Error>> + Send + Sync);

/// The rest of the chain after the current middleware.
pub struct Next<'a> {
    rest: &'a [Arc<dyn Middleware>],
    terminal: Terminal<'a>,
}

impl<'a> Next<'a> {
    pub(crate) fn new(rest: &'a [Arc<dyn Middleware>], terminal: Terminal<'a>) -> Self {
        Next { rest, terminal }
    }

    /// Passes `request` on to the next middleware, or to the writer.
    pub fn run(self, request: CommandRequest) -> BoxFuture<'a, Result<CommandOutcome, Error>> {
        match self.rest.split_first() {
            Some((first, rest)) => first.call(
                request,
                Next {
                    rest,
                    terminal: self.terminal,
                },
            ),
            None => (self.terminal)(request),
        }
    }
}

/// Adds fixed key/value pairs to the metadata of every command's events
/// (service name, deployment, region, ...), without overwriting what is there.
#[derive(Debug, Clone, Default)]
pub struct EnrichMetadata {
    fields: serde_json::Map<String, serde_json::Value>,
}

impl EnrichMetadata {
    /// No fields yet.
    pub fn new() -> Self {
        EnrichMetadata::default()
    }

    /// Adds `key` = `value` to every command's metadata.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.fields.insert(key.into(), value.into());
        self
    }
}

impl Middleware for EnrichMetadata {
    fn call<'a>(
        &'a self,
        mut request: CommandRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<CommandOutcome, Error>> {
        for (key, value) in &self.fields {
            request
                .context
                .metadata
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        next.run(request)
    }
}

/// Logs every command with `tracing`: a span per command, its outcome and latency.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceCommands;

impl Middleware for TraceCommands {
    fn call<'a>(
        &'a self,
        request: CommandRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<CommandOutcome, Error>> {
        let span = tracing::debug_span!(
            "command",
            name = %request.name,
            command_id = %request.command_id,
        );
        let started = Instant::now();
        Box::pin(
            async move {
                let result = next.run(request).await;
                let micros = started.elapsed().as_micros() as u64;
                match &result {
                    Ok(outcome) => tracing::debug!(
                        micros,
                        events = outcome.events.len(),
                        replayed = outcome.replayed,
                        "command committed"
                    ),
                    Err(err) => tracing::debug!(micros, error = %err, "command failed"),
                }
                result
            }
            .instrument(span),
        )
    }
}
