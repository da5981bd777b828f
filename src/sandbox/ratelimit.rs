//! Sliding-window request limits, shared by the vendors that document one (env0: 1,000
//! requests per 60 s per IP, method and URI; Braintrust: per organization and endpoint).
//!
//! A [`RateLimiter`] holds its vendor's configuration `C` (changeable at run time through a
//! sandbox-only route) and, per key, the instants of the requests admitted within the window.
//! A request is admitted while fewer than `limit` requests with the same key were admitted in
//! the last `window`; otherwise it is refused with the time until the oldest of them leaves
//! the window. Refused requests are not recorded, so a client that waits as told gets in.
//! Nothing here is persisted: limits and windows start afresh with the process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most requests a window may admit (bounds the memory a key can hold).
pub(crate) const MAX_LIMIT: u32 = 100_000;

/// The longest window accepted, in seconds (one day).
pub(crate) const MAX_WINDOW_SECS: u64 = 86_400;

/// A vendor's rate-limit configuration as its `/_sandbox/<vendor>/rate_limit` route takes it.
pub(crate) trait LimitConfig: serde::de::DeserializeOwned + Default {
    /// Requests per window; 0 disables the limit.
    fn limit(&self) -> u32;
    /// The window, in seconds.
    fn window_secs(&self) -> u64;
}

/// Parses a rate-limit route's body (empty: the vendor's defaults) and checks its bounds.
pub(crate) fn parse_config<C: LimitConfig>(body: &[u8]) -> Result<C, String> {
    let text = String::from_utf8_lossy(body);
    let config = if text.trim().is_empty() {
        C::default()
    } else {
        serde_json::from_str::<C>(&text).map_err(|e| e.to_string())?
    };
    if config.limit() > MAX_LIMIT {
        return Err(format!("limit must be at most {MAX_LIMIT}"));
    }
    if !(1..=MAX_WINDOW_SECS).contains(&config.window_secs()) {
        return Err(format!(
            "window_secs must be between 1 and {MAX_WINDOW_SECS}"
        ));
    }
    Ok(config)
}

/// Above this many keys, keys with nothing left in their window are forgotten.
const PRUNE_ABOVE: usize = 4_096;

/// One limit: at most `limit` requests per `window` for a key; `limit == 0` admits everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    /// Requests admitted per window; 0 disables the limit.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

/// Per-key sliding windows under a vendor-specific configuration `C`.
#[derive(Debug)]
pub(crate) struct RateLimiter<C> {
    state: Mutex<State<C>>,
}

#[derive(Debug)]
struct State<C> {
    config: C,
    windows: HashMap<String, VecDeque<Instant>>,
}

impl<C: Copy> RateLimiter<C> {
    /// A limiter with `config` and no request recorded.
    pub(crate) fn new(config: C) -> RateLimiter<C> {
        RateLimiter {
            state: Mutex::new(State {
                config,
                windows: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration in force.
    pub(crate) fn config(&self) -> C {
        self.lock().config
    }

    /// Replaces the configuration and forgets every recorded request.
    pub(crate) fn set_config(&self, config: C) {
        let mut state = self.lock();
        state.config = config;
        state.windows.clear();
    }

    /// Forgets every recorded request (the configuration stays).
    pub(crate) fn clear(&self) {
        self.lock().windows.clear();
    }

    /// Admits or refuses one request. `key_of` maps the configuration to the request's key
    /// and limit, or `None` when the request is not limited. `Err` carries how long until
    /// the request would be admitted.
    pub(crate) fn check(
        &self,
        key_of: impl FnOnce(&C) -> Option<(String, Limit)>,
    ) -> Result<(), Duration> {
        self.check_at(Instant::now(), key_of)
    }

    fn check_at(
        &self,
        now: Instant,
        key_of: impl FnOnce(&C) -> Option<(String, Limit)>,
    ) -> Result<(), Duration> {
        let mut state = self.lock();
        let Some((key, limit)) = key_of(&state.config) else {
            return Ok(());
        };
        if limit.limit == 0 {
            return Ok(());
        }
        if state.windows.len() > PRUNE_ABOVE {
            state.windows.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.saturating_duration_since(*last) < limit.window)
            });
        }
        let times = state.windows.entry(key).or_default();
        while times
            .front()
            .is_some_and(|first| now.saturating_duration_since(*first) >= limit.window)
        {
            times.pop_front();
        }
        let cap = usize::try_from(limit.limit).unwrap_or(usize::MAX);
        if times.len() >= cap {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = limit
                .window
                .saturating_sub(now.saturating_duration_since(oldest));
            return Err(wait.max(Duration::from_millis(1)));
        }
        times.push_back(now);
        Ok(())
    }
}

/// Whole seconds to announce in `Retry-After` for a wait: rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: u32, secs: u64) -> Option<(String, Limit)> {
        Some((
            "k".to_owned(),
            Limit {
                limit: n,
                window: Duration::from_secs(secs),
            },
        ))
    }

    #[test]
    fn admits_up_to_the_limit_per_window() {
        let limiter = RateLimiter::new(());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(t0, |_| limit(3, 60)).is_ok());
        }
        let wait = limiter.check_at(t0, |_| limit(3, 60)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
        let later = t0 + Duration::from_secs(59);
        assert_eq!(
            limiter.check_at(later, |_| limit(3, 60)).unwrap_err(),
            Duration::from_secs(1)
        );
        assert!(limiter
            .check_at(t0 + Duration::from_secs(60), |_| limit(3, 60))
            .is_ok());
    }

    #[test]
    fn keys_are_independent_and_zero_is_unlimited() {
        let limiter = RateLimiter::new(());
        let t0 = Instant::now();
        let key = |k: &str| {
            Some((
                k.to_owned(),
                Limit {
                    limit: 1,
                    window: Duration::from_secs(10),
                },
            ))
        };
        assert!(limiter.check_at(t0, |_| key("a")).is_ok());
        assert!(limiter.check_at(t0, |_| key("a")).is_err());
        assert!(limiter.check_at(t0, |_| key("b")).is_ok());
        for _ in 0..10 {
            assert!(limiter.check_at(t0, |_| limit(0, 10)).is_ok());
            assert!(limiter.check_at(t0, |_| None).is_ok());
        }
        limiter.clear();
        assert!(limiter.check_at(t0, |_| key("a")).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
