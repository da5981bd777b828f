//! Sandbox-only helpers under `/_sandbox/braintrust/` (no auth, no faults).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::sandbox::ratelimit::parse_config;
use crate::sandbox::store::uuid_v4;
use crate::sandbox::{control_error, created_of, Shared};

use super::*;

pub(super) async fn get_rate_limit(State(shared): State<Arc<Shared>>) -> Json<RateLimit> {
    Json(shared.braintrust_limits().config())
}

pub(super) async fn set_rate_limit(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match parse_config::<RateLimit>(&body) {
        Ok(config) => {
            shared.braintrust_limits().set_config(config);
            Json(config).into_response()
        }
        Err(e) => control_error(StatusCode::BAD_REQUEST, &e),
    }
}

/// The body of `POST /_sandbox/braintrust/organizations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewOrg {
    pub(super) name: String,
    #[serde(default)]
    pub(super) api_url: Option<String>,
    #[serde(default)]
    pub(super) is_universal_api: Option<bool>,
    #[serde(default)]
    pub(super) is_dataplane_private: Option<bool>,
    #[serde(default)]
    pub(super) proxy_url: Option<String>,
    #[serde(default)]
    pub(super) realtime_url: Option<String>,
    #[serde(default)]
    pub(super) image_rendering_mode: Option<String>,
}

pub(super) async fn add_org(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = match serde_json::from_slice::<NewOrg>(&body) {
        Ok(r) if r.name.trim().is_empty() => {
            return control_error(StatusCode::BAD_REQUEST, "name must not be empty")
        }
        Ok(r) => r,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if let Some(mode) = &request.image_rendering_mode {
        if !IMAGE_RENDERING_MODES.contains(&mode.as_str()) {
            return control_error(
                StatusCode::BAD_REQUEST,
                "image_rendering_mode must be auto, click_to_load or blocked",
            );
        }
    }
    let added = shared.try_mutate(|s| {
        if s.braintrust.orgs.iter().any(|o| o.name == request.name) {
            return Err("an organization with this name exists");
        }
        let org = Org {
            id: uuid_v4(),
            name: request.name,
            created: now_millis(),
            api_url: request.api_url,
            is_universal_api: request.is_universal_api,
            is_dataplane_private: request.is_dataplane_private,
            proxy_url: request.proxy_url,
            realtime_url: request.realtime_url,
            image_rendering_mode: request.image_rendering_mode,
        };
        s.braintrust.orgs.push(org.clone());
        Ok(org)
    });
    let org = match added {
        Ok(org) => org,
        Err(why) => return control_error(StatusCode::CONFLICT, why),
    };
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    (StatusCode::CREATED, Json(org_json(&org))).into_response()
}

/// `POST /_sandbox/braintrust/api_keys/{id}/created`: the key's `created` becomes the given
/// time.
pub(super) async fn set_created(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let id = id.to_ascii_lowercase();
    backdate(&shared, &body, "no such API key", |data, created| {
        let key = data.api_keys.iter_mut().find(|k| k.id == id)?;
        key.created = created;
        let key = key.clone();
        Some(key_json(data, &key, false))
    })
    .await
}

/// `POST /_sandbox/braintrust/service_tokens/{id}/created`: the token's `created` becomes the
/// given time.
pub(super) async fn set_token_created(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let id = id.to_ascii_lowercase();
    backdate(&shared, &body, "no such service token", |data, created| {
        let token = data.service_tokens.iter_mut().find(|t| t.id == id)?;
        token.created = created;
        let token = token.clone();
        Some(token_json(data, &token, false))
    })
    .await
}

/// Sets the creation time that `body` names on the object `change` finds (its JSON view, or
/// `None`: 404 `missing`), and persists.
async fn backdate(
    shared: &Shared,
    body: &[u8],
    missing: &str,
    change: impl FnOnce(&mut BraintrustData, String) -> Option<serde_json::Value>,
) -> Response {
    let created = match created_of(body) {
        Ok(created) => created,
        Err(why) => return control_error(StatusCode::BAD_REQUEST, &why),
    };
    let updated = shared.try_mutate(|s| change(&mut s.braintrust, created).ok_or(()));
    let Ok(json) = updated else {
        return control_error(StatusCode::NOT_FOUND, missing);
    };
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    Json(json).into_response()
}

/// The body of `POST /_sandbox/braintrust/service_accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewServiceAccount {
    name: String,
    #[serde(default)]
    org_name: Option<String>,
    #[serde(default)]
    org_owner: bool,
}

/// `POST /_sandbox/braintrust/service_accounts`: adds a service account (by default to the
/// seeded organization, not an owner); 201 `{"id", "name", "email", "org_id", "org_owner",
/// "created"}`.
pub(super) async fn add_service_account(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Response {
    let request = match serde_json::from_slice::<NewServiceAccount>(&body) {
        Ok(r) if r.name.trim().is_empty() => {
            return control_error(StatusCode::BAD_REQUEST, "name must not be empty")
        }
        Ok(r) => r,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let added = shared.try_mutate(|s| {
        let org_id = match &request.org_name {
            Some(name) => s
                .braintrust
                .org_named(name)
                .map(|o| o.id.clone())
                .ok_or("no organization with this name")?,
            None => s.credentials.braintrust.org_id.clone(),
        };
        let id = uuid_v4();
        let account = ServiceAccount {
            email: service_account_email(&id),
            id,
            name: request.name,
            org_id,
            org_owner: request.org_owner,
            created: now_millis(),
        };
        s.braintrust.service_accounts.push(account.clone());
        Ok(account)
    });
    let account = match added {
        Ok(account) => account,
        Err(why) => return control_error(StatusCode::NOT_FOUND, why),
    };
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    (StatusCode::CREATED, Json(account)).into_response()
}
