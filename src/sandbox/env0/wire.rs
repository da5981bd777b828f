//! Request parsing: strict JSON bodies with env0's validation messages, path and query values.

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::Uri;
use serde_json::{Map, Value};

use crate::sandbox::form_pairs;

use super::*;

/// The JSON object body, its attributes all among `allowed` (errors name it `at`).
pub(super) fn object_at(
    value: &Value,
    at: &str,
    allowed: &[&str],
) -> Result<Map<String, Value>, Env0Error> {
    let Value::Object(object) = value else {
        return Err(Env0Error::bad_request(format!("{at} must be object")));
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Env0Error::bad_request(format!(
            "{at} must NOT have additional properties ('{unknown}')"
        )));
    }
    Ok(object.clone())
}

pub(super) fn body_object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Env0Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Env0Error::bad_request(format!("Body is not valid JSON: {e}")))?;
    object_at(&value, "/body", allowed)
}

/// A string attribute: `Ok(None)` when absent; non-empty when `required`.
pub(super) fn string_at(
    object: &Map<String, Value>,
    at: &str,
    name: &str,
    required: bool,
) -> Result<Option<String>, Env0Error> {
    match object.get(name) {
        None if required => Err(Env0Error::bad_request(format!(
            "{at} must have required property '{name}'"
        ))),
        None => Ok(None),
        Some(Value::String(s)) if required && s.is_empty() => Err(Env0Error::bad_request(format!(
            "{at}/{name} must NOT have fewer than 1 characters"
        ))),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Env0Error::bad_request(format!(
            "{at}/{name} must be string"
        ))),
    }
}

/// The path's `{id}`; a malformed one names nothing (404).
pub(super) fn path_id(
    path: Result<Path<String>, PathRejection>,
    what: &str,
) -> Result<String, Env0Error> {
    path.map(|Path(id)| id)
        .map_err(|_| Env0Error::not_found(format!("{what} not found")))
}

pub(super) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    form_pairs(uri.query().unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}
