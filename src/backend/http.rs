//! The HTTP layer every backend client shares.
//!
//! - [`HttpClient`]: one `reqwest` client per configured provider (rustls, connection reuse,
//!   the provider's `request_timeout` and User-Agent), bound to one vendor and base URL.
//! - [`HttpClient::send`]: sends a [`Request`] with retries. [`RetryPolicy::Idempotent`]
//!   requests (GET, DELETE, absolute PATCH/PUT) are retried on 429, 502, 503, 504 and on
//!   transport errors; [`RetryPolicy::Create`] requests (POST) only when the server provably
//!   did not act (429, connection never established). Waits grow exponentially with jitter and
//!   honour `Retry-After` (see [`Backoff`]). A create that failed in a way that leaves its effect
//!   unknown (timeout, reset, 5xx) comes back as a [`SendError`] with `ambiguous` set, so the
//!   caller can reconcile instead of re-posting.
//! - [`Authenticator`]: how a request gets its `Authorization` header, with a hook for 401
//!   challenges (HTTP Digest, expired bearer tokens). [`NoAuth`], [`BearerAuth`] and
//!   [`BasicAuth`] cover the simple schemes.
//! - [`error_from_response`]: the one place where an HTTP status and body become a
//!   [`BackendError`], with a vendor hook ([`ErrorParser`]) for the vendor's JSON error shape.
//!
//! Secrets never reach logs or error texts: logs (`tracing`, debug/trace) carry the vendor,
//! method, path (never the query string), status, attempt and timing, never headers or bodies;
//! transport errors are stripped of their URL; bodies of responses marked
//! [`Request::sensitive_response`] are never quoted.

use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::Rng as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
pub use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use super::{BackendError, Secret};

/// Settings from the provider block that apply to every backend.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Retries of requests that are safe to repeat.
    pub max_retries: u32,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// The User-Agent header.
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_retries: 5,
            request_timeout: Duration::from_secs(30),
            user_agent: concat!("terraform-provider-keysmith/", env!("CARGO_PKG_VERSION"))
                .to_string(),
        }
    }
}

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
}

/// An error as a vendor's JSON error body describes it, extracted by an [`ErrorParser`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorError {
    /// The vendor's error code (Atlas `errorCode`).
    pub code: Option<String>,
    /// The vendor's message.
    pub message: String,
    /// The request field at fault, in the vendor's words.
    pub field: Option<String>,
}

/// A vendor hook that reads the vendor's JSON error shape; `None` when the body is not in
/// that shape (the generic reading then applies: `detail`, `message`, `error_description`,
/// `error`, `reason`).
pub type ErrorParser = fn(status: u16, body: &serde_json::Value) -> Option<VendorError>;

/// One HTTP request, relative to the client's base URL. Cheap to replay: the body is kept
/// as bytes so that retries and authentication challenges can send it again unchanged.
#[derive(Clone)]
pub struct Request {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    retry: RetryPolicy,
    what: Option<String>,
    sensitive_response: bool,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers, query and body are left out on purpose: they may carry credentials.
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// A request of `method` to `path` (which starts with `/` and is appended to the base
    /// URL's path), retried as [`RetryPolicy::for_method`] says.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Request {
            retry: RetryPolicy::for_method(&method),
            method,
            path: path.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
            what: None,
            sensitive_response: false,
        }
    }

    /// A GET request.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// A POST request (a create, see [`RetryPolicy::Create`]).
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    /// A PATCH request (treated as absolute, hence idempotent).
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path)
    }

    /// A PUT request (treated as absolute, hence idempotent).
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }

    /// A DELETE request.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// Adds a query parameter (percent-encoded when sent; never logged).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Sets a header, replacing any earlier value of the same name.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets a raw body with its content type.
    pub fn body(mut self, content_type: HeaderValue, body: impl Into<Vec<u8>>) -> Self {
        self.headers.insert(CONTENT_TYPE, content_type);
        self.body = Some(body.into());
        self
    }

    /// Sets a JSON body. The content type is `application/json` unless one was already set
    /// with [`Request::header`] (vendors with versioned media types set their own).
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, BackendError> {
        let bytes = serde_json::to_vec(value).map_err(|e| BackendError::Config {
            vendor: "keysmith",
            message: format!("could not encode a request body: {e}"),
        })?;
        self.headers
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/json"));
        self.body = Some(bytes);
        Ok(self)
    }

    /// Overrides the retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Names what the request is about, e.g. `api key 5f…`, for [`BackendError::NotFound`].
    pub fn describe(mut self, what: impl Into<String>) -> Self {
        self.what = Some(what.into());
        self
    }

    /// Marks the response as carrying secrets (create responses, tokens): its body is then
    /// never quoted in an error, even when it cannot be decoded.
    pub fn sensitive_response(mut self) -> Self {
        self.sensitive_response = true;
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, relative to the base URL, without query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The body, if any.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }
}

/// What an [`Authenticator`] sees of a request: enough to sign it (HTTP Digest signs the
/// method, the request URI and, with `qop=auth-int`, the body).
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request URI as sent on the request line: absolute path plus `?query`.
    pub uri: &'a str,
    /// The body, if any.
    pub body: Option<&'a [u8]>,
}

/// How requests are authenticated. Implementations must never log what they produce.
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// The `Authorization` header for one attempt of `req`, or `None` to send it without
    /// one (e.g. to obtain a Digest challenge). `http` lets an authenticator make its own
    /// requests (an OAuth token fetch) through the same client.
    async fn authorize(
        &self,
        http: &HttpClient,
        req: &AuthRequest<'_>,
    ) -> Result<Option<HeaderValue>, BackendError>;

    /// Called when an attempt was answered 401. `sent` is the header that attempt carried,
    /// `round` how many times this request was already re-sent because of a 401 (0 the first
    /// time). Returns whether to send the request again with a fresh [`Self::authorize`];
    /// such re-sends do not count against `max_retries` (the server did not act on a 401).
    async fn on_unauthorized(
        &self,
        req: &AuthRequest<'_>,
        sent: Option<&HeaderValue>,
        response_headers: &HeaderMap,
        round: u32,
    ) -> bool {
        let _ = (req, sent, response_headers, round);
        false
    }
}

/// No authentication.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

#[async_trait::async_trait]
impl Authenticator for NoAuth {
    async fn authorize(
        &self,
        _http: &HttpClient,
        _req: &AuthRequest<'_>,
    ) -> Result<Option<HeaderValue>, BackendError> {
        Ok(None)
    }
}

/// `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    header: HeaderValue,
}

impl BearerAuth {
    /// Bearer authentication with `token`; a token that cannot be a header value is a
    /// [`BackendError::Config`] of `vendor` (without the token in the message).
    pub fn new(vendor: &'static str, token: &Secret) -> Result<Self, BackendError> {
        Ok(BearerAuth {
            header: sensitive_header(vendor, &format!("Bearer {}", token.expose()))?,
        })
    }
}

#[async_trait::async_trait]
impl Authenticator for BearerAuth {
    async fn authorize(
        &self,
        _http: &HttpClient,
        _req: &AuthRequest<'_>,
    ) -> Result<Option<HeaderValue>, BackendError> {
        Ok(Some(self.header.clone()))
    }
}

/// `Authorization: Basic base64(username:password)`.
#[derive(Debug, Clone)]
pub struct BasicAuth {
    header: HeaderValue,
}

impl BasicAuth {
    /// Basic authentication; see [`BearerAuth::new`] for the error.
    pub fn new(
        vendor: &'static str,
        username: &str,
        password: &Secret,
    ) -> Result<Self, BackendError> {
        let raw = format!("{username}:{}", password.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
        Ok(BasicAuth {
            header: sensitive_header(vendor, &format!("Basic {encoded}"))?,
        })
    }
}

#[async_trait::async_trait]
impl Authenticator for BasicAuth {
    async fn authorize(
        &self,
        _http: &HttpClient,
        _req: &AuthRequest<'_>,
    ) -> Result<Option<HeaderValue>, BackendError> {
        Ok(Some(self.header.clone()))
    }
}

/// A header value marked sensitive (hidden from `Debug`, never indexed by HPACK); the text
/// never appears in the error.
pub fn sensitive_header(vendor: &'static str, value: &str) -> Result<HeaderValue, BackendError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| BackendError::Config {
        vendor,
        message: "credentials contain characters that cannot be sent in an HTTP header".into(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// A response with a success status, its body read in full.
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    vendor: &'static str,
    sensitive: bool,
    attempts: u32,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// A response from its parts (for tests and for clients that build one by hand).
    /// `sensitive` as in [`Request::sensitive_response`].
    pub fn from_parts(
        vendor: &'static str,
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
        sensitive: bool,
    ) -> Self {
        Response {
            status,
            headers,
            body,
            vendor,
            sensitive,
            attempts: 1,
        }
    }

    /// The status (always 2xx).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// How many attempts it took (1 when the first succeeded; 401 challenges not counted).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The server's clock, from the `Date` header.
    pub fn server_date(&self) -> Option<OffsetDateTime> {
        server_date(&self.headers)
    }

    /// Decodes the JSON body. An undecodable body is a [`BackendError::BadResponse`] that
    /// quotes a short excerpt, except for sensitive responses, which are never quoted.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, BackendError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let message = if self.sensitive {
                // serde's messages can quote values ("invalid type: string \"…\""): keep only
                // the kind of error and its position.
                format!("undecodable JSON body ({})", json_error_summary(&e))
            } else if self.body.is_empty() {
                "empty body where JSON was expected".to_string()
            } else if looks_like_html(&self.body, &self.headers) {
                format!(
                    "expected JSON, got an HTML page: «{}»",
                    excerpt(&self.body, 160)
                )
            } else {
                format!(
                    "undecodable JSON body ({e}): «{}»",
                    excerpt(&self.body, 160)
                )
            };
            BackendError::BadResponse {
                vendor: self.vendor,
                status: self.status.as_u16(),
                message,
            }
        })
    }
}

fn json_error_summary(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "truncated",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// A failed [`HttpClient::send`]: the error, and whether a create may nevertheless have
/// taken effect on the server.
#[derive(Debug)]
pub struct SendError {
    /// What went wrong.
    pub error: BackendError,
    /// `true` when a [`RetryPolicy::Create`] request failed after the server may have acted
    /// on it (timeout, reset, 5xx): the caller should reconcile rather than re-post.
    pub ambiguous: bool,
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
/// connection pool.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    base: Url,
    vendor: &'static str,
    max_retries: u32,
    backoff: Backoff,
    error_parser: Option<ErrorParser>,
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

/// Builds the one `reqwest` client of a provider: rustls, the configured User-Agent and
/// request timeout (connect timeout: the smaller of 10 s and the request timeout), pooled
/// keep-alive connections, TCP_NODELAY, and no redirects (an API that redirects is
/// misconfigured, and following would carry credentials elsewhere).
pub fn build_reqwest_client(
    vendor: &'static str,
    settings: &HttpSettings,
) -> Result<reqwest::Client, BackendError> {
    if settings.request_timeout.is_zero() {
        return Err(BackendError::Config {
            vendor,
            message: "request_timeout must be greater than zero".into(),
        });
    }
    reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(settings.user_agent.clone())
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| BackendError::Config {
            vendor,
            message: format!(
                "cannot build the HTTP client: {}",
                error_chain(&e.without_url())
            ),
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

impl HttpClient {
    /// A client for `vendor` at `base_url` with its own `reqwest` client built from
    /// `settings` (see [`build_reqwest_client`] and [`parse_base_url`]).
    pub fn new(
        vendor: &'static str,
        base_url: &str,
        settings: &HttpSettings,
    ) -> Result<Self, BackendError> {
        let base = parse_base_url(vendor, base_url)?;
        let client = build_reqwest_client(vendor, settings)?;
        Ok(Self::with_reqwest(
            vendor,
            base,
            client,
            settings.max_retries,
        ))
    }

    /// A client around an existing `reqwest` client (to share one pool).
    pub fn with_reqwest(
        vendor: &'static str,
        base: Url,
        client: reqwest::Client,
        max_retries: u32,
    ) -> Self {
        HttpClient {
            client,
            base,
            vendor,
            max_retries,
            backoff: Backoff::default(),
            error_parser: None,
        }
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

    /// Sends `req` with retries and authentication, and reads the whole body. A non-2xx
    /// final status becomes an error through [`error_from_response`].
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
        let auth_req = AuthRequest {
            method: &req.method,
            uri: &uri,
            body: req.body.as_deref(),
        };
        let mut attempt: u32 = 0;
        let mut auth_round: u32 = 0;
        loop {
            attempt += 1;
            let authorization = auth.authorize(self, &auth_req).await?;
            let mut builder = self
                .client
                .request(req.method.clone(), url.clone())
                .headers(req.headers.clone());
            if let Some(value) = &authorization {
                builder = builder.header(AUTHORIZATION, value.clone());
            }
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            let started = Instant::now();
            tracing::debug!(
                vendor = self.vendor,
                method = %req.method,
                path = %log_path,
                attempt,
                "http request"
            );
            let outcome = match builder.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(body) => Ok((status, headers, body.to_vec())),
                        // The status line arrived, so the server acted: a body cut short is
                        // never "provably not processed".
                        Err(e) => Err((e, false)),
                    }
                }
                Err(e) => {
                    let connect = e.is_connect();
                    Err((e, connect))
                }
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match outcome {
                Ok((status, headers, body)) => {
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
                            .on_unauthorized(
                                &auth_req,
                                authorization.as_ref(),
                                &headers,
                                auth_round,
                            )
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
                        });
                    }
                    let code = status.as_u16();
                    let retryable = match req.retry {
                        RetryPolicy::Idempotent => matches!(code, 429 | 502 | 503 | 504),
                        RetryPolicy::Create => code == 429,
                        RetryPolicy::Never => false,
                    };
                    if retryable && attempt <= self.max_retries {
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
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    let error = error_from_response(
                        self.vendor,
                        status,
                        &headers,
                        &body,
                        &ErrorContext {
                            what: req.what.as_deref().unwrap_or(&log_path),
                            parser: self.error_parser,
                            attempts: attempt,
                        },
                    );
                    return Err(SendError {
                        error,
                        ambiguous: req.retry == RetryPolicy::Create && code >= 500,
                    });
                }
                Err((e, not_sent)) => {
                    let message = transport_message(&e);
                    tracing::debug!(
                        vendor = self.vendor,
                        method = %req.method,
                        path = %log_path,
                        attempt,
                        elapsed_ms,
                        error = %message,
                        "http transport error"
                    );
                    let retryable = match req.retry {
                        RetryPolicy::Idempotent => true,
                        RetryPolicy::Create => not_sent,
                        RetryPolicy::Never => false,
                    };
                    if retryable && attempt <= self.max_retries {
                        let wait = self.backoff.delay(attempt, None);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(SendError {
                        error: BackendError::Transport {
                            vendor: self.vendor,
                            message,
                        },
                        ambiguous: req.retry == RetryPolicy::Create && !not_sent,
                    });
                }
            }
        }
    }
}

/// The `Retry-After` header as a whole number of seconds (the HTTP-date form is ignored:
/// the plain backoff applies then).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The server's clock from a `Date` header (IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37
/// GMT`).
pub fn server_date(headers: &HeaderMap) -> Option<OffsetDateTime> {
    let value = headers.get(reqwest::header::DATE)?.to_str().ok()?;
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

/// What [`error_from_response`] needs besides the response.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    /// What was asked for, for [`BackendError::NotFound`].
    pub what: &'a str,
    /// The vendor's error-body hook.
    pub parser: Option<ErrorParser>,
    /// Attempts made, for [`BackendError::RateLimited`].
    pub attempts: u32,
}

/// Maps a non-success status and its body to a [`BackendError`]: 404 → `NotFound`,
/// 401 → `Unauthenticated`, 403 → `PermissionDenied`, 400/409/422 → `Invalid`,
/// 429 → `RateLimited`, anything else → `Http`. The message is the vendor's (via the hook,
/// else common JSON fields, else a plain-text body). An HTML page or a malformed or truncated
/// JSON body is a `BadResponse` with a short clean excerpt, whatever the status: a 404 from a
/// web server that is not the API must not read as "already deleted".
pub fn error_from_response(
    vendor: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &ErrorContext<'_>,
) -> BackendError {
    let code = status.as_u16();
    let bad = |message: String| BackendError::BadResponse {
        vendor,
        status: code,
        message,
    };
    let trimmed = body.trim_ascii();
    let parsed = if trimmed.is_empty() {
        VendorError {
            code: None,
            message: status
                .canonical_reason()
                .unwrap_or("no message")
                .to_lowercase(),
            field: None,
        }
    } else if looks_like_html(trimmed, headers) {
        return bad(format!(
            "expected a JSON error, got an HTML page: «{}»",
            excerpt(trimmed, 160)
        ));
    } else if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") || is_json(headers) {
        match serde_json::from_slice::<serde_json::Value>(trimmed) {
            Ok(value) => ctx
                .parser
                .and_then(|p| p(code, &value))
                .unwrap_or_else(|| generic_vendor_error(&value)),
            Err(_) => {
                return bad(format!(
                    "malformed or truncated JSON error body: «{}»",
                    excerpt(trimmed, 160)
                ))
            }
        }
    } else {
        VendorError {
            code: None,
            message: excerpt(trimmed, 300),
            field: None,
        }
    };
    let VendorError {
        code: vendor_code,
        message,
        field,
    } = parsed;
    match code {
        404 => BackendError::NotFound {
            what: ctx.what.to_string(),
        },
        401 => BackendError::Unauthenticated {
            vendor,
            status: code,
            message,
        },
        403 => BackendError::PermissionDenied {
            vendor,
            status: code,
            message,
        },
        400 | 409 | 422 => BackendError::Invalid {
            vendor,
            status: code,
            code: vendor_code,
            message,
            field,
        },
        429 => BackendError::RateLimited {
            vendor,
            attempts: ctx.attempts,
            message,
        },
        _ => BackendError::Http {
            vendor,
            status: code,
            code: vendor_code,
            message,
        },
    }
}

/// The common ways APIs put a message in JSON: `detail`, `message`, `error_description`,
/// `error` (a string, or an object with `message`), `reason`, `msg`; else the compact JSON.
fn generic_vendor_error(value: &serde_json::Value) -> VendorError {
    let text = |key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let nested = value
        .get("error")
        .and_then(|e| e.get("message"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    let message = text("detail")
        .or_else(|| text("message"))
        .or_else(|| text("error_description"))
        .or(nested)
        .or_else(|| text("error"))
        .or_else(|| text("reason"))
        .or_else(|| text("msg"));
    let code = text("errorCode")
        .or_else(|| text("code"))
        .or_else(|| text("error_description").and_then(|_| text("error")));
    match message {
        Some(m) => VendorError {
            code,
            message: clean_text(&m, 500),
            field: None,
        },
        None => VendorError {
            code,
            message: clean_text(&value.to_string(), 300),
            field: None,
        },
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
}

fn looks_like_html(body: &[u8], headers: &HeaderMap) -> bool {
    let ct_html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("html"));
    let start: Vec<u8> = body
        .trim_ascii_start()
        .iter()
        .take(15)
        .map(u8::to_ascii_lowercase)
        .collect();
    ct_html
        || start.starts_with(b"<!doctype html")
        || start.starts_with(b"<html")
        || start.starts_with(b"<head")
        || start.starts_with(b"<body")
}

/// A short, single-line, printable excerpt of a body for error messages: an HTML page gives
/// its `<title>` (or its text without tags, scripts and styles), control characters are
/// dropped, whitespace collapsed, and the result cut to `max_chars` with `…`.
pub fn excerpt(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    if looks_like_html(body, &HeaderMap::new()) || text.trim_start().starts_with('<') {
        let lower = text.to_ascii_lowercase();
        if let (Some(start), Some(end)) = (lower.find("<title"), lower.find("</title>")) {
            if let Some(gt) = lower[start..].find('>') {
                let inner = &text[start + gt + 1..end.max(start + gt + 1)];
                let title = clean_text(inner, max_chars);
                if !title.is_empty() {
                    return title;
                }
            }
        }
        return clean_text(&strip_tags(&text), max_chars);
    }
    clean_text(&text, max_chars)
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    let bytes = html.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'<' {
            // Skip whole script/style elements, then any tag.
            let rest = &lower[i..];
            let skip_to = if rest.starts_with("<script") {
                rest.find("</script>").map(|p| p + "</script>".len())
            } else if rest.starts_with("<style") {
                rest.find("</style>").map(|p| p + "</style>".len())
            } else {
                rest.find('>').map(|p| p + 1)
            };
            match skip_to {
                Some(n) => {
                    i += n;
                    out.push(' ');
                    continue;
                }
                None => break,
            }
        }
        let ch_len = html[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&html[i..i + ch_len]);
        i += ch_len;
    }
    out
}

fn clean_text(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut last_space = true;
    for ch in text.chars() {
        let ch = if ch.is_whitespace() { ' ' } else { ch };
        if ch.is_control() {
            continue;
        }
        if ch == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        if count == max_chars {
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('…');
            return out;
        }
        out.push(ch);
        count += 1;
    }
    out.trim_end().to_string()
}

/// A transport error's message with its causes, without the URL.
fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection failed while reading the response"
    } else {
        "connection failed"
    };
    // Sources below reqwest (hyper, io) carry no URL; reqwest's own text is dropped.
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        // hyper-util's "client error (Connect)" only repeats the kind.
        let noise = text.starts_with("client error (");
        if !text.is_empty()
            && !noise
            && !causes.iter().any(|c| c.contains(&text))
            && !text.contains("://")
        {
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

fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
