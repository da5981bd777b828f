//! `/v1/service_token[/{service_token_id}]`: service tokens, the machine credentials of
//! service accounts.
//!
//! Creating one (`POST`, or `PUT` to create or replace by name) needs a service token with
//! organization-owner permissions: a user API key, or a token of a service account that is not
//! an organization owner, is refused with 403, as Braintrust documents ("User API keys cannot be
//! used"; "you must authenticate using a service token that has organization-owner
//! permissions"). The raw `key` is shown only in that answer; reads show `preview_name`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use crate::sandbox::store::{random_alphanumeric, uuid_v4};
use crate::sandbox::Shared;

use super::*;

/// `ServiceToken`, plus the raw `key` (`CreateServiceTokenOutput`) when `reveal`.
pub(super) fn token_json(data: &BraintrustData, token: &ServiceToken, reveal: bool) -> Value {
    let account = data.service_account(&token.service_account_id);
    let mut body = json!({
        "id": token.id,
        "created": token.created,
        "name": token.name,
        "preview_name": preview(&token.key),
        "service_account_id": token.service_account_id,
        "service_account_email": account.map(|a| &a.email),
        "service_account_name": account.map(|a| &a.name),
        "org_id": token.org_id,
    });
    if reveal {
        body["key"] = json!(token.key);
    }
    body
}

/// A validated create request.
struct NewToken {
    name: String,
    service_account_id: String,
    org_name: Option<String>,
}

fn object_of(body: &[u8]) -> Result<Map<String, Value>, BtError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| BtError::bad_request(format!("Invalid JSON body: {e}")))?
    };
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(BtError::bad_request(
            "The request body must be a JSON object",
        )),
    }
}

fn parse_new_token(body: &[u8]) -> Result<NewToken, BtError> {
    let object = object_of(body)?;
    let string = |name: &str, required: bool| match object.get(name) {
        None | Some(Value::Null) if required => {
            Err(BtError::bad_request(format!("{name}: Required")))
        }
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if required && s.trim().is_empty() => {
            Err(BtError::bad_request(format!("{name}: must not be empty")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(BtError::bad_request(format!("{name}: Expected string"))),
    };
    let name = string("name", true)?.unwrap_or_default();
    let service_account_id = string("service_account_id", true)?.unwrap_or_default();
    if !is_uuid(&service_account_id) {
        return Err(BtError::bad_request(format!(
            "service_account_id: {service_account_id:?} is not a UUID"
        )));
    }
    Ok(NewToken {
        name,
        service_account_id: service_account_id.to_ascii_lowercase(),
        org_name: string("org_name", false)?,
    })
}

/// Only an organization-owner service token may create service tokens.
fn check_may_create(caller: &Caller) -> Result<(), BtError> {
    match caller.principal {
        Principal::ServiceAccount {
            org_owner: true, ..
        } => Ok(()),
        Principal::ServiceAccount { .. } => Err(BtError::new(
            StatusCode::FORBIDDEN,
            "To create a service token, you must authenticate using a service token that has \
             organization-owner permissions",
        )),
        Principal::User(_) => Err(BtError::new(
            StatusCode::FORBIDDEN,
            "User API keys cannot be used to create service tokens: you must authenticate using \
             a service token that has organization-owner permissions",
        )),
    }
}

/// The organization and service account of a create request, checked.
fn target_of(data: &BraintrustData, caller: &Caller, new: &NewToken) -> Result<String, BtError> {
    let org_id = caller.org_for(data, new.org_name.as_deref())?;
    data.service_account(&new.service_account_id)
        .filter(|a| a.org_id == org_id)
        .map(|_| org_id)
        .ok_or_else(|| {
            // GUESS: Braintrust documents no answer for an unknown service account; a 400 like
            // its other invalid parameters.
            BtError::bad_request(format!(
                "Invalid service_account_id: no service account {} in this organization",
                new.service_account_id
            ))
        })
}

fn new_secret() -> String {
    format!("bt-st-{}", random_alphanumeric(48))
}

/// `POST /v1/service_token`: a new token; 200 `CreateServiceTokenOutput`.
pub(super) async fn create_token(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, BtError> {
    check_may_create(&caller)?;
    let new = parse_new_token(&body)?;
    let created = shared.try_mutate(|s| {
        let data = &mut s.braintrust;
        let org_id = target_of(data, &caller, &new)?;
        let token = ServiceToken {
            id: uuid_v4(),
            name: new.name,
            key: new_secret(),
            service_account_id: new.service_account_id,
            org_id,
            created: now_millis(),
        };
        data.service_tokens.push(token.clone());
        Ok::<_, BtError>(token_json(data, &token, true))
    })?;
    shared.persist().await.map_err(BtError::internal)?;
    Ok(Json(created).into_response())
}

/// `PUT /v1/service_token`: creates the token, or replaces the newest one of that name in the
/// organization; 200 `CreateServiceTokenOutput`.
// GUESS: a replaced token keeps its id and creation time and gets a new raw key (the old one
// stops authenticating) and the given service account; the answer must carry a `key`.
pub(super) async fn replace_token(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, BtError> {
    check_may_create(&caller)?;
    let new = parse_new_token(&body)?;
    let replaced = shared.try_mutate(|s| {
        let data = &mut s.braintrust;
        let org_id = target_of(data, &caller, &new)?;
        let existing = data
            .service_tokens
            .iter()
            .rposition(|t| t.org_id == org_id && t.name == new.name);
        let token = match existing.and_then(|at| data.service_tokens.get_mut(at)) {
            Some(token) => {
                token.key = new_secret();
                token.service_account_id = new.service_account_id;
                token.clone()
            }
            None => {
                let token = ServiceToken {
                    id: uuid_v4(),
                    name: new.name,
                    key: new_secret(),
                    service_account_id: new.service_account_id,
                    org_id,
                    created: now_millis(),
                };
                data.service_tokens.push(token.clone());
                token
            }
        };
        Ok::<_, BtError>(token_json(data, &token, true))
    })?;
    shared.persist().await.map_err(BtError::internal)?;
    Ok(Json(replaced).into_response())
}

/// `DELETE /v1/service_token` with `{"id"}`: the same.
pub(super) async fn delete_token_by_body(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, BtError> {
    let object = object_of(&body)?;
    let id = match object.get("id") {
        Some(Value::String(id)) if is_uuid(id) => id.to_ascii_lowercase(),
        Some(Value::String(id)) => {
            return Err(BtError::bad_request(format!("id: {id:?} is not a UUID")))
        }
        None | Some(Value::Null) => return Err(BtError::bad_request("id: Required")),
        Some(_) => return Err(BtError::bad_request("id: Expected string")),
    };
    remove::<ServiceToken>(&shared, &caller, &id).await
}

// GUESS: any credential of the organization may read and delete its service tokens, as API
// keys (Braintrust restricts only their creation).
impl Credential for ServiceToken {
    const TYPE_NAME: &'static str = "ServiceToken";
    const ID_PARAM: &'static str = "service_token_id";

    fn all(data: &BraintrustData) -> &Vec<Self> {
        &data.service_tokens
    }

    fn all_mut(data: &mut BraintrustData) -> &mut Vec<Self> {
        &mut data.service_tokens
    }

    fn name_filter(q: &ListQuery) -> Option<&String> {
        q.service_token_name.as_ref()
    }

    fn fields(&self) -> (&str, &str, &str) {
        (&self.id, &self.org_id, &self.name)
    }

    fn json(data: &BraintrustData, item: &Self, reveal: bool) -> Value {
        token_json(data, item, reveal)
    }
}
