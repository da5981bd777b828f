//! The HTTP layer every backend client shares.
//!
//! - [`HttpClient`]: one pooled hyper client per configured backend (rustls, connection
//!   reuse, the environment's proxies, the provider's `request_timeout` and User-Agent; see
//!   `transport`), bound to one vendor and base URL.
//! - [`HttpClient::send`]: sends a [`Request`] with retries. [`RetryPolicy`] decides which
//!   failures may be sent again: idempotent requests (GET, DELETE, absolute PATCH/PUT) on 429,
//!   502, 503, 504 and transport errors, creates (POST) only when the server provably did not
//!   act (429, connection never established). Waits grow exponentially with jitter and honour
//!   `Retry-After` ([`Backoff`]). A create that failed in a way that leaves its effect unknown
//!   (timeout, reset, 5xx, an unreadable success) comes back as a [`SendError`] with `ambiguous`
//!   set, so the caller can reconcile instead of re-posting.
//! - [`Interrupt`]: the provider's stop signal (Ctrl-C): no new request starts, waits end, reads
//!   in flight are abandoned, writes already sent are awaited.
//! - Bounds: a response body over [`MAX_BODY`] is an error naming the endpoint, never read
//!   whole into memory.
//! - [`Authenticator`]: how a request gets its `Authorization` header, with a hook for 401
//!   challenges (HTTP Digest, expired bearer tokens). [`NoAuth`], [`BearerAuth`] and
//!   [`BasicAuth`] cover the simple schemes.
//! - [`error_from_response`]: the one place where an HTTP status and body become a
//!   [`BackendError`], with a vendor hook ([`ErrorParser`]) for the vendor's JSON error shape.
//!   Vendor text is cleaned and every secret the client knows ([`Redactor`]) is redacted.
//!
//! Secrets never reach logs or error texts: logs (`tracing`, debug/trace) carry the vendor,
//! method, path (never the query string), status, attempt and timing, never headers or bodies;
//! transport errors are stripped of their URL; bodies of responses marked
//! [`Request::sensitive_response`] are never quoted; vendor text is redacted.

mod auth;
mod interrupt;
mod redact;
mod request;
mod retry;
mod transport;
mod vendor_error;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, PROXY_AUTHORIZATION, USER_AGENT,
};
pub use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Body as _;
use hyper_util::client::proxy::matcher::Matcher;
use time::OffsetDateTime;
pub use url::Url;

pub use auth::{sensitive_header, AuthRequest, Authenticator, BasicAuth, BearerAuth, NoAuth};
pub use interrupt::Interrupt;
pub use redact::{strip_escapes, Redactor, REDACTED, VENDOR_TEXT_MAX};
pub use request::{Request, Response};
pub use retry::{retry_after, Backoff, RetryPolicy};
pub use vendor_error::{error_from_response, excerpt, ErrorContext, ErrorParser, VendorError};

use super::{BackendError, Secret};

/// The largest response body read, 16 MiB; a larger one is an error naming the endpoint.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Settings from the provider block that apply to every backend.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Retries of requests that are safe to repeat.
    pub max_retries: u32,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// The User-Agent header.
    pub user_agent: String,
    /// The provider's stop signal.
    pub interrupt: Interrupt,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_retries: 5,
            request_timeout: Duration::from_secs(30),
            user_agent: concat!("terraform-provider-keysmith/", env!("CARGO_PKG_VERSION"))
                .to_string(),
            interrupt: Interrupt::default(),
        }
    }
}

/// A failed [`HttpClient::send`]: the error, and whether a create may nevertheless have
/// taken effect on the server.
#[derive(Debug)]
pub struct SendError {
    /// What went wrong.
    pub error: BackendError,
    /// `true` when a [`RetryPolicy::Create`] request failed after the server may have acted
    /// on it (timeout, reset, 5xx, an unreadable success): the caller should reconcile rather
    /// than re-post.
    pub ambiguous: bool,
}

impl SendError {
    /// An error after which the server may have acted on the create.
    pub fn ambiguous(error: BackendError) -> Self {
        SendError {
            error,
            ambiguous: true,
        }
    }
}

impl From<SendError> for BackendError {
    fn from(e: SendError) -> Self {
        e.error
    }
}

impl From<BackendError> for SendError {
    fn from(error: BackendError) -> Self {
        SendError {
            error,
            ambiguous: false,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for SendError {}

/// Most 401 re-sends one request may make (Digest: challenge, then one re-challenge).
const MAX_AUTH_ROUNDS: u32 = 3;

/// An HTTP client bound to one vendor and base URL. Cloning is cheap and shares the
/// connection pool, the stop signal and the redactor.
#[derive(Clone)]
pub struct HttpClient {
    pool: transport::Pool,
    proxies: Arc<Matcher>,
    user_agent: HeaderValue,
    timeout: Duration,
    base: Url,
    vendor: &'static str,
    max_retries: u32,
    backoff: Backoff,
    error_parser: Option<ErrorParser>,
    interrupt: Interrupt,
    redactor: Arc<Redactor>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("vendor", &self.vendor)
            .field("base_url", &self.base.as_str())
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// Checks the settings every client is built from: a request timeout above zero, a
/// User-Agent that can be sent.
fn checked_settings(
    vendor: &'static str,
    settings: &HttpSettings,
) -> Result<HeaderValue, BackendError> {
    if settings.request_timeout.is_zero() {
        return Err(BackendError::Config {
            vendor,
            message: "request_timeout must be greater than zero".into(),
        });
    }
    HeaderValue::from_str(&settings.user_agent).map_err(|_| BackendError::Config {
        vendor,
        message: "the User-Agent contains characters that cannot be sent in an HTTP header".into(),
    })
}

/// Checks a base URL: absolute `http` or `https` with a host, no credentials, query or
/// fragment. A trailing `/` is ignored; a path prefix is kept.
pub fn parse_base_url(vendor: &'static str, base_url: &str) -> Result<Url, BackendError> {
    let bad = |why: &str| BackendError::Config {
        vendor,
        message: format!("base_url {why}"),
    };
    let url = Url::parse(base_url.trim()).map_err(|e| bad(&format!("is not a valid URL: {e}")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(bad("must start with https:// or http://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    Ok(url)
}

/// What one attempt came to.
enum Outcome {
    /// The server answered with a body of at most [`MAX_BODY`].
    Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    /// The server answered with a larger body, which was not read.
    TooLarge { status: StatusCode },
    /// The request failed in transport; `reached` when the server may have seen it.
    Transport {
        error: TransportError,
        reached: bool,
    },
}

impl HttpClient {
    /// A client for `vendor` at `base_url` with its own connection pool, built from
    /// `settings`: the request timeout bounds each attempt, answer included; connections are
    /// made within the smaller of 10 s and that timeout (see [`parse_base_url`]). Redirects
    /// are never followed: an API that redirects is misconfigured, and following would carry
    /// credentials elsewhere.
    pub fn new(
        vendor: &'static str,
        base_url: &str,
        settings: &HttpSettings,
    ) -> Result<Self, BackendError> {
        Self::with_proxies(vendor, base_url, settings, Matcher::from_env())
    }

    /// [`HttpClient::new`] with the proxies given rather than read from the environment.
    fn with_proxies(
        vendor: &'static str,
        base_url: &str,
        settings: &HttpSettings,
        proxies: Matcher,
    ) -> Result<Self, BackendError> {
        let base = parse_base_url(vendor, base_url)?;
        let user_agent = checked_settings(vendor, settings)?;
        let connect_timeout = settings.request_timeout.min(Duration::from_secs(10));
        let (pool, proxies) =
            transport::pool(connect_timeout, &user_agent, proxies).map_err(|e| {
                BackendError::Config {
                    vendor,
                    message: format!("cannot build the HTTP client: {e}"),
                }
            })?;
        Ok(HttpClient {
            pool,
            proxies,
            user_agent,
            timeout: settings.request_timeout,
            base,
            vendor,
            max_retries: settings.max_retries,
            backoff: Backoff::default(),
            error_parser: None,
            interrupt: settings.interrupt.clone(),
            redactor: Arc::default(),
        })
    }

    /// Sets the vendor's error-body hook.
    pub fn with_error_parser(mut self, parser: ErrorParser) -> Self {
        self.error_parser = Some(parser);
        self
    }

    /// Sets the backoff timing (tests shorten it).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the stop signal.
    pub fn with_interrupt(mut self, interrupt: Interrupt) -> Self {
        self.interrupt = interrupt;
        self
    }

    /// The vendor name.
    pub fn vendor(&self) -> &'static str {
        self.vendor
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The retries allowed for safe requests.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The backoff timing.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The stop signal.
    pub fn interrupt(&self) -> &Interrupt {
        &self.interrupt
    }

    /// The secrets this client redacts from vendor text.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Remembers a secret the vendor issued, so that it is redacted from vendor text.
    pub fn remember_secret(&self, secret: &Secret) {
        self.redactor.add(secret.expose());
    }

    /// Sleeps for `wait` unless the provider is stopped first, which is then an
    /// [`BackendError::Interrupted`] saying what was about to happen.
    pub async fn pause(&self, wait: Duration, before: &str) -> Result<(), BackendError> {
        if self.interrupt.sleep(wait).await {
            Ok(())
        } else {
            Err(self.interrupted(&format!("stopped while waiting before {before}")))
        }
    }

    /// The error of a request refused or abandoned because the provider was stopped.
    pub fn interrupted(&self, message: &str) -> BackendError {
        BackendError::Interrupted {
            vendor: self.vendor,
            message: message.to_string(),
        }
    }

    /// The full URL of `req`.
    pub fn url_of(&self, req: &Request) -> Url {
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/');
        let path = if req.path.starts_with('/') {
            format!("{prefix}{}", req.path)
        } else {
            format!("{prefix}/{}", req.path)
        };
        url.set_path(&path);
        if req.query.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut()
                .clear()
                .extend_pairs(req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        url
    }

    /// Sends `req` with retries and authentication, and reads the whole body (at most
    /// [`MAX_BODY`]). A non-2xx final status becomes an error through
    /// [`error_from_response`]. Once the provider is stopped, no attempt starts and every
    /// wait ends; a read in flight is abandoned, a write in flight is awaited.
    pub async fn send(
        &self,
        req: &Request,
        auth: &dyn Authenticator,
    ) -> Result<Response, SendError> {
        let url = self.url_of(req);
        let uri = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let log_path = url.path().to_string();
        let endpoint = format!("{} {log_path}", req.method);
        let auth_req = AuthRequest {
            method: &req.method,
            uri: &uri,
            body: req.body.as_deref(),
        };
        let is_read = matches!(req.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let mut attempt: u32 = 0;
        let mut auth_round: u32 = 0;
        loop {
            attempt += 1;
            if self.interrupt.is_triggered() {
                return Err(self.interrupted(&format!("{endpoint} was not sent")).into());
            }
            let authorization = match self
                .interrupt
                .unless_triggered(auth.authorize(self, &auth_req))
                .await
            {
                Some(result) => result?,
                None => return Err(self.interrupted(&format!("{endpoint} was not sent")).into()),
            };
            let started = Instant::now();
            tracing::debug!(
                vendor = self.vendor,
                method = %req.method,
                path = %log_path,
                attempt,
                "http request"
            );
            let attempt_future = self.attempt(req, &url, authorization.as_ref());
            let outcome = if is_read {
                match self.interrupt.unless_triggered(attempt_future).await {
                    Some(outcome) => outcome,
                    None => {
                        return Err(self
                            .interrupted(&format!("{endpoint} was abandoned"))
                            .into())
                    }
                }
            } else {
                // A write already sent is awaited: its result must reach the caller.
                attempt_future.await
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let (status, headers, body) = match outcome {
                Outcome::Answer {
                    status,
                    headers,
                    body,
                } => (status, headers, body),
                Outcome::TooLarge { status } => {
                    tracing::debug!(
                        vendor = self.vendor,
                        method = %req.method,
                        path = %log_path,
                        status = status.as_u16(),
                        "response body too large"
                    );
                    return Err(SendError {
                        error: BackendError::BadResponse {
                            vendor: self.vendor,
                            status: status.as_u16(),
                            message: format!(
                                "the answer to {endpoint} is larger than {} MiB; keysmith stopped reading it",
                                MAX_BODY / (1024 * 1024)
                            ),
                        },
                        ambiguous: req.retry.ambiguous_answer(status.as_u16()),
                    });
                }
                Outcome::Transport { error, reached } => {
                    let message = transport_message(&error);
                    tracing::debug!(
                        vendor = self.vendor,
                        method = %req.method,
                        path = %log_path,
                        attempt,
                        elapsed_ms,
                        error = %message,
                        "http transport error"
                    );
                    if req.retry.retries_transport(reached) && attempt <= self.max_retries {
                        let wait = self.backoff.delay(attempt, None);
                        self.pause(wait, &format!("retrying {endpoint}")).await?;
                        continue;
                    }
                    return Err(SendError {
                        error: BackendError::Transport {
                            vendor: self.vendor,
                            message,
                        },
                        ambiguous: req.retry.ambiguous_transport(reached),
                    });
                }
            };
            tracing::debug!(
                vendor = self.vendor,
                method = %req.method,
                path = %log_path,
                status = status.as_u16(),
                attempt,
                elapsed_ms,
                "http response"
            );
            if status == StatusCode::UNAUTHORIZED
                && auth_round < MAX_AUTH_ROUNDS
                && auth
                    .on_unauthorized(&auth_req, authorization.as_ref(), &headers, auth_round)
                    .await
            {
                auth_round += 1;
                attempt -= 1;
                tracing::debug!(
                    vendor = self.vendor,
                    method = %req.method,
                    path = %log_path,
                    round = auth_round,
                    "answering an authentication challenge"
                );
                continue;
            }
            if status.is_success() {
                return Ok(Response {
                    status,
                    headers,
                    body,
                    vendor: self.vendor,
                    sensitive: req.sensitive_response,
                    attempts: attempt,
                    redactor: Arc::clone(&self.redactor),
                });
            }
            let code = status.as_u16();
            if req.retry.retries_status(code) && attempt <= self.max_retries {
                let wait = self.backoff.delay(attempt, retry_after(&headers));
                tracing::debug!(
                    vendor = self.vendor,
                    method = %req.method,
                    path = %log_path,
                    status = code,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "retrying"
                );
                self.pause(wait, &format!("retrying {endpoint}")).await?;
                continue;
            }
            let error = vendor_error::classify(
                self.vendor,
                status,
                &headers,
                &body,
                &ErrorContext {
                    what: req.what.as_deref().unwrap_or(&log_path),
                    parser: self.error_parser,
                    attempts: attempt,
                    redactor: &self.redactor,
                },
                !req.route_may_be_gone,
            );
            return Err(SendError {
                error,
                ambiguous: req.retry.ambiguous_answer(code),
            });
        }
    }

    /// Sends one attempt and reads its body, up to [`MAX_BODY`], within the request
    /// timeout.
    async fn attempt(
        &self,
        req: &Request,
        url: &Url,
        authorization: Option<&HeaderValue>,
    ) -> Outcome {
        let request = match self.request(req, url, authorization) {
            Ok(request) => request,
            Err(error) => {
                return Outcome::Transport {
                    error,
                    reached: false,
                }
            }
        };
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(outcome) => outcome,
            // The request may have been sent: whether the server acted is unknown.
            Err(_) => Outcome::Transport {
                error: TransportError::TimedOut,
                reached: true,
            },
        }
    }

    /// The hyper request of one attempt: `req`'s headers, then the client's defaults where
    /// `req` has none (User-Agent, `Accept: */*`), the authorization, and the proxy's.
    fn request(
        &self,
        req: &Request,
        url: &Url,
        authorization: Option<&HeaderValue>,
    ) -> Result<http::Request<transport::Body>, TransportError> {
        let uri = http::Uri::try_from(url.as_str()).map_err(|_| TransportError::BadUrl)?;
        let mut headers = req.headers.clone();
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.user_agent.clone());
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, value.clone());
        }
        if let Some(value) = transport::proxy_authorization(&self.proxies, &uri) {
            headers.insert(PROXY_AUTHORIZATION, value);
        }
        let body = req
            .body
            .clone()
            .map(|b| transport::Body::new(Bytes::from(b)))
            .unwrap_or_default();
        let mut request = http::Request::new(body);
        *request.method_mut() = req.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Sends `request` and reads its answer's body, up to [`MAX_BODY`].
    async fn exchange(&self, request: http::Request<transport::Body>) -> Outcome {
        let resp = match self.pool.request(request).await {
            Ok(resp) => resp,
            Err(error) => {
                let reached = !error.is_connect();
                return Outcome::Transport {
                    error: TransportError::Send(error),
                    reached,
                };
            }
        };
        let (parts, mut incoming) = resp.into_parts();
        let status = parts.status;
        if incoming
            .size_hint()
            .exact()
            .is_some_and(|len| len > MAX_BODY as u64)
        {
            return Outcome::TooLarge { status };
        }
        let mut body = Vec::new();
        while let Some(frame) = incoming.frame().await {
            match frame {
                Ok(frame) => {
                    let Ok(chunk) = frame.into_data() else {
                        continue; // trailers
                    };
                    if body.len() + chunk.len() > MAX_BODY {
                        return Outcome::TooLarge { status };
                    }
                    body.extend_from_slice(&chunk);
                }
                // The status line arrived, so the server acted: a body cut short is never
                // "provably not processed".
                Err(error) => {
                    return Outcome::Transport {
                        error: TransportError::Body(error),
                        reached: true,
                    }
                }
            }
        }
        Outcome::Answer {
            status,
            headers: parts.headers,
            body,
        }
    }
}

/// How one attempt failed in transport.
#[derive(Debug)]
enum TransportError {
    /// No answer within the request timeout.
    TimedOut,
    /// The URL cannot be sent (it parsed as a URL but not as an HTTP request target).
    BadUrl,
    /// Connecting or sending failed, or the answer's head was not read.
    Send(hyper_util::client::legacy::Error),
    /// The answer's body was cut short.
    Body(hyper::Error),
}

/// The server's clock from a `Date` header (IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37
/// GMT`).
pub fn server_date(headers: &HeaderMap) -> Option<OffsetDateTime> {
    let value = headers.get(http::header::DATE)?.to_str().ok()?;
    parse_http_date(value)
}

/// Parses an IMF-fixdate.
pub fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value.trim(), format)
        .ok()
        .map(|t| t.assume_utc())
}

/// A transport error's message with its causes, without the URL.
fn transport_message(e: &TransportError) -> String {
    // hyper-util's own text ("client error (Connect)") only repeats the kind: its causes
    // (hyper, io, rustls) say what happened, and none carries the URL.
    let (kind, mut source): (&str, Option<&(dyn std::error::Error + 'static)>) = match e {
        TransportError::TimedOut => ("timed out", None),
        TransportError::BadUrl => ("the request URL cannot be sent", None),
        TransportError::Send(e) if caused_by::<transport::ConnectTimedOut>(e) => {
            ("timed out", None)
        }
        TransportError::Send(e) if e.is_connect() => {
            ("could not connect", std::error::Error::source(e))
        }
        TransportError::Send(e) => ("connection failed", std::error::Error::source(e)),
        TransportError::Body(e) => ("connection failed while reading the response", Some(e)),
    };
    let mut causes: Vec<String> = Vec::new();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !causes.iter().any(|c| c.contains(&text)) && !text.contains("://") {
            causes.push(text);
        }
        source = s.source();
    }
    if causes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}

/// Whether an error of type `T` is among `e`'s causes.
fn caused_by<T: std::error::Error + 'static>(e: &dyn std::error::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<T>() {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests;
