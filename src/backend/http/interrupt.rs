//! A stop signal shared by every client of one provider.
//!
//! Terraform asks a provider to stop when the user presses Ctrl-C. What may stop at once and
//! what may not is decided here, where requests are sent: once [`Interrupt::trigger`] has been
//! called, no new request starts, every wait (backoff, `Retry-After`, client-side pacing) ends
//! at once, and a read in flight is abandoned; but a write already sent (POST, PATCH, PUT,
//! DELETE) is awaited, up to the request timeout, and its result is returned to the caller.
//! A key the vendor created therefore reaches Terraform's state with its secret even when the
//! user interrupts the apply that made it.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// The stop signal. Clones share it; the default one is not triggered.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(CancellationToken);

impl Interrupt {
    /// A signal not triggered yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Triggers it, for good: from now on requests are refused (see the module docs).
    pub fn trigger(&self) {
        self.0.cancel();
    }

    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes once it is triggered.
    pub async fn triggered(&self) {
        self.0.cancelled().await;
    }

    /// Runs `work` unless the signal comes first: `None` then (`work` is dropped).
    pub async fn unless_triggered<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            () = self.0.cancelled() => None,
            value = work => Some(value),
        }
    }

    /// Sleeps for `wait` unless the signal comes first: `false` then.
    pub async fn sleep(&self, wait: std::time::Duration) -> bool {
        self.unless_triggered(tokio::time::sleep(wait))
            .await
            .is_some()
    }
}
