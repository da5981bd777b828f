//! `/api-keys[/{id}]`: organization API keys.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::sandbox::store::{
    now_rfc3339, random_alphanumeric, random_lowercase_alphanumeric, uuid_v4,
};
use crate::sandbox::Shared;

use super::*;

pub(super) fn key_json(org_id: &str, key: &ApiKey, reveal: bool) -> Value {
    let mut body = json!({
        "id": key.id,
        "name": key.name,
        "apiKeyId": key.api_key_id,
        "organizationId": org_id,
        "organizationRole": key.organization_role,
        "createdAt": key.created_at,
        "createdBy": key.created_by,
        "lastUsedAt": key.last_used_at,
    });
    if reveal {
        body["apiKeySecret"] = json!(key.api_key_secret);
    }
    body
}

/// The organization `org_id` (default: the caller's), which the caller must administer.
pub(super) fn admin_org<'a>(
    data: &'a Env0Data,
    caller: &Caller,
    org_id: Option<&str>,
) -> Result<&'a Org, Env0Error> {
    let org_id = org_id.unwrap_or(&caller.org_id);
    let org = data
        .org(org_id)
        .ok_or_else(|| Env0Error::not_found(format!("Organization {org_id} not found")))?;
    match Env0Data::role_in(caller, org) {
        Some("Admin") => Ok(org),
        _ => Err(Env0Error::forbidden()),
    }
}

/// A validated `permissions` object.
pub(super) fn parse_permissions(
    org: &Org,
    value: Option<&Value>,
) -> Result<(String, Vec<ProjectPermission>), Env0Error> {
    let at = "/body/permissions";
    let Some(value) = value else {
        return Err(Env0Error::bad_request(
            "/body must have required property 'permissions'",
        ));
    };
    let object = object_at(value, at, &["organizationRole", "projectsPermissions"])?;
    let role = string_at(&object, at, "organizationRole", true)?.unwrap_or_default();
    if !matches!(role.as_str(), "Admin" | "User") && !org.custom_roles.iter().any(|r| r.id == role)
    {
        return Err(Env0Error::bad_request(format!(
            "{at}/organizationRole must be Admin, User or the id of a custom role of organization {}",
            org.id
        )));
    }
    let items = match object.get("projectsPermissions") {
        None | Some(Value::Null) => return Ok((role, Vec::new())),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Env0Error::bad_request(format!(
                "{at}/projectsPermissions must be array"
            )))
        }
    };
    if role == "Admin" && !items.is_empty() {
        return Err(Env0Error::bad_request(format!(
            "{at}/projectsPermissions can only be set with a non-Admin organizationRole"
        )));
    }
    let mut permissions: Vec<ProjectPermission> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{at}/projectsPermissions/{i}");
        let item = object_at(item, &at, &["projectId", "projectRole"])?;
        let project_id = string_at(&item, &at, "projectId", true)?.unwrap_or_default();
        let project_role = string_at(&item, &at, "projectRole", true)?.unwrap_or_default();
        if !PROJECT_ROLES.contains(&project_role.as_str()) {
            return Err(Env0Error::bad_request(format!(
                "{at}/projectRole must be equal to one of the allowed values ({})",
                PROJECT_ROLES.join(", ")
            )));
        }
        if !org.projects.iter().any(|p| p.id == project_id) {
            return Err(Env0Error::bad_request(format!(
                "{at}/projectId: project {project_id} not found in organization {}",
                org.id
            )));
        }
        if permissions.iter().any(|p| p.project_id == project_id) {
            return Err(Env0Error::bad_request(format!(
                "{at}/projectId: project {project_id} is listed twice"
            )));
        }
        permissions.push(ProjectPermission {
            project_id,
            project_role,
        });
    }
    Ok((role, permissions))
}

pub(super) async fn create_key(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Env0Error> {
    let object = body_object(&body, &["name", "organizationId", "permissions"])?;
    let name = string_at(&object, "/body", "name", true)?.unwrap_or_default();
    let org_id = string_at(&object, "/body", "organizationId", false)?;
    let (org_id, key) = shared.try_mutate(|s| {
        let org = admin_org(&s.env0, &caller, org_id.as_deref())?;
        let (role, permissions) = parse_permissions(org, object.get("permissions"))?;
        let org_id = org.id.clone();
        let mut api_key_id = random_lowercase_alphanumeric(16);
        while s
            .env0
            .orgs
            .iter()
            .flat_map(|o| &o.api_keys)
            .any(|k| k.api_key_id == api_key_id)
        {
            api_key_id = random_lowercase_alphanumeric(16);
        }
        let key = ApiKey {
            id: uuid_v4(),
            name,
            api_key_id,
            api_key_secret: random_alphanumeric(32),
            organization_role: role,
            projects_permissions: permissions,
            created_at: now_rfc3339(),
            created_by: caller.key_id.clone(),
            last_used_at: None,
        };
        s.env0
            .org_mut(&org_id)
            .ok_or_else(|| Env0Error::internal("organization vanished"))?
            .api_keys
            .push(key.clone());
        Ok::<_, Env0Error>((org_id, key))
    })?;
    shared.persist().await.map_err(Env0Error::internal)?;
    Ok(Json(key_json(&org_id, &key, true)).into_response())
}

pub(super) async fn list_keys(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, Env0Error> {
    let org_id = query_param(&uri, "organizationId").filter(|v| !v.is_empty());
    let keys = shared.read(|s| {
        let org = admin_org(&s.env0, &caller, org_id.as_deref())?;
        Ok::<_, Env0Error>(
            org.api_keys
                .iter()
                .map(|k| key_json(&org.id, k, false))
                .collect::<Vec<_>>(),
        )
    })?;
    Ok(Json(Value::Array(keys)).into_response())
}

pub(super) async fn delete_key(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Env0Error> {
    let id = path_id(path, "API Key")?;
    shared.try_mutate(|s| {
        let org = s
            .env0
            .orgs
            .iter_mut()
            .filter(|o| Env0Data::role_in(&caller, o) == Some("Admin"))
            .find(|o| o.api_keys.iter().any(|k| k.id == id))
            .ok_or_else(|| Env0Error::not_found(format!("API Key {id} not found")))?;
        org.api_keys.retain(|k| k.id != id);
        Ok::<_, Env0Error>(())
    })?;
    shared.persist().await.map_err(Env0Error::internal)?;
    Ok(StatusCode::OK.into_response())
}
