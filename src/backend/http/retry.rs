//! When and how long to wait before sending a request again.

use std::time::Duration;

use http::header::HeaderMap;
use http::Method;
use rand::Rng as _;

/// How long to wait between attempts.
///
/// Without `Retry-After`, retry `n` (1-based) waits a random time between half and all of
/// `initial × 2^(n-1)`, capped at `max` ("equal jitter"). With a `Retry-After` of whole
/// seconds, the wait is that value capped at `max_retry_after`, plus up to 10 % jitter so that
/// parallel callers do not return in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The base wait before the first retry.
    pub initial: Duration,
    /// The longest computed wait.
    pub max: Duration,
    /// The longest wait a server's `Retry-After` can impose.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    /// 0.5 s doubling up to 20 s; `Retry-After` honoured up to 60 s.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (1 for the first retry), given the server's
    /// `Retry-After` if it sent one.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let mut rng = rand::thread_rng();
        if let Some(after) = retry_after {
            let after = after.min(self.max_retry_after);
            let jitter_ms = (after.as_millis() as u64 / 10).max(1);
            return after + Duration::from_millis(rng.gen_range(0..=jitter_ms));
        }
        let exp = retry.saturating_sub(1).min(20);
        let full = self.initial.saturating_mul(1u32 << exp).min(self.max);
        let half = full / 2;
        let spread = (full - half).as_millis() as u64;
        half + Duration::from_millis(rng.gen_range(0..=spread))
    }
}

/// When a request may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Safe to repeat (GET, DELETE, a PATCH or PUT that sets absolute values): retried on
    /// 429, 502, 503, 504 and on every transport error (refused, reset, timeout).
    Idempotent,
    /// A create (POST): retried only when the server provably did not act on it, that is on
    /// 429 and when no connection could be established. A timeout, a reset or a 5xx makes
    /// the outcome unknown: the [`SendError`] is then marked ambiguous.
    Create,
    /// Never retried (401 challenges are still answered).
    Never,
}

impl RetryPolicy {
    /// The default for a method: POST is a create, every other method is idempotent.
    pub fn for_method(method: &Method) -> Self {
        if *method == Method::POST {
            RetryPolicy::Create
        } else {
            RetryPolicy::Idempotent
        }
    }

    /// Whether a request answered `status` may be sent again: idempotent requests on 429,
    /// 502, 503 and 504; creates only on 429 (the server refused to act).
    pub fn retries_status(self, status: u16) -> bool {
        match self {
            RetryPolicy::Idempotent => matches!(status, 429 | 502 | 503 | 504),
            RetryPolicy::Create => status == 429,
            RetryPolicy::Never => false,
        }
    }

    /// Whether a request that failed in transport may be sent again; `reached` says whether
    /// the server may have seen it (false only when no connection could be established).
    pub fn retries_transport(self, reached: bool) -> bool {
        match self {
            RetryPolicy::Idempotent => true,
            RetryPolicy::Create => !reached,
            RetryPolicy::Never => false,
        }
    }

    /// Whether a create answered `status` (with an error, or with a body that could not be
    /// read) may nonetheless have taken effect: a success or a 5xx.
    pub fn ambiguous_answer(self, status: u16) -> bool {
        self == RetryPolicy::Create && (status >= 500 || (200..300).contains(&status))
    }

    /// Whether a create that failed in transport may nonetheless have taken effect.
    pub fn ambiguous_transport(self, reached: bool) -> bool {
        self == RetryPolicy::Create && reached
    }
}

/// The `Retry-After` header as a whole number of seconds (the HTTP-date form is ignored:
/// the plain backoff applies then).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
