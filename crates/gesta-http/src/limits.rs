//! Limits per caller: a token bucket of requests per second (`429` with `Retry-After`;
//! `/healthz` is exempt) and a cap on open live streams (`/subscribe`, `/ws`). A caller
//! is its principal's name when the server authenticates, else its IP address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::problem::Problem;

/// Who a limit counts against: `principal:NAME` or `ip:ADDR`.
pub(crate) fn caller_key(request_extensions: &axum::http::Extensions) -> String {
    if let Some(caller) = request_extensions.get::<Arc<gesta_auth::Caller>>() {
        return format!("principal:{}", caller.principal.name);
    }
    match request_extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => format!("ip:{}", peer.ip()),
        None => "anonymous".to_owned(),
    }
}

/// The request rate limit, shared by every connection.
#[derive(Clone)]
pub(crate) struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
    refusals: crate::auth::Refusals,
}

impl RateLimit {
    /// `per_second` requests a second per caller, in bursts of as many.
    pub(crate) fn new(per_second: NonZeroU32, refusals: crate::auth::Refusals) -> Self {
        RateLimit {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_second(
                per_second,
            ))),
            clock: DefaultClock::default(),
            refusals,
        }
    }
}

/// The middleware: `429 Too Many Requests` with `Retry-After` once a caller's bucket is
/// empty.
pub(crate) async fn rate_limit(
    State(limit): State<RateLimit>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let key = caller_key(request.extensions());
    if let Err(not_until) = limit.limiter.check_key(&key) {
        let wait = not_until.wait_time_from(limit.clock.now());
        // Forget callers whose buckets are full again, now and then.
        if limit.limiter.len() > 10_000 {
            limit.limiter.retain_recent();
        }
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u32;
        limit.refusals.count("rate_limited");
        crate::drain(request.into_body()).await;
        return Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("over the rate limit; retry in {seconds} s"),
        )
        .retry_after(seconds)
        .into_response();
    }
    next.run(request).await
}

/// Open live streams per caller, capped.
#[derive(Debug, Clone)]
pub(crate) struct Subscribers {
    limit: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for Subscribers {
    fn default() -> Self {
        Subscribers::new(usize::MAX)
    }
}

impl Subscribers {
    /// At most `limit` open streams per caller.
    pub(crate) fn new(limit: usize) -> Self {
        Subscribers {
            limit,
            open: Arc::default(),
        }
    }

    /// Open streams of every caller.
    pub(crate) fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .sum()
    }

    /// A slot for one more stream of `key`, held until the stream ends; a 429 when the
    /// caller has `limit` open already.
    pub(crate) fn acquire(&self, key: String) -> Result<Slot, Problem> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(key.clone()).or_default();
        if *count >= self.limit {
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-subscriptions",
                "Too many subscriptions",
                format!(
                    "at most {} open subscriptions per caller; close one first",
                    self.limit
                ),
            )
            .retry_after(1));
        }
        *count += 1;
        Ok(Slot {
            key,
            open: Arc::clone(&self.open),
        })
    }
}

/// One open live stream; frees its place when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    key: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_caller_and_freed_on_drop() {
        let subscribers = Subscribers::new(2);
        let a = subscribers.acquire("a".into()).unwrap();
        let _a2 = subscribers.acquire("a".into()).unwrap();
        assert!(subscribers.acquire("a".into()).is_err());
        let _b = subscribers.acquire("b".into()).unwrap();
        drop(a);
        assert!(subscribers.acquire("a".into()).is_ok());
    }
}
