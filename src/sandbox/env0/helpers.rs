//! Sandbox-only helpers under `/_sandbox/env0/` (no auth, no faults).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::sandbox::ratelimit::parse_config;
use crate::sandbox::store::uuid_v4;
use crate::sandbox::{control_error, created_of, Shared};

use super::*;

pub(super) async fn get_rate_limit(State(shared): State<Arc<Shared>>) -> Json<RateLimit> {
    Json(shared.env0_limits().config())
}

pub(super) async fn set_rate_limit(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match parse_config::<RateLimit>(&body) {
        Ok(config) => {
            shared.env0_limits().set_config(config);
            Json(config).into_response()
        }
        Err(e) => control_error(StatusCode::BAD_REQUEST, &e),
    }
}

/// The optional `{"name"}` of a helper's body; `Err` when the body is not a JSON object.
pub(super) fn helper_name(body: &[u8]) -> Result<Option<String>, ()> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o.get("name").and_then(Value::as_str).map(str::to_owned)),
        _ => Err(()),
    }
}

pub(super) async fn add_named(
    shared: &Shared,
    org_id: String,
    body: &[u8],
    roles: bool,
) -> Response {
    let Ok(name) = helper_name(body) else {
        return control_error(StatusCode::BAD_REQUEST, "body must be a JSON object");
    };
    let added: Result<Named, ()> = shared.try_mutate(|s| {
        let org = s.env0.org_mut(&org_id).ok_or(())?;
        let list = if roles {
            &mut org.custom_roles
        } else {
            &mut org.projects
        };
        let kind = if roles { "role" } else { "project" };
        let named = Named {
            id: uuid_v4(),
            name: name.unwrap_or_else(|| format!("{kind}-{}", list.len() + 1)),
        };
        list.push(named.clone());
        Ok(named)
    });
    let Ok(named) = added else {
        return control_error(StatusCode::NOT_FOUND, "no such organization");
    };
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    (
        StatusCode::CREATED,
        Json(json!({ "id": named.id, "name": named.name, "organizationId": org_id })),
    )
        .into_response()
}

pub(super) async fn add_project(
    State(shared): State<Arc<Shared>>,
    Path(org_id): Path<String>,
    body: Bytes,
) -> Response {
    add_named(&shared, org_id, &body, false).await
}

pub(super) async fn add_role(
    State(shared): State<Arc<Shared>>,
    Path(org_id): Path<String>,
    body: Bytes,
) -> Response {
    add_named(&shared, org_id, &body, true).await
}

/// `POST /_sandbox/env0/api_keys/{id}/created`: the key's `createdAt` becomes the given time.
pub(super) async fn set_created(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let created = match created_of(&body) {
        Ok(created) => created,
        Err(why) => return control_error(StatusCode::BAD_REQUEST, &why),
    };
    let updated = shared.try_mutate(|s| {
        s.env0
            .orgs
            .iter_mut()
            .find_map(|o| {
                let org_id = o.id.clone();
                o.api_keys
                    .iter_mut()
                    .find(|k| k.id == id)
                    .map(|k| (org_id, k))
            })
            .map(|(org_id, key)| {
                key.created_at = created;
                key_json(&org_id, key, false)
            })
            .ok_or(())
    });
    let Ok(key) = updated else {
        return control_error(StatusCode::NOT_FOUND, "no such API key");
    };
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    Json(key).into_response()
}
