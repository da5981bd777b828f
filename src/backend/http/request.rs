//! A request to send and a successful response read in full.

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use super::vendor_error::{excerpt, looks_like_html};
use super::{server_date, BackendError, Redactor, RetryPolicy};

/// One HTTP request, relative to the client's base URL. Cheap to replay: the body is kept
/// as bytes so that retries and authentication challenges can send it again unchanged.
#[derive(Clone)]
pub struct Request {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) body: Option<Vec<u8>>,
    pub(super) retry: RetryPolicy,
    pub(super) what: Option<String>,
    pub(super) sensitive_response: bool,
    pub(super) route_may_be_gone: bool,
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
            route_may_be_gone: false,
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

    /// Says that a 404 to this request means the route itself is missing (an endpoint the
    /// vendor removed), not that an object is gone: it then becomes [`BackendError::Http`]
    /// with the vendor's own message instead of [`BackendError::NotFound`].
    pub fn route_may_be_gone(mut self) -> Self {
        self.route_may_be_gone = true;
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

/// A response with a success status, its body read in full.
pub struct Response {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
    pub(super) vendor: &'static str,
    pub(super) sensitive: bool,
    pub(super) attempts: u32,
    pub(super) redactor: Arc<Redactor>,
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
            redactor: Arc::default(),
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
                    excerpt(&self.body, 160, &self.redactor)
                )
            } else {
                // serde's message may quote the body too: it is vendor text.
                format!(
                    "undecodable JSON body ({}): «{}»",
                    self.redactor.clean(&e.to_string(), 200),
                    excerpt(&self.body, 160, &self.redactor)
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
