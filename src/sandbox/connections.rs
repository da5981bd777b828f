//! Serving connections: the listener, each connection's stream, HTTP/1 through hyper, and the
//! timeouts that cut off slow and idle clients so the sandbox never holds thousands of
//! half-open connections.
//!
//! Per connection, a watchdog beside hyper's connection future closes the connection (drops
//! it, which closes the socket without an answer) when
//!
//! - **header timeout**: the first byte of a request head arrived `header` ago and hyper has
//!   not yet handed the whole head to the router (a client trickling or abandoning a request);
//! - **idle timeout**: no request is in flight and the connection moved no byte for `idle`
//!   (a silent client, a keep-alive connection nobody uses, a client that stopped reading its
//!   answer).
//!
//! A request in flight is never cut by the watchdog: a handler that takes long (injected
//! latency) is the server's doing, not the client's. A request body that stalls is bounded by
//! the body-read timeout of the router's first layer instead. These are Go's `net/http`
//! semantics (`ReadHeaderTimeout` from the first byte, `IdleTimeout` between requests); hyper's
//! own `header_read_timeout` also runs while a keep-alive connection waits for its next
//! request, which would close every pooled client connection after the header timeout.
//!
//! Fault injection drops a connection from inside a request through its [`Connection`]
//! (`ConnectInfo<Connection>` in the request's extensions): the [`DroppableStream`] then fails
//! every read and write, so hyper abandons the connection without writing a response.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::http::Request;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service as _;

/// How long clients may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// From the first byte of a request head to the whole head.
    pub header: Duration,
    /// No byte moved while no request is in flight; also a stalled request body.
    pub idle: Duration,
}

/// The listener the sandbox serves on.
#[derive(Debug)]
pub(crate) struct SandboxListener {
    inner: TcpListener,
}

impl SandboxListener {
    /// Wraps a bound TCP listener.
    pub(crate) fn new(inner: TcpListener) -> SandboxListener {
        SandboxListener { inner }
    }

    /// The next connection; accept errors (out of file descriptors and the like) are logged
    /// and retried after a short pause.
    async fn accept(&mut self) -> (DroppableStream, Connection) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = Connection {
                        dropped: Arc::new(AtomicBool::new(false)),
                        liveness: Arc::new(Liveness::new()),
                        peer,
                    };
                    let stream = DroppableStream {
                        inner: stream,
                        connection: connection.clone(),
                    };
                    return (stream, connection);
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// What a connection's watchdog knows: when it last moved a byte, whether a request head is
/// being received, and how many requests are in flight.
#[derive(Debug)]
struct Liveness {
    start: Instant,
    /// Milliseconds since `start` of the last byte read or written.
    last_io_ms: AtomicU64,
    /// Milliseconds since `start` (plus one, so 0 means none) of the first byte of the request
    /// head being received.
    head_since_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Liveness {
    fn new() -> Liveness {
        Liveness {
            start: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            head_since_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read(&self) {
        let now = self.now_ms();
        self.last_io_ms.store(now, Ordering::Release);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            // The first byte of a new request head (later bytes keep the first one's time).
            let _ = self.head_since_ms.compare_exchange(
                0,
                now.saturating_add(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    fn wrote(&self) {
        self.last_io_ms.store(self.now_ms(), Ordering::Release);
    }

    /// A request head was parsed and handed to the router.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since_ms.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// How long until the connection must be closed, or `None`: close it now.
    fn time_left(&self, timeouts: Timeouts) -> Option<Duration> {
        let now = self.now_ms();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut left = ms(timeouts.idle).max(1);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let head = self.head_since_ms.load(Ordering::Acquire);
            if head > 0 {
                let waited = now.saturating_sub(head - 1);
                left = left.min(ms(timeouts.header).checked_sub(waited)?);
            }
            let quiet = now.saturating_sub(self.last_io_ms.load(Ordering::Acquire));
            left = left.min(ms(timeouts.idle).checked_sub(quiet)?);
        }
        Some(Duration::from_millis(left.max(1)))
    }
}

/// A request in flight on a connection (counted until dropped).
struct InFlight(Arc<Liveness>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        // The answer was just produced: the idle clock starts now.
        self.0.wrote();
    }
}

/// Completes when the connection has been too slow or too quiet (see the module docs).
async fn watchdog(liveness: &Liveness, timeouts: Timeouts) {
    while let Some(left) = liveness.time_left(timeouts) {
        tokio::time::sleep(left).await;
    }
}

/// A TCP stream that records its activity and starts failing every read and write once dropped
/// through its [`Connection`].
#[derive(Debug)]
pub(crate) struct DroppableStream {
    inner: TcpStream,
    connection: Connection,
}

impl DroppableStream {
    fn check(&self) -> io::Result<()> {
        if self.connection.dropped.load(Ordering::Acquire) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection dropped by fault injection",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for DroppableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.connection.liveness.read();
        }
        polled
    }
}

impl AsyncWrite for DroppableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.connection.liveness.wrote();
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Per-connection information handed to requests (as `ConnectInfo<Connection>`): the peer, and
/// a way for a request to drop its own connection.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    dropped: Arc<AtomicBool>,
    liveness: Arc<Liveness>,
    peer: SocketAddr,
}

impl Connection {
    /// The client's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Makes every further read and write on the connection fail.
    pub(crate) fn drop_now(&self) {
        self.dropped.store(true, Ordering::Release);
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, asks every
/// connection to finish its request in flight and close, and returns once all are closed.
pub(crate) async fn serve(
    mut listener: SandboxListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Each connection task holds a receiver of `stop`; `closed` resolves when all are gone.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, connection) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        tokio::spawn(serve_connection(
            stream,
            connection,
            router.clone(),
            timeouts,
            stop_rx.clone(),
        ));
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(true);
    stop_tx.closed().await;
}

async fn serve_connection(
    stream: DroppableStream,
    connection: Connection,
    router: Router,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) {
    let liveness = connection.liveness.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut router = router.clone();
        let mut request = request.map(Body::new);
        request
            .extensions_mut()
            .insert(ConnectInfo(connection.clone()));
        let in_flight = connection.liveness.begin();
        async move {
            let response: Result<Response, Infallible> = router.call(request).await;
            drop(in_flight);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog does this job (see the module docs); hyper would need a timer for its own.
    builder.header_read_timeout(None);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                break;
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                conn.as_mut().graceful_shutdown();
                stopping = true;
            }
            () = watchdog(&liveness, timeouts) => {
                tracing::debug!("closing a slow or idle connection");
                break;
            }
        }
    }
}
