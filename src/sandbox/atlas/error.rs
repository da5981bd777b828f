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
        ApiError::invalid_value_of(field, value, &ORG_ROLES)
    }

    /// 400 `INVALID_ENUM_VALUE`: `value` of `field` is none of `allowed`.
    pub(super) fn invalid_value_of(field: &str, value: &str, allowed: &[&str]) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ENUM_VALUE",
            format!("An invalid enumeration value {value} was specified for {field}."),
        )
        .params(vec![json!(value), json!(field)])
        .field(field, format!("must be one of {}", allowed.join(", ")))
    }

    pub(super) fn group_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "GROUP_NOT_FOUND",
            format!("No group with ID {id} exists."),
        )
        .params(vec![json!(id)])
    }

    /// The caller lacks the role the operation needs.
    // GUESS: Atlas's documented `forbidden` answer (403); the errorCode and text are what Atlas
    // shows users without the role (it sometimes uses 401 for this, which a Digest client
    // could take for a challenge).
    pub(super) fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "USER_UNAUTHORIZED",
            "Current user is not authorized to perform this action.",
        )
    }

    /// A key with an access list used from an address not on it.
    pub(super) fn not_on_access_list(ip: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "IP_ADDRESS_NOT_ON_ACCESS_LIST",
            format!("IP address {ip} is not allowed to access this resource."),
        )
        .params(vec![json!(ip)])
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
