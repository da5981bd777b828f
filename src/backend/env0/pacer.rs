//! env0's client-side pacing: every attempt of a request takes a slot of its method + path
//! template, freed one window after the attempt finished, so that large applies stay under
//! env0's 1,000 requests per 60 s per method and URI instead of meeting 429s.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use http::header::HeaderValue;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::VENDOR;
use crate::backend::http::{AuthRequest, Authenticator, BasicAuth, HttpClient};
use crate::backend::BackendError;

/// A request budget: at most `requests` per `window` for each method + path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window.
    pub window: Duration,
}

impl RateLimit {
    /// env0's documented limit: 1,000 requests per 60 s per method and URI.
    pub const ENV0: RateLimit = RateLimit {
        requests: 1000,
        window: Duration::from_secs(60),
    };
}

impl Default for RateLimit {
    /// [`RateLimit::ENV0`].
    fn default() -> Self {
        RateLimit::ENV0
    }
}

// ----- pacing -----------------------------------------------------------------------------

/// Sliding-window pacing per bucket (method + path template). A slot is taken by every
/// attempt and counts until one window after the request it belongs to finished.
pub(super) struct Pacer {
    pub(super) limit: RateLimit,
    pub(super) buckets: Mutex<HashMap<&'static str, Bucket>>,
    pub(super) freed: Notify,
}

#[derive(Default)]
pub(super) struct Bucket {
    pub(super) next_slot: u64,
    pub(super) in_flight: HashSet<u64>,
    /// When finished slots were freed, oldest first.
    pub(super) finished: VecDeque<Instant>,
}

impl Pacer {
    pub(super) fn new(limit: RateLimit) -> Self {
        Pacer {
            limit,
            buckets: Mutex::new(HashMap::new()),
            freed: Notify::new(),
        }
    }

    /// Waits for a slot in `bucket` and takes it.
    pub(super) async fn acquire(&self, bucket: &'static str) -> u64 {
        let mut waited = false;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let wake_at = {
                let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                let b = buckets.entry(bucket).or_default();
                let now = Instant::now();
                while b
                    .finished
                    .front()
                    .is_some_and(|t| *t + self.limit.window <= now)
                {
                    b.finished.pop_front();
                }
                if b.in_flight.len() + b.finished.len() < self.limit.requests as usize {
                    b.next_slot += 1;
                    b.in_flight.insert(b.next_slot);
                    return b.next_slot;
                }
                b.finished.front().map(|t| *t + self.limit.window)
            };
            if !waited {
                waited = true;
                tracing::debug!(
                    vendor = VENDOR,
                    bucket,
                    limit = self.limit.requests,
                    window_ms = self.limit.window.as_millis() as u64,
                    "pacing: waiting for the rate limit"
                );
            }
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = &mut freed => {}
                    }
                }
                None => freed.await,
            }
        }
    }

    /// Starts the window of a finished slot.
    pub(super) fn finish(&self, bucket: &'static str, slot: u64) {
        let first_finished = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            let b = buckets.entry(bucket).or_default();
            let first = b.finished.is_empty();
            if b.in_flight.remove(&slot) {
                b.finished.push_back(Instant::now());
            }
            first
        };
        // Waiters sleep until the oldest finished slot expires; only those that saw none
        // (every slot in flight) need to learn when that will be.
        if first_finished {
            self.freed.notify_waiters();
        }
    }
}

/// Basic auth that first takes a pacing slot for each attempt. An attempt's slot is finished
/// when the next attempt starts (the previous one is over by then) or when this drops (the
/// request is over, or was abandoned), so a request never waits on its own earlier attempt.
pub(super) struct PacedAuth<'a> {
    pub(super) inner: &'a BasicAuth,
    pub(super) pacer: &'a Pacer,
    pub(super) bucket: &'static str,
    pub(super) slot: Mutex<Option<u64>>,
}

impl<'a> PacedAuth<'a> {
    /// `inner`'s credentials, every attempt taking a slot of `bucket` first.
    pub(super) fn new(inner: &'a BasicAuth, pacer: &'a Pacer, bucket: &'static str) -> Self {
        PacedAuth {
            inner,
            pacer,
            bucket,
            slot: Mutex::new(None),
        }
    }
}

impl fmt::Debug for PacedAuth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacedAuth")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl Drop for PacedAuth<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self
            .slot
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            self.pacer.finish(self.bucket, slot);
        }
    }
}

#[async_trait::async_trait]
impl Authenticator for PacedAuth<'_> {
    async fn authorize(
        &self,
        http: &HttpClient,
        req: &AuthRequest<'_>,
    ) -> Result<Option<HeaderValue>, BackendError> {
        let previous = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(previous) = previous {
            self.pacer.finish(self.bucket, previous);
        }
        let slot = self.pacer.acquire(self.bucket).await;
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(slot);
        self.inner.authorize(http, req).await
    }
}
