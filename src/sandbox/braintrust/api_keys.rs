//! `/v1/api_key[/{api_key_id}]`: API keys.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use crate::sandbox::store::{random_alphanumeric, uuid_v4};
use crate::sandbox::Shared;

use super::*;

pub(super) fn key_json(data: &BraintrustData, key: &ApiKey, reveal: bool) -> Value {
    let user = data.user().filter(|u| u.id == key.user_id);
    let account = data.service_account(&key.user_id);
    let mut body = json!({
        "id": key.id,
        "created": key.created,
        "name": key.name,
        "preview_name": preview(&key.key),
        "user_id": key.user_id,
        "user_email": user.map(|u| &u.email).or(account.map(|a| &a.email)),
        "user_given_name": user.map(|u| &u.given_name),
        "user_family_name": user.map(|u| &u.family_name),
        "org_id": key.org_id,
    });
    if reveal {
        body["key"] = json!(key.key);
    }
    body
}

/// `name` and `org_name` of a create request.
pub(super) fn parse_new_key(body: &[u8]) -> Result<(String, Option<String>), BtError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| BtError::bad_request(format!("Invalid JSON body: {e}")))?
    };
    let Value::Object(object) = value else {
        return Err(BtError::bad_request(
            "The request body must be a JSON object",
        ));
    };
    let name = match object.get("name") {
        None | Some(Value::Null) => return Err(BtError::bad_request("name: Required")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(BtError::bad_request("name: must not be empty"))
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(BtError::bad_request("name: Expected string")),
    };
    let org_name = match object.get("org_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(BtError::bad_request("org_name: Expected string")),
    };
    Ok((name, org_name))
}

pub(super) async fn create_key(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, BtError> {
    let (name, org_name) = parse_new_key(&body)?;
    let created = shared.try_mutate(|s| {
        let data = &mut s.braintrust;
        let org_id = caller.org_for(data, org_name.as_deref())?;
        let key = ApiKey {
            id: uuid_v4(),
            name,
            key: format!("sk-{}", random_alphanumeric(48)),
            org_id,
            user_id: caller.owner_id().to_owned(),
            created: now_millis(),
        };
        data.api_keys.push(key.clone());
        Ok::<_, BtError>(key_json(data, &key, true))
    })?;
    shared.persist().await.map_err(BtError::internal)?;
    Ok(Json(created).into_response())
}

pub(super) async fn list_keys(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, BtError> {
    let q = ListQuery::parse(uri.query())?;
    let page = shared.read(|s| {
        let data = &s.braintrust;
        let Some(org_id) = data.org_filter(q.org_name.as_deref()) else {
            return Ok(Vec::new());
        };
        q.page(
            &data.api_keys,
            |k| &k.id,
            |k| {
                caller.belongs_to(&k.org_id)
                    && org_id.is_none_or(|o| o == k.org_id)
                    && q.api_key_name.as_ref().is_none_or(|n| *n == k.name)
            },
        )
        .map(|page| {
            page.into_iter()
                .map(|k| key_json(data, k, false))
                .collect::<Vec<_>>()
        })
    })?;
    Ok(objects(page))
}

pub(super) async fn get_key(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, BtError> {
    let id = checked_id(path, "api_key_id")?;
    shared
        .read(|s| {
            let data = &s.braintrust;
            data.api_keys
                .iter()
                .find(|k| k.id == id && caller.belongs_to(&k.org_id))
                .map(|k| key_json(data, k, false))
        })
        .map(|key| Json(key).into_response())
        .ok_or_else(|| BtError::new(StatusCode::NOT_FOUND, format!("ApiKey {id} not found")))
}

pub(super) async fn delete_key(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, BtError> {
    let id = checked_id(path, "api_key_id")?;
    let deleted = shared.try_mutate(|s| {
        let data = &mut s.braintrust;
        let at = data
            .api_keys
            .iter()
            .position(|k| k.id == id && caller.belongs_to(&k.org_id))
            .ok_or_else(|| BtError::new(StatusCode::NOT_FOUND, format!("ApiKey {id} not found")))?;
        let key = data.api_keys.remove(at);
        Ok::<_, BtError>(key_json(data, &key, false))
    })?;
    shared.persist().await.map_err(BtError::internal)?;
    Ok(Json(deleted).into_response())
}
