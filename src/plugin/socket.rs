//! The plugin's end of Terraform's Unix socket, woken only when there is something to read.
//!
//! A Unix stream socket tells epoll "writable" every time the peer reads from it (the
//! kernel's write-space callback runs whenever a sent buffer is freed), not only when a
//! full socket gets room again. tokio registers its sockets for both directions, so each
//! time Terraform read one of our answers the provider woke, found nothing to do and slept
//! again: two of every five wake-ups of an apply walk (5.7 voluntary context switches per
//! key before, 3.3 after), each a context switch, an `epoll_wait` and a turn of the runtime.
//!
//! [`PluginSocket`] registers the socket for reading only and writes straight away. Only a
//! write that finds the socket full (an answer larger than its buffer, or a reader that
//! fell behind) registers a duplicate of the descriptor for writability, and that second
//! registration is dropped again once a write goes through without waiting.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A connected Unix stream registered with the runtime for readability only.
#[derive(Debug)]
pub struct PluginSocket {
    /// The socket itself; every read and write goes through it.
    socket: AsyncFd<UnixStream>,
    /// A duplicate of the descriptor registered for writability, present only while a write
    /// is waiting for room.
    room: Option<AsyncFd<UnixStream>>,
}

impl PluginSocket {
    /// Takes over a connection accepted by tokio's listener.
    ///
    /// # Errors
    /// When the socket cannot be moved out of tokio's registration or registered again.
    pub fn new(stream: tokio::net::UnixStream) -> io::Result<Self> {
        let stream = stream.into_std()?;
        stream.set_nonblocking(true)?;
        Ok(Self {
            socket: register(stream, Interest::READABLE)?,
            room: None,
        })
    }

    /// Writes with `write` now, or once the socket has room.
    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&UnixStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        match retrying_interrupts(|| write(self.socket.get_ref())) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => {
                self.room = None;
                return Poll::Ready(done);
            }
        }
        let Self { socket, room } = self;
        let room = match room {
            Some(room) => room,
            None => room.insert(register(socket.get_ref().try_clone()?, Interest::WRITABLE)?),
        };
        loop {
            let mut guard = ready!(room.poll_write_ready(cx))?;
            if let Ok(done) = guard.try_io(|_| retrying_interrupts(|| write(socket.get_ref()))) {
                return Poll::Ready(done);
            }
        }
    }
}

/// Registers `stream` with the runtime for `interest` only.
///
/// tokio deprecated this safe constructor in favour of an `unsafe` one because, for an
/// arbitrary `T`, it cannot know that `as_raw_fd` keeps naming the same open descriptor.
/// A `UnixStream` owned by the `AsyncFd` does (it is only ever lent out as `&UnixStream`,
/// and its descriptor closes when the `AsyncFd` drops it), and this crate forbids `unsafe`.
#[allow(deprecated)]
fn register(stream: UnixStream, interest: Interest) -> io::Result<AsyncFd<UnixStream>> {
    AsyncFd::with_interest(stream, interest)
}

/// Runs `io` again while it is interrupted by a signal.
fn retrying_interrupts<T>(mut io: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match io() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            done => return done,
        }
    }
}

impl AsyncRead for PluginSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let mut guard = ready!(this.socket.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let room = unfilled.len();
            match guard.try_io(|socket| retrying_interrupts(|| socket.get_ref().read(unfilled))) {
                Ok(Ok(n)) => {
                    // A short read emptied the socket: wait for the next edge rather than
                    // learn it from a read that would block (as tokio's own sockets do).
                    if n > 0 && n < room {
                        guard.clear_ready();
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PluginSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |mut socket| socket.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |mut socket| socket.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Every write goes straight to the socket: nothing is held back.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.socket.get_ref().shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            done => done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn pair() -> (PluginSocket, tokio::net::UnixStream) {
        let (ours, theirs) = tokio::net::UnixStream::pair().expect("socket pair");
        (PluginSocket::new(ours).expect("register"), theirs)
    }

    #[tokio::test]
    async fn reads_and_writes_both_ways() {
        let (mut ours, mut theirs) = pair();
        theirs.write_all(b"request").await.expect("peer writes");
        let mut got = [0u8; 7];
        ours.read_exact(&mut got).await.expect("we read");
        assert_eq!(&got, b"request");
        ours.write_all(b"answer").await.expect("we write");
        let mut got = [0u8; 6];
        theirs.read_exact(&mut got).await.expect("peer reads");
        assert_eq!(&got, b"answer");
    }

    /// A message far larger than the socket's buffer must wait for room, and arrive whole
    /// and in order once the peer reads.
    #[tokio::test]
    async fn a_write_larger_than_the_buffer_waits_for_room() {
        let (mut ours, mut theirs) = pair();
        let message: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let expected = message.clone();
        let reader = tokio::spawn(async move {
            // Let the writer fill the socket first, so that it must wait for room.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let mut got = vec![0u8; expected.len()];
            theirs.read_exact(&mut got).await.expect("peer reads");
            (got == expected, theirs)
        });
        // The socket holds a few hundred KiB: the writer must wait for the reader, and a
        // wait that is never woken fails here instead of hanging.
        tokio::time::timeout(std::time::Duration::from_secs(10), ours.write_all(&message))
            .await
            .expect("the writer was never woken")
            .expect("we write");
        let (intact, _theirs) = reader.await.expect("reader");
        assert!(intact, "the message arrived changed");
        ours.write_all(b"next")
            .await
            .expect("a write that does not wait");
        assert!(ours.room.is_none(), "the writability registration was kept");
    }

    /// How often the thread that runs `stream`'s runtime wakes while it waits to read and
    /// the peer reads what it wrote.
    fn wake_ups_while_the_peer_reads<S>(register: fn(tokio::net::UnixStream) -> S) -> u64
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                ours.set_nonblocking(true).expect("nonblocking");
                let mut stream = register(tokio::net::UnixStream::from_std(ours).expect("tokio"));
                for _ in 0..20 {
                    stream.write_all(&[1u8; 1024]).await.expect("we write");
                }
                let tid = std::fs::read_link("/proc/thread-self").expect("thread-self");
                tid_tx.send(tid).expect("send tid");
                // Sleep in epoll until the peer sends its one byte.
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await.expect("we read");
            });
        });
        let status = Path::new("/proc")
            .join(tid_rx.recv().expect("tid"))
            .join("status");
        let switches = || {
            let text = std::fs::read_to_string(&status).expect("thread status");
            text.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .expect("voluntary_ctxt_switches")
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        let before = switches();
        let mut theirs = theirs;
        let mut chunk = [0u8; 1024];
        for _ in 0..20 {
            theirs.read_exact(&mut chunk).expect("peer reads");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let after = switches();
        theirs.write_all(b"x").expect("peer writes");
        server.join().expect("server thread");
        after - before
    }

    /// The peer reading our answers must not wake the provider (tokio's own socket does, on
    /// every read: the control below shows this kernel behaves so).
    #[test]
    fn the_peer_reading_our_answers_does_not_wake_us() {
        let tokio_wakes = wake_ups_while_the_peer_reads(|s| s);
        assert!(
            tokio_wakes >= 10,
            "control: tokio's socket woke only {tokio_wakes} times for 20 reads by the peer"
        );
        let ours = wake_ups_while_the_peer_reads(|s| PluginSocket::new(s).expect("register"));
        assert!(
            ours <= 2,
            "woken {ours} times while the peer read 20 answers"
        );
    }

    #[tokio::test]
    async fn the_peer_closing_reads_as_the_end() {
        let (mut ours, theirs) = pair();
        drop(theirs);
        let mut rest = Vec::new();
        ours.read_to_end(&mut rest).await.expect("end of stream");
        assert!(rest.is_empty());
        ours.shutdown().await.expect("shutdown after the peer left");
    }
}
