//! The one error type of the backend layer.

use super::BackendKind;

/// What went wrong talking to a backend, by meaning. Display texts are lowercase, carry
/// the vendor's own message where there is one, and never a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The object does not exist (HTTP 404, or absent from a listing).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `api key 5f…`.
        what: String,
    },
    /// The credentials were refused (401).
    #[error("{vendor} refused the credentials (HTTP {status}): {message}")]
    Unauthenticated {
        /// The vendor.
        vendor: &'static str,
        /// HTTP status.
        status: u16,
        /// The vendor's message.
        message: String,
    },
    /// The credentials lack a permission (403).
    #[error("{vendor} denied the request (HTTP {status}): {message}")]
    PermissionDenied {
        /// The vendor.
        vendor: &'static str,
        /// HTTP status.
        status: u16,
        /// The vendor's message.
        message: String,
    },
    /// The vendor rejected the request's content (400, 409, 422…), or the client refused to
    /// send it (`status` 0: a value checked before any request, e.g. an id that cannot be
    /// put in a URL).
    #[error("{}", invalid_text(vendor, *status, code.as_deref(), message))]
    Invalid {
        /// The vendor.
        vendor: &'static str,
        /// HTTP status; 0 when the request was refused before it was sent.
        status: u16,
        /// The vendor's error code (Atlas `errorCode`).
        code: Option<String>,
        /// The vendor's message.
        message: String,
        /// The request field at fault, in the vendor's words, where the vendor says.
        field: Option<String>,
    },
    /// Too many requests, still after every retry.
    #[error("{vendor} is rate limiting requests (HTTP 429) after {attempts} attempts: {message}")]
    RateLimited {
        /// The vendor.
        vendor: &'static str,
        /// How many attempts were made.
        attempts: u32,
        /// The vendor's message.
        message: String,
    },
    /// Any other HTTP error status.
    #[error("{vendor} answered HTTP {status}{code}: {message}", code = code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Http {
        /// The vendor.
        vendor: &'static str,
        /// HTTP status.
        status: u16,
        /// The vendor's error code.
        code: Option<String>,
        /// The vendor's message.
        message: String,
    },
    /// The response was not what the API documents (HTML page, truncated JSON…).
    #[error("{vendor} sent an unexpected response (HTTP {status}): {message}")]
    BadResponse {
        /// The vendor.
        vendor: &'static str,
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        message: String,
    },
    /// The request did not complete (connection refused, timeout, reset).
    #[error("request to {vendor} failed: {message}")]
    Transport {
        /// The vendor.
        vendor: &'static str,
        /// What happened, without URL query strings or credentials.
        message: String,
    },
    /// Terraform asked the provider to stop (Ctrl-C) before the request was sent, while it
    /// waited, or while a read was in flight.
    #[error("{vendor}: {message}, because Terraform asked the provider to stop")]
    Interrupted {
        /// The vendor.
        vendor: &'static str,
        /// What did not happen, e.g. `POST /v1/api_key was not sent`.
        message: String,
    },
    /// The backend cannot do this at all.
    #[error("{vendor} does not support {operation}")]
    NotSupported {
        /// The vendor.
        vendor: &'static str,
        /// The operation, e.g. `updating API keys`.
        operation: String,
    },
    /// The client itself is misconfigured (bad base URL…).
    #[error("invalid {vendor} client configuration: {message}")]
    Config {
        /// The vendor.
        vendor: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn invalid_text(vendor: &str, status: u16, code: Option<&str>, message: &str) -> String {
    let code = code.map(|c| format!(", {c}")).unwrap_or_default();
    if status == 0 {
        format!("invalid request to {vendor}{code}: {message}")
    } else {
        format!("{vendor} rejected the request (HTTP {status}{code}): {message}")
    }
}

impl BackendError {
    /// A [`BackendError::NotSupported`] for `kind`.
    pub fn not_supported(kind: BackendKind, operation: &str) -> Self {
        BackendError::NotSupported {
            vendor: kind.name(),
            operation: operation.to_string(),
        }
    }

    /// Whether this is [`BackendError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, BackendError::NotFound { .. })
    }
}
