//! env0's backend errors: a status and a plain-text message.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error of env0's backend: a status and a plain-text message.
#[derive(Debug, Clone)]
pub(crate) struct Env0Error {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl Env0Error {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Env0Error {
        Env0Error {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Env0Error {
        Env0Error::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Env0Error {
        Env0Error::new(StatusCode::NOT_FOUND, message)
    }

    pub(super) fn forbidden() -> Env0Error {
        Env0Error::new(
            StatusCode::FORBIDDEN,
            "You do not have permission to perform this action",
        )
    }

    pub(super) fn internal(why: impl std::fmt::Display) -> Env0Error {
        tracing::error!("env0: {why}");
        Env0Error::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
}

impl IntoResponse for Env0Error {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.message,
        )
            .into_response()
    }
}
