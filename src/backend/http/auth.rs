//! How a request gets its `Authorization` header.

use std::fmt;

use base64::Engine as _;
use http::header::{HeaderMap, HeaderValue};
use http::Method;

use super::{BackendError, HttpClient};
use crate::backend::Secret;

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
            header: sensitive_header(vendor, format!("Bearer {}", token.expose()))?,
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
            header: sensitive_header(vendor, format!("Basic {encoded}"))?,
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
pub fn sensitive_header(vendor: &'static str, value: String) -> Result<HeaderValue, BackendError> {
    // From the String itself: the header holds its bytes, uncopied.
    let mut header = HeaderValue::try_from(value).map_err(|_| BackendError::Config {
        vendor,
        message: "credentials contain characters that cannot be sent in an HTTP header".into(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}
