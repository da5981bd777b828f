//! Braintrust's error answers: plain text for 401 and 429, `{"error": message}` otherwise.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A Braintrust error: plain text for 401 and 429, `{"error": message}` otherwise.
#[derive(Debug, Clone)]
pub(crate) struct BtError {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl BtError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> BtError {
        BtError {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> BtError {
        BtError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn internal(why: impl std::fmt::Display) -> BtError {
        tracing::error!("braintrust: {why}");
        BtError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}

impl IntoResponse for BtError {
    fn into_response(self) -> Response {
        if matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        ) {
            (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                self.message,
            )
                .into_response()
        } else {
            (
                self.status,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                json!({ "error": self.message }).to_string(),
            )
                .into_response()
        }
    }
}
