//! The connections under [`super::HttpClient`]: hyper's pooled HTTP/1.1 client over rustls
//! (the webpki roots), direct or through the proxy the environment names.
//!
//! Proxies are read once, when the client is built, from `HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY` and `NO_PROXY` (or their lower-case forms), as curl reads them. An `https://`
//! destination is reached through an HTTP `CONNECT` tunnel and TLS inside it; an `http://`
//! one is asked of the proxy in absolute form, with the proxy's credentials (from its URL)
//! in `Proxy-Authorization`.
//!
//! Why not reqwest, which did all this before: per request it parsed the URL twice more (for
//! its redirect layer and for its response) and ran layers the vendors never need (redirects,
//! retries of its own): about a third of the instructions of an Atlas create (issue 10).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderValue;
use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tower_service::Service;

/// A request body: the whole of it, known before sending.
pub(super) type Body = http_body_util::Full<Bytes>;

/// The pooled client.
pub(super) type Pool = hyper_util::client::legacy::Client<Connector, Body>;

type BoxError = Box<dyn StdError + Send + Sync>;

/// How long pooled connections may sit idle.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Builds the pooled client: TCP_NODELAY, connections made within `connect_timeout`
/// (proxy handshake included), kept idle for 90 s, through `proxies` (in production
/// [`Matcher::from_env`]).
pub(super) fn pool(
    connect_timeout: Duration,
    user_agent: &HeaderValue,
    proxies: Matcher,
) -> Result<(Pool, Arc<Matcher>), rustls::Error> {
    let proxies = Arc::new(proxies);
    let connector = Connector::new(connect_timeout, user_agent.clone(), Arc::clone(&proxies))?;
    let pool = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .build(connector);
    Ok((pool, proxies))
}

/// The TLS settings of every vendor connection: the webpki roots, TLS 1.2 and 1.3, ALPN
/// `http/1.1`.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Makes the pool's connections: direct, or through the environment's proxy.
#[derive(Clone)]
pub(super) struct Connector {
    /// TCP, with TLS when the URI says `https` (also to reach an `https://` proxy).
    direct: HttpsConnector<HttpConnector>,
    tls: Arc<rustls::ClientConfig>,
    proxies: Arc<Matcher>,
    user_agent: HeaderValue,
    connect_timeout: Duration,
}

impl Connector {
    fn new(
        connect_timeout: Duration,
        user_agent: HeaderValue,
        proxies: Arc<Matcher>,
    ) -> Result<Self, rustls::Error> {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let tls = tls_config()?;
        Ok(Connector {
            direct: HttpsConnector::from((tcp, Arc::clone(&tls))),
            tls,
            proxies,
            user_agent,
            connect_timeout,
        })
    }
}

/// A connection that was not made in time.
#[derive(Debug)]
pub(super) struct ConnectTimedOut;

impl fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection not made in time")
    }
}

impl StdError for ConnectTimedOut {}

impl Service<Uri> for Connector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let this = self.clone();
        let timeout = self.connect_timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, this.connect(dst)).await {
                Ok(result) => result,
                Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}

impl Connector {
    async fn connect(mut self, dst: Uri) -> Result<Conn, BoxError> {
        let Some(proxy) = self.proxies.intercept(&dst) else {
            let io = Box::new(self.direct.call(dst).await?);
            return Ok(Conn::Direct { io, proxied: false });
        };
        if dst.scheme() != Some(&http::uri::Scheme::HTTPS) {
            // Plain HTTP: the proxy gets the request itself, in absolute form.
            let io = Box::new(self.direct.call(proxy.uri().clone()).await?);
            return Ok(Conn::Direct { io, proxied: true });
        }
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::USER_AGENT, self.user_agent.clone());
        let mut tunnel =
            Tunnel::new(proxy.uri().clone(), self.direct.clone()).with_headers(headers);
        if let Some(auth) = proxy.basic_auth() {
            tunnel = tunnel.with_auth(auth.clone());
        }
        let tunneled = tunnel.call(dst.clone()).await?;
        let host = dst.host().ok_or("the URL has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, TokioIo::new(tunneled))
            .await?;
        Ok(Conn::Tunneled(Box::new(TokioIo::new(tls))))
    }
}

type Tcp = TokioIo<TcpStream>;

/// One connection of the pool.
pub(super) enum Conn {
    /// To the vendor, or (`proxied`) to a proxy that is sent absolute-form requests.
    Direct {
        io: Box<MaybeHttpsStream<Tcp>>,
        proxied: bool,
    },
    /// TLS to the vendor inside a proxy's `CONNECT` tunnel.
    Tunneled(Box<TokioIo<tokio_rustls::client::TlsStream<TokioIo<MaybeHttpsStream<Tcp>>>>>),
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        match self {
            Conn::Direct { io, proxied } => io.connected().proxy(*proxied),
            Conn::Tunneled(_) => Connected::new(),
        }
    }
}

impl Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Direct { io, .. } => Pin::new(&mut **io).poll_read(cx, buf),
            Conn::Tunneled(io) => Pin::new(&mut **io).poll_read(cx, buf),
        }
    }
}

impl Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Direct { io, .. } => Pin::new(&mut **io).poll_write(cx, buf),
            Conn::Tunneled(io) => Pin::new(&mut **io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Direct { io, .. } => Pin::new(&mut **io).poll_write_vectored(cx, bufs),
            Conn::Tunneled(io) => Pin::new(&mut **io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Direct { io, .. } => io.is_write_vectored(),
            Conn::Tunneled(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Direct { io, .. } => Pin::new(&mut **io).poll_flush(cx),
            Conn::Tunneled(io) => Pin::new(&mut **io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Direct { io, .. } => Pin::new(&mut **io).poll_shutdown(cx),
            Conn::Tunneled(io) => Pin::new(&mut **io).poll_shutdown(cx),
        }
    }
}

/// The `Proxy-Authorization` a plain-HTTP request to `uri` carries: the credentials of the
/// proxy it goes through, if that proxy has any. (Tunnels carry theirs in `CONNECT`.)
pub(super) fn proxy_authorization(proxies: &Matcher, uri: &Uri) -> Option<HeaderValue> {
    if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        return None;
    }
    proxies.intercept(uri)?.basic_auth().cloned()
}
