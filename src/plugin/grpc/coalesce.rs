//! A connection's writes, gathered into as few as the calls allow.
//!
//! h2 writes out what it has each time it has nothing more to do. Under strace, an apply,
//! plan and destroy of 50 keys wrote, on the plugin connection:
//! - an answer's headers and message, then its trailers, apart: h2 keeps a message of 256
//!   bytes or more out of its buffer when the stream says it writes vectors (tokio-rustls
//!   does), and writes the buffer before it takes the next frame; and answers ready together
//!   one write each;
//! - the PING acknowledgement grpc-go asks for after each answer it reads, alone, just before
//!   the answer to the request that came in with the PING (107 of the 1,835 system calls).
//!
//! Every write is a TLS record, a system call and a wake-up of Terraform, about as dear as
//! the handler behind the answer (issue 10). [`Coalesced`] says it cannot write vectors, so
//! h2 copies messages under 1 KiB into its buffer (rustls copies every write into its records
//! anyway). It keeps what h2 writes, and holds a flush until the connection's task is polled
//! again: the calls just read run in between, and their answers go out in the same write.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How much is kept before it is written without waiting for a flush.
const HIGH_WATER: usize = 64 << 10;

/// Counts the polls of the future it wraps (the connection's task), so that a stream inside
/// can tell one turn of the runtime from the next.
pub(super) struct Turns<F> {
    inner: F,
    turn: Arc<AtomicU64>,
}

impl<F> Turns<F> {
    /// `inner`, counted on `turn`.
    pub(super) fn new(inner: F, turn: Arc<AtomicU64>) -> Self {
        Self { inner, turn }
    }
}

impl<F: Future + Unpin> Future for Turns<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.turn.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A stream whose writes are kept until a flush, and whose flushes wait for the next turn.
pub(super) struct Coalesced<T> {
    inner: T,
    /// Bytes taken and not yet written to `inner`.
    out: Vec<u8>,
    /// How much of `out` `inner` has taken.
    written: usize,
    /// The polls of the task the stream is written from.
    turn: Arc<AtomicU64>,
    /// The turn in which a flush was put off, if one is waiting.
    held_in: Option<u64>,
}

impl<T> Coalesced<T> {
    /// `inner`, written from the task whose polls `turn` counts.
    pub(super) fn new(inner: T, turn: Arc<AtomicU64>) -> Self {
        Self {
            inner,
            out: Vec::new(),
            written: 0,
            turn,
            held_in: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> Coalesced<T> {
    /// Writes everything kept to `inner`.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.out.len() {
            let rest = self.out.get(self.written..).unwrap_or_default();
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.out.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesced<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesced<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.out.len() >= HIGH_WATER {
            std::task::ready!(this.poll_write_out(cx))?;
        }
        this.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.out.is_empty() {
            return Pin::new(&mut this.inner).poll_flush(cx);
        }
        let now = this.turn.load(Ordering::Relaxed);
        match this.held_in {
            None => {
                // Held until the task's next poll, which this wake-up brings after the
                // tasks already woken (the calls just read) have run.
                this.held_in = Some(now);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // Polled again within the same turn: the wake-up is already on its way.
            Some(turn) if turn == now => return Poll::Pending,
            Some(_) => {}
        }
        std::task::ready!(this.poll_write_out(cx))?;
        this.held_in = None;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Counts the writes `inner` is asked for.
    struct Counting<T> {
        inner: T,
        writes: usize,
    }

    impl<T: AsyncWrite + Unpin> AsyncWrite for Counting<T> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes += 1;
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    #[tokio::test]
    async fn a_flush_waits_for_the_next_turn_and_writes_once() {
        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        let turn = Arc::new(AtomicU64::new(0));
        let mut stream = Coalesced::new(
            Counting {
                inner: ours,
                writes: 0,
            },
            Arc::clone(&turn),
        );
        let mut polls = 0;
        Turns::new(
            Box::pin(poll_fn(|cx| {
                polls += 1;
                if polls == 1 {
                    // Turn 1: two writes and a flush, then another flush in the same poll.
                    for piece in [&b"ping ack, "[..], b"answer"] {
                        assert!(Pin::new(&mut stream).poll_write(cx, piece).is_ready());
                    }
                    assert!(Pin::new(&mut stream).poll_flush(cx).is_pending());
                    assert!(Pin::new(&mut stream).poll_flush(cx).is_pending());
                    assert_eq!(stream.inner.writes, 0, "nothing is written in turn 1");
                    // Something else writes before the next turn: it joins.
                    assert!(Pin::new(&mut stream)
                        .poll_write(cx, b", trailers")
                        .is_ready());
                }
                Pin::new(&mut stream).poll_flush(cx)
            })),
            Arc::clone(&turn),
        )
        .await
        .unwrap();
        assert_eq!(polls, 2, "woken once, for the next turn");
        assert_eq!(stream.inner.writes, 1);
        let mut got = vec![0; 26];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"ping ack, answer, trailers");
        // Nothing kept: a flush does not wait.
        assert!(
            poll_fn(|cx| Poll::Ready(Pin::new(&mut stream).poll_flush(cx)))
                .await
                .is_ready()
        );
    }

    #[tokio::test]
    async fn a_slow_reader_gets_everything_in_order_and_shutdown_writes_what_is_kept() {
        // A pipe far smaller than what is written: writes go out in pieces as it drains.
        let (ours, mut theirs) = tokio::io::duplex(1000);
        let mut stream = Coalesced::new(ours, Arc::default());
        let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).await.unwrap();
            got
        });
        for piece in sent.chunks(7_000) {
            stream.write_all(piece).await.unwrap();
        }
        stream.write_all(b"last").await.unwrap();
        stream.shutdown().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(&got[..sent.len()], &sent[..]);
        assert_eq!(&got[sent.len()..], b"last");
    }

    #[test]
    fn h2_is_told_no_vectors() {
        let (ours, _theirs) = tokio::io::duplex(16);
        assert!(!Coalesced::new(ours, Arc::default()).is_write_vectored());
    }
}
