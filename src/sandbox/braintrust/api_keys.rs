//! `/v1/api_key[/{api_key_id}]`: API keys.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
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

impl Credential for ApiKey {
    const TYPE_NAME: &'static str = "ApiKey";
    const ID_PARAM: &'static str = "api_key_id";

    fn all(data: &BraintrustData) -> &Vec<Self> {
        &data.api_keys
    }

    fn all_mut(data: &mut BraintrustData) -> &mut Vec<Self> {
        &mut data.api_keys
    }

    fn name_filter(q: &ListQuery) -> Option<&String> {
        q.api_key_name.as_ref()
    }

    fn fields(&self) -> (&str, &str, &str) {
        (&self.id, &self.org_id, &self.name)
    }

    fn json(data: &BraintrustData, item: &Self, reveal: bool) -> Value {
        key_json(data, item, reveal)
    }
}
