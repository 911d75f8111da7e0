//! Live connections (`GET /subscribe`, `GET /ws`) on threads of their own.
//!
//! Sending events to many subscribers is mostly the kernel's work per byte written,
//! and it has no natural limit: a hundred subscribers of a busy store want more CPU
//! than the writer. Served on the same threads as commands, they would slow every
//! command down. So a connection whose first request opens a live stream is moved to
//! a small runtime of its own (a quarter of the cores by default), whose threads can
//! take at most that many cores and run at the lowest priority (nice 19): when the
//! machine is busy, commands and the writer come first and subscribers fall behind;
//! a subscription that falls behind reads the log instead, never holding the writer
//! up. `--live-threads` and `--live-priority normal` trade the other way (lower push
//! latency under a full write load, fewer writes; docs/PERFORMANCE.md).
//! A connection is classified once, by peeking at its first request line; a
//! keep-alive connection that subscribes later stays where it is.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::runtime::{Handle, Runtime};

/// How long a new connection may take to send its request line before it is served
/// as an ordinary one.
const FIRST_LINE_WAIT: Duration = Duration::from_secs(2);

/// The live runtime's threads: a quarter of the cores, at least one.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 4).max(1))
}

/// The priority of the threads serving live connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LivePriority {
    /// Nice 19: subscribers get only the CPU commands and the writer leave; under a
    /// write load that fills the machine they fall behind (and catch up from the log).
    #[default]
    Lowest,
    /// The process's own priority: subscribers compete with commands for the cores,
    /// so push latency stays low and the write rate pays for it.
    Normal,
}

/// The runtime serving live connections; shut down (without waiting) when dropped,
/// which is allowed from async code where dropping a runtime is not.
pub(crate) struct LiveRuntime(Option<Runtime>);

impl LiveRuntime {
    /// A runtime of `threads` worker threads named `gesta-live`, at `priority`.
    pub(crate) fn new(threads: usize, priority: LivePriority) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("gesta-live")
            .on_thread_start(move || {
                if priority == LivePriority::Lowest {
                    lower_priority();
                }
            })
            .enable_all()
            .build()?;
        Ok(LiveRuntime(Some(runtime)))
    }

    /// A handle to spawn on it.
    pub(crate) fn handle(&self) -> Option<Handle> {
        self.0.as_ref().map(|runtime| runtime.handle().clone())
    }
}

impl Drop for LiveRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Gives the calling thread the lowest priority of the process: nice 19 on Linux (the
/// scheduler then gives a thread at nice 0 about seventy times its share of
/// a contended core). Where that cannot be done the thread keeps its priority.
fn lower_priority() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    // 0 of 0..=99 is nice 19 on Linux (99 is -20).
    let Ok(value) = ThreadPriorityValue::try_from(0_u8) else {
        return;
    };
    if let Err(err) =
        thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(value))
    {
        tracing::debug!(error = ?err, "cannot lower the priority of a live thread");
    }
}

/// Whether the first request on `stream` opens a live stream, judged from the bytes
/// that have arrived within [`FIRST_LINE_WAIT`] (without consuming them).
pub(crate) async fn opens_live_stream(stream: &TcpStream) -> bool {
    let mut first = [0_u8; 32];
    match tokio::time::timeout(FIRST_LINE_WAIT, stream.peek(&mut first)).await {
        Ok(Ok(n)) => is_live_request(&first[..n]),
        _ => false,
    }
}

/// Whether `start` (the first bytes of a request) is `GET /subscribe` or `GET /ws`.
fn is_live_request(start: &[u8]) -> bool {
    [&b"GET /subscribe"[..], b"GET /ws"]
        .iter()
        .any(|path| start.starts_with(path) && matches!(start.get(path.len()), Some(b' ' | b'?')))
}

#[cfg(test)]
mod tests {
    use super::is_live_request;

    #[test]
    fn live_requests_are_told_apart_by_their_request_line() {
        assert!(is_live_request(b"GET /subscribe HTTP/1.1\r\n"));
        assert!(is_live_request(b"GET /subscribe?after=now&type=A HTTP/1.1"));
        assert!(is_live_request(b"GET /ws HTTP/1.1\r\n"));
        assert!(is_live_request(b"GET /ws?after=3 HTTP/1.1"));
        assert!(!is_live_request(b"GET /subscribers HTTP/1.1"));
        assert!(!is_live_request(b"GET /wsx HTTP/1.1"));
        assert!(!is_live_request(b"POST /commands/Open HTTP/1.1"));
        assert!(!is_live_request(b"GET /subscri"));
        assert!(!is_live_request(b""));
    }
}
