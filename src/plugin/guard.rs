//! The guard around every RPC: a bug (a panic) in one request becomes an error diagnostic
//! for that request, and the process keeps serving Terraform.
//!
//! The release profile unwinds on panic (`panic = "unwind"`) for this: with `abort`, a bug
//! hit after a vendor created a key would kill the process before Terraform could save the
//! key, and every other request in flight would die with it. Unwinding costs a few hundred
//! KiB of unwind tables and nothing at run time until a panic happens.
//!
//! The panic hook logs only where the panic happened, never its message: messages can carry
//! values (a `Debug` of a request), and values can carry secrets.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::framework::Diagnostics;

/// Installs the panic hook: one error log line with the location of the panic.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown place".to_string());
        tracing::error!(location = %location, "keysmith hit a bug (panic); the request fails, the provider keeps serving");
    }));
}

/// Polls a future and turns a panic inside it into `Err` with the panic's location.
struct CatchUnwind<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// Runs `work` for RPC `rpc`; a panic becomes an error diagnostic.
pub(crate) async fn guarded<T>(
    rpc: &str,
    work: impl Future<Output = Result<T, Diagnostics>>,
) -> Result<T, Diagnostics> {
    let caught = CatchUnwind {
        inner: Box::pin(work),
    }
    .await;
    caught.unwrap_or_else(|()| {
        Err(Diagnostics::error(
            "Internal error in the keysmith provider",
            format!(
                "keysmith hit a bug while answering {rpc} (the provider's log has where). This request failed; nothing else was affected. Please report it."
            ),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_a_diagnostic_and_the_next_call_works() {
        let result: Result<u32, Diagnostics> = guarded("ApplyResourceChange", async {
            tokio::task::yield_now().await;
            let v: Vec<u32> = Vec::new();
            #[allow(clippy::indexing_slicing)]
            Ok(v[3])
        })
        .await;
        let diags = result.unwrap_err();
        assert!(diags.has_errors());
        assert!(diags.0[0].detail.contains("ApplyResourceChange"));
        let ok = guarded("ReadResource", async { Ok::<_, Diagnostics>(7) }).await;
        assert_eq!(ok.unwrap(), 7);
    }
}
