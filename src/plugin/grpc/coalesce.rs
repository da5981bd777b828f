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
//!
//! PING acknowledgements wait longer, as TCP's delayed ACKs do. grpc-go's client sends a
//! PING (its bandwidth estimator's) whenever an answer's DATA reaches it while none of its
//! PINGs is out: an apply of 300 keys brought two per key, each read and acknowledged in a
//! system call of its own (strace: 5 of the 12 system calls per key in the apply walk were
//! for PINGs). [`Coalesced`] sorts the frames h2 writes and keeps acknowledgements apart.
//! While a call is under way, answers are sure to follow: an acknowledgement waits
//! [`PONG_RIDE`], then goes out after the frames of the next write of anything else, so that
//! grpc-go reads those answers while its PING is still out and asks for no other. Had it gone
//! with the next answer at once, grpc-go would still ask for one PING every second answer,
//! most of them a wake-up of their own (strace, N = 300: 95 of the apply walk's 914 and 155
//! of the destroy walk's 844). It never waits longer than [`PONG_HOLD`], and not at all when
//! no call is under way (a client's keepalive PING on an idle connection).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How much is kept before it is written without waiting for a flush.
const HIGH_WATER: usize = 64 << 10;

/// The longest a PING acknowledgement waits for an answer to go out with: what TCP allows a
/// delayed ACK (RFC 1122 says under 500 ms; Linux and most stacks take at most 200 ms).
const PONG_HOLD: Duration = Duration::from_millis(200);

/// How long a PING acknowledgement waits before it may go out with the next write, while a
/// call is under way.
const PONG_RIDE: Duration = Duration::from_millis(150);

/// An HTTP/2 frame header's length (RFC 9113 §4.1).
const FRAME_HEAD: usize = 9;

/// The PING frame type, its ACK flag and its payload's length (RFC 9113 §6.7).
const PING: u8 = 0x6;
const ACK: u8 = 0x1;
const PING_LEN: usize = 8;

/// What a connection's task and its calls tell the stream it writes to.
#[derive(Default)]
pub(super) struct Activity {
    /// The polls of the connection's task.
    turns: AtomicU64,
    /// The calls under way.
    calls: AtomicUsize,
}

impl Activity {
    /// Counts a call as under way until the guard is dropped.
    pub(super) fn call(self: &Arc<Self>) -> CallUnderWay {
        self.calls.fetch_add(1, Ordering::Relaxed);
        CallUnderWay(Arc::clone(self))
    }
}

/// A call counted as under way, for as long as it is held.
pub(super) struct CallUnderWay(Arc<Activity>);

impl Drop for CallUnderWay {
    fn drop(&mut self) {
        self.0.calls.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts the polls of the future it wraps (the connection's task), so that a stream inside
/// can tell one turn of the runtime from the next.
pub(super) struct Turns<F> {
    inner: F,
    activity: Arc<Activity>,
}

impl<F> Turns<F> {
    /// `inner`, its polls counted on `activity`.
    pub(super) fn new(inner: F, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<F: Future + Unpin> Future for Turns<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.activity.turns.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A stream whose writes are kept until a flush, whose flushes wait for the next turn, and
/// whose PING acknowledgements wait for the next answer.
pub(super) struct Coalesced<T> {
    inner: T,
    /// Bytes taken and not yet written to `inner`.
    out: Vec<u8>,
    /// How much of `out` `inner` has taken.
    written: usize,
    /// The task the stream is written from, and its calls.
    activity: Arc<Activity>,
    /// The turn in which a flush was put off, if one is waiting.
    held_in: Option<u64>,
    /// Where h2's frames begin and end in what it writes.
    frames: Frames,
    /// PING acknowledgements taken and not yet written: they go after `out`.
    pongs: Vec<u8>,
    /// When the oldest of `pongs` was taken.
    pongs_since: Option<Instant>,
    /// Wakes the connection's task when `pongs` have waited long enough.
    pong_timer: Option<Pin<Box<Sleep>>>,
}

/// Follows the frames in the bytes h2 writes, which begin with its first frame (a server
/// sends no preface of its own) and may split a frame anywhere.
#[derive(Default)]
struct Frames {
    /// The header of the frame under way, as much of it as has come.
    head: [u8; FRAME_HEAD],
    /// How much of `head` has come; `FRAME_HEAD` once the frame's payload is under way.
    have: usize,
    /// How much of the frame's payload is still to come.
    rest: usize,
    /// Whether the frame under way is a PING acknowledgement.
    pong: bool,
}

impl Frames {
    /// Sorts `buf` into `out` and `pongs`, each frame whole to one of them.
    fn sort(&mut self, mut buf: &[u8], out: &mut Vec<u8>, pongs: &mut Vec<u8>) {
        while !buf.is_empty() {
            if self.have < FRAME_HEAD {
                let take = (FRAME_HEAD - self.have).min(buf.len());
                let (piece, rest) = buf.split_at(take);
                self.head[self.have..self.have + take].copy_from_slice(piece);
                self.have += take;
                buf = rest;
                if self.have < FRAME_HEAD {
                    return;
                }
                let [l0, l1, l2, kind, flags, ..] = self.head;
                self.rest = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
                self.pong = kind == PING && flags & ACK != 0 && self.rest == PING_LEN;
                let to = if self.pong { &mut *pongs } else { &mut *out };
                to.extend_from_slice(&self.head);
            } else {
                let take = self.rest.min(buf.len());
                let (piece, rest) = buf.split_at(take);
                let to = if self.pong { &mut *pongs } else { &mut *out };
                to.extend_from_slice(piece);
                self.rest -= take;
                buf = rest;
            }
            if self.rest == 0 {
                self.have = 0;
            }
        }
    }
}

impl<T> Coalesced<T> {
    /// `inner`, written from the task whose polls and calls `activity` counts.
    pub(super) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            out: Vec::new(),
            written: 0,
            activity,
            held_in: None,
            frames: Frames::default(),
            pongs: Vec::new(),
            pongs_since: None,
            pong_timer: None,
        }
    }

    /// Whether the PING acknowledgements kept, and nothing else, may wait for an answer;
    /// if so, the connection's task is woken when they have waited [`PONG_HOLD`].
    fn pongs_may_wait(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.out.is_empty() || self.activity.calls.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.wake_when_pongs_are_due(cx)
    }

    /// Whether the PING acknowledgements kept go out with what is written now: when no call
    /// is under way, or once they have waited [`PONG_RIDE`].
    fn pongs_ride(&self) -> bool {
        self.activity.calls.load(Ordering::Relaxed) == 0
            || self
                .pongs_since
                .and_then(|since| since.checked_add(PONG_RIDE))
                .is_none_or(|ride| Instant::now() >= ride)
    }

    /// If the PING acknowledgements kept have not yet waited [`PONG_HOLD`], makes sure the
    /// connection's task is woken when they have, and says so.
    fn wake_when_pongs_are_due(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(due) = self
            .pongs_since
            .and_then(|since| since.checked_add(PONG_HOLD))
        else {
            return false;
        };
        if Instant::now() >= due {
            return false;
        }
        // One timer serves every wait: it is set again only once it has gone off or would go
        // off too late, since setting it earlier than the runtime's next wake-up costs two
        // system calls (tokio wakes its driver to shorten the wait).
        match &mut self.pong_timer {
            Some(timer) if !timer.is_elapsed() && timer.deadline() <= due => {}
            Some(timer) => timer.as_mut().reset(due),
            None => self.pong_timer = Some(Box::pin(tokio::time::sleep_until(due))),
        }
        if let Some(timer) = &mut self.pong_timer {
            // Pending, since `due` is ahead: the wake-up is registered.
            let _ = timer.as_mut().poll(cx);
        }
        true
    }
}

impl<T: AsyncWrite + Unpin> Coalesced<T> {
    /// Writes everything kept to `inner`, the PING acknowledgements last if they may go
    /// ([`Self::pongs_ride`]) or `all` is asked for.
    fn poll_write_out(&mut self, cx: &mut Context<'_>, all: bool) -> Poll<io::Result<()>> {
        if !self.pongs.is_empty() && (all || self.pongs_ride()) {
            self.out.append(&mut self.pongs);
            self.pongs_since = None;
        }
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
            std::task::ready!(this.poll_write_out(cx, false))?;
        }
        let had_pongs = !this.pongs.is_empty();
        this.frames.sort(buf, &mut this.out, &mut this.pongs);
        if !had_pongs && !this.pongs.is_empty() {
            this.pongs_since = Some(Instant::now());
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.out.is_empty() && this.pongs.is_empty() {
            return Pin::new(&mut this.inner).poll_flush(cx);
        }
        // Checked at every flush, so also in the turn after a call was read: by then it has
        // started, and its acknowledgement waits for its answer.
        if this.pongs_may_wait(cx) {
            this.held_in = None;
            return Poll::Ready(Ok(()));
        }
        let now = this.activity.turns.load(Ordering::Relaxed);
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
        std::task::ready!(this.poll_write_out(cx, false))?;
        this.held_in = None;
        if !this.pongs.is_empty() {
            // Kept for a later write: go alone at the latest when they are due.
            this.wake_when_pongs_are_due(cx);
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.poll_write_out(cx, true))?;
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

    /// An HTTP/2 frame of `kind` with `flags` on stream 1 (0 for a PING), and `payload`.
    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let stream = if kind == PING { 0 } else { 1 };
        let mut frame = vec![len[1], len[2], len[3], kind, flags, 0, 0, 0, stream];
        frame.extend_from_slice(payload);
        frame
    }

    fn pong(payload: u8) -> Vec<u8> {
        frame(PING, ACK, &[payload; PING_LEN])
    }

    /// A stream on a pipe and its other end, counting writes, with `calls` under way.
    fn counted(
        calls: usize,
    ) -> (
        Coalesced<Counting<tokio::io::DuplexStream>>,
        tokio::io::DuplexStream,
        Arc<Activity>,
        Vec<CallUnderWay>,
    ) {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let activity = Arc::new(Activity::default());
        let under_way = (0..calls).map(|_| activity.call()).collect();
        let stream = Coalesced::new(
            Counting {
                inner: ours,
                writes: 0,
            },
            Arc::clone(&activity),
        );
        (stream, theirs, activity, under_way)
    }

    #[tokio::test]
    async fn a_flush_waits_for_the_next_turn_and_writes_once() {
        let (mut stream, mut theirs, activity, _calls) = counted(0);
        let (headers, data, trailers) = (frame(1, 4, b"h"), frame(0, 0, b"d"), frame(1, 5, b"t"));
        let mut polls = 0;
        Turns::new(
            Box::pin(poll_fn(|cx| {
                polls += 1;
                if polls == 1 {
                    // Turn 1: two writes and a flush, then another flush in the same poll.
                    for piece in [&headers, &data] {
                        assert!(Pin::new(&mut stream).poll_write(cx, piece).is_ready());
                    }
                    assert!(Pin::new(&mut stream).poll_flush(cx).is_pending());
                    assert!(Pin::new(&mut stream).poll_flush(cx).is_pending());
                    assert_eq!(stream.inner.writes, 0, "nothing is written in turn 1");
                    // Something else writes before the next turn: it joins.
                    assert!(Pin::new(&mut stream).poll_write(cx, &trailers).is_ready());
                }
                Pin::new(&mut stream).poll_flush(cx)
            })),
            activity,
        )
        .await
        .unwrap();
        assert_eq!(polls, 2, "woken once, for the next turn");
        assert_eq!(stream.inner.writes, 1);
        let mut got = vec![0; 30];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [headers, data, trailers].concat());
        // Nothing kept: a flush does not wait.
        assert!(
            poll_fn(|cx| Poll::Ready(Pin::new(&mut stream).poll_flush(cx)))
                .await
                .is_ready()
        );
    }

    /// Writes `frames` and flushes, over as many turns as the flush takes.
    async fn write_and_flush<T: AsyncWrite + Unpin>(
        stream: &mut Coalesced<T>,
        activity: &Arc<Activity>,
        frames: &[Vec<u8>],
    ) {
        let mut wrote = false;
        let flushing = poll_fn(|cx| {
            if !wrote {
                for frame in frames {
                    assert!(Pin::new(&mut *stream).poll_write(cx, frame).is_ready());
                }
                wrote = true;
            }
            Pin::new(&mut *stream).poll_flush(cx)
        });
        Turns::new(Box::pin(flushing), Arc::clone(activity))
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn ping_acks_wait_while_a_call_is_under_way_then_go_after_the_next_write() {
        let (mut stream, mut theirs, activity, calls) = counted(1);
        write_and_flush(&mut stream, &activity, &[pong(1)]).await;
        write_and_flush(&mut stream, &activity, &[pong(2)]).await;
        assert_eq!(stream.inner.writes, 0, "the acknowledgements wait");
        // An answer before they have waited PONG_RIDE goes without them.
        let first = [frame(1, 4, b"h"), frame(0, 0, b"d"), frame(1, 5, b"t")];
        write_and_flush(&mut stream, &activity, &first).await;
        assert_eq!(stream.inner.writes, 1);
        let mut got = vec![0; 30];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, first.concat());
        // Once they have, the next write takes them, after its own frames.
        tokio::time::advance(PONG_RIDE).await;
        let second = [frame(1, 4, b"H"), frame(0, 0, b"D"), frame(1, 5, b"T")];
        write_and_flush(&mut stream, &activity, &second).await;
        assert_eq!(stream.inner.writes, 2, "one write for the answer and both");
        let mut got = vec![0; 30 + 2 * 17];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [&second[..], &[pong(1), pong(2)]].concat().concat());
        drop(calls);
    }

    #[tokio::test]
    async fn ping_acks_go_with_an_answer_written_once_no_call_is_under_way() {
        let (mut stream, mut theirs, activity, calls) = counted(1);
        write_and_flush(&mut stream, &activity, &[pong(5)]).await;
        assert_eq!(stream.inner.writes, 0, "the acknowledgement waits");
        // The last call wrote its answer and ended: nothing else is coming.
        drop(calls);
        let answer = [frame(1, 4, b"h"), frame(0, 0, b"d"), frame(1, 5, b"t")];
        write_and_flush(&mut stream, &activity, &answer).await;
        assert_eq!(stream.inner.writes, 1);
        let mut got = vec![0; 30 + 17];
        tokio::time::timeout(Duration::from_secs(1), theirs.read_exact(&mut got))
            .await
            .expect("the acknowledgement came with the answer")
            .unwrap();
        assert_eq!(got, [&answer[..], &[pong(5)]].concat().concat());
    }

    #[tokio::test]
    async fn with_no_call_under_way_a_ping_ack_goes_at_the_next_turn() {
        let (mut stream, mut theirs, activity, _) = counted(0);
        write_and_flush(&mut stream, &activity, &[pong(7)]).await;
        assert_eq!(stream.inner.writes, 1);
        let mut got = vec![0; 17];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, pong(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_ping_ack_goes_alone_once_it_has_waited_the_hold() {
        let (mut stream, mut theirs, activity, _calls) = counted(1);
        let start = Instant::now();
        write_and_flush(&mut stream, &activity, &[pong(3)]).await;
        write_and_flush(&mut stream, &activity, &[pong(4)]).await;
        assert_eq!(stream.inner.writes, 0);
        // The connection's task is woken when the oldest has waited the hold; its flush
        // writes both.
        let woken = poll_fn(|cx| {
            let flushed = Pin::new(&mut stream).poll_flush(cx);
            if stream.inner.writes == 0 {
                return Poll::Pending;
            }
            flushed
        });
        Turns::new(Box::pin(woken), activity).await.unwrap();
        assert_eq!(start.elapsed(), PONG_HOLD);
        assert_eq!(stream.inner.writes, 1);
        let mut got = vec![0; 34];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [pong(3), pong(4)].concat());
    }

    #[test]
    fn frames_are_sorted_whole_however_the_writes_split_them() {
        use proptest::prelude::*;
        // Frames of every sort: PING acknowledgements, PINGs that ask for one, PING-sized
        // frames of other types, and DATA whose payload looks like an acknowledgement.
        let frames = prop::collection::vec(
            prop_oneof![
                any::<u8>().prop_map(pong),
                Just(frame(PING, 0, &[9; PING_LEN])),
                Just(frame(0x3, ACK, &[0; PING_LEN])),
                Just(frame(PING, ACK, &[0; 4])),
                prop::collection::vec(any::<u8>(), 0..40).prop_map(|p| frame(0, 0, &p)),
                Just(frame(0, 0, &pong(5))),
            ],
            0..12,
        );
        let cuts = prop::collection::vec(0usize..400, 0..12);
        proptest!(|(frames in frames, mut cuts in cuts)| {
            let all = frames.concat();
            cuts.iter_mut().for_each(|cut| *cut %= all.len() + 1);
            cuts.sort_unstable();
            let (mut sorted, mut out, mut pongs) = (Frames::default(), Vec::new(), Vec::new());
            let mut from = 0;
            for cut in cuts.into_iter().chain([all.len()]) {
                sorted.sort(&all[from..cut], &mut out, &mut pongs);
                from = cut;
            }
            let is_pong = |f: &&Vec<u8>| f[3] == PING && f[4] & ACK != 0 && f.len() == 17;
            let want_pongs: Vec<u8> = frames.iter().filter(is_pong).flatten().copied().collect();
            let want_out: Vec<u8> =
                frames.iter().filter(|f| !is_pong(f)).flatten().copied().collect();
            prop_assert_eq!(pongs, want_pongs);
            prop_assert_eq!(out, want_out);
        });
    }

    #[tokio::test]
    async fn a_slow_reader_gets_everything_in_order_and_shutdown_writes_what_is_kept() {
        // A pipe far smaller than what is written: writes go out in pieces as it drains.
        let (ours, mut theirs) = tokio::io::duplex(1000);
        let mut stream = Coalesced::new(ours, Arc::default());
        // The bytes are frames as far as the stream can tell: a PING acknowledgement's header
        // would have to come where a frame begins.
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
