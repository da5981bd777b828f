//! Atlas's `ApiError` answers and its success media type.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::*;

/// An Atlas `ApiError` answer.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: Option<&'static str>,
    detail: String,
    parameters: Vec<Value>,
    fields: Vec<(String, String)>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code: Some(code),
            detail: detail.into(),
            parameters: Vec::new(),
            fields: Vec::new(),
        }
    }

    pub(super) fn params(mut self, parameters: Vec<Value>) -> ApiError {
        self.parameters = parameters;
        self
    }

    pub(super) fn field(mut self, field: &str, description: impl Into<String>) -> ApiError {
        self.fields.push((field.to_owned(), description.into()));
        self
    }

    /// 401 as Atlas answers an unauthenticated request: no `errorCode`.
    pub(super) fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: None,
            detail: "You are not authorized for this resource.".to_owned(),
            parameters: Vec::new(),
            fields: Vec::new(),
        }
    }

    pub(super) fn bad_path(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "PATH_PARAM_PARSE_ERROR",
            format!("One or more path parameter in the request URI {path} is malformed."),
        )
        .params(vec![json!(path)])
    }

    pub(super) fn org_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ORG_NOT_FOUND",
            format!("No organization with ID {id} exists."),
        )
        .params(vec![json!(id)])
    }

    pub(super) fn key_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "API_KEY_NOT_FOUND",
            format!("No API key with ID {id} exists."),
        )
        .params(vec![json!(id)])
    }

    pub(super) fn invalid_json() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            "Received JSON is malformed.",
        )
    }

    pub(super) fn missing(attribute: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MISSING_ATTRIBUTE",
            format!("The required attribute {attribute} was not specified."),
        )
        .params(vec![json!(attribute)])
        .field(attribute, "is required")
    }

    pub(super) fn invalid_attribute(attribute: &str, why: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ATTRIBUTE",
            format!("Invalid attribute {attribute} specified."),
        )
        .params(vec![json!(attribute)])
        .field(attribute, why)
    }

    pub(super) fn invalid_enum(field: &str, value: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ENUM_VALUE",
            format!("An invalid enumeration value {value} was specified for {field}."),
        )
        .params(vec![json!(value), json!(field)])
        .field(field, format!("must be one of {}", ORG_ROLES.join(", ")))
    }

    pub(super) fn validation(field: &str, why: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("Invalid value for {field}: {why}."),
        )
        .params(vec![json!(field)])
        .field(field, why)
    }

    pub(super) fn unexpected(why: impl std::fmt::Display) -> ApiError {
        tracing::error!("atlas: {why}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNEXPECTED_ERROR",
            "Unexpected error.",
        )
    }

    pub(super) fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("detail".into(), json!(self.detail));
        body.insert("error".into(), json!(self.status.as_u16()));
        if let Some(code) = self.code {
            body.insert("errorCode".into(), json!(code));
        }
        body.insert("parameters".into(), Value::Array(self.parameters.clone()));
        body.insert(
            "reason".into(),
            json!(self.status.canonical_reason().unwrap_or("Error")),
        );
        if !self.fields.is_empty() {
            let fields: Vec<Value> = self
                .fields
                .iter()
                .map(|(field, description)| json!({ "field": field, "description": description }))
                .collect();
            body.insert("badRequestDetail".into(), json!({ "fields": fields }));
        }
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body().to_string(),
        )
            .into_response()
    }
}

/// A success answer in Atlas's versioned media type.
pub(super) fn atlas_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, ATLAS_JSON)],
        body.to_string(),
    )
        .into_response()
}

pub(super) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
