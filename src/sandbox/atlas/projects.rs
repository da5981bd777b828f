//! `/api/atlas/v2/groups/{groupId}/apiKeys[/{apiUserId}]`: organization API keys in projects.
//!
//! A key of the project's organization is assigned with project roles (`POST`), its roles
//! there are replaced (`PATCH`) or it is unassigned (`DELETE`); a key can also be created
//! straight into a project (`POST …/apiKeys`). A key's project roles appear in its `roles` as
//! `{"groupId", "roleName"}` on every key route and in the project's listing. Projects
//! themselves are made with the sandbox helper `POST /_sandbox/atlas/orgs/{orgId}/projects`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value};

use crate::sandbox::Shared;

use super::*;

/// The path's `{groupId}`, checked.
fn group_id_of(path: Result<Path<String>, PathRejection>, uri: &Uri) -> Result<String, ApiError> {
    org_id_of(path, uri)
}

/// The path's `{groupId}` and `{apiUserId}`, checked.
fn group_key_path_of(
    path: Result<Path<(String, String)>, PathRejection>,
    uri: &Uri,
) -> Result<(String, String), ApiError> {
    key_path_of(path, uri)
}

/// The organization holding project `group_id`, if the caller holds a role there that
/// `allowed` accepts.
fn project_org(
    shared: &Shared,
    caller: &Caller,
    group_id: &str,
    allowed: fn(&Grants, &str) -> bool,
) -> Result<String, ApiError> {
    shared.read(|s| {
        let (org, _) = s
            .atlas
            .project(group_id)
            .ok_or_else(|| ApiError::group_not_found(group_id))?;
        if allowed(&Grants::of(&s.atlas, caller, &org.id), group_id) {
            Ok(org.id.clone())
        } else {
            Err(ApiError::forbidden())
        }
    })
}

/// Attribute `name` of `object` as project roles: a non-empty array of `PROJECT_ROLES`
/// (duplicates dropped, order kept).
fn project_roles_attr(
    object: &Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let items = match object.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::invalid_attribute(name, "must be an array")),
    };
    if items.is_empty() {
        return Err(ApiError::validation(name, "at least one role is required"));
    }
    let mut roles: Vec<String> = Vec::new();
    for item in items {
        let text = match item {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !PROJECT_ROLES.contains(&text.as_str()) {
            return Err(ApiError::invalid_value_of(name, &text, &PROJECT_ROLES));
        }
        if !roles.contains(&text) {
            roles.push(text);
        }
    }
    Ok(Some(roles))
}

/// `key`'s roles in project `group_id` become `roles`.
fn set_project_roles(key: &mut ApiKey, group_id: &str, roles: Vec<String>) {
    key.project_roles.retain(|r| r.group_id != group_id);
    key.project_roles
        .extend(roles.into_iter().map(|role_name| ProjectRole {
            group_id: group_id.to_owned(),
            role_name,
        }));
}

fn not_in_project(key_id: &str, group_id: &str) -> ApiError {
    // GUESS: the errorCode and text for a key that is not assigned to the project.
    ApiError::new(
        StatusCode::NOT_FOUND,
        "API_KEY_NOT_IN_GROUP",
        format!("API key {key_id} is not assigned to project {group_id}."),
    )
    .params(vec![json!(key_id), json!(group_id)])
}

/// `GET /api/atlas/v2/groups/{groupId}/apiKeys` (Project Read Only): the keys holding a role
/// in the project, paginated.
pub(super) async fn list_project_keys(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let group_id = group_id_of(path, &uri)?;
    let mut page = Page::from_query(uri.query())?;
    page.name = None;
    let org_id = project_org(&shared, &caller, &group_id, Grants::project_read)?;
    let view = shared.read(|s| {
        let keys: Vec<&ApiKey> = s
            .atlas
            .org(&org_id)
            .map(|o| {
                o.api_keys
                    .iter()
                    .filter(|k| k.project_roles.iter().any(|r| r.group_id == group_id))
                    .collect()
            })
            .unwrap_or_default();
        // GUESS: each key as on the organization routes, with all its roles.
        let results = keys[page.range(keys.len())]
            .iter()
            .map(|k| key_json(&base, &org_id, k, false))
            .collect();
        page.view(
            &base,
            &format!("/api/atlas/v2/groups/{group_id}/apiKeys"),
            keys.len(),
            results,
        )
    });
    Ok(atlas_json(StatusCode::OK, &view))
}

/// `POST /api/atlas/v2/groups/{groupId}/apiKeys` (Project Access Manager): a new key of the
/// project's organization with roles in the project; 200 with the unredacted private key.
pub(super) async fn create_project_key(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let group_id = group_id_of(path, &uri)?;
    let org_id = project_org(&shared, &caller, &group_id, Grants::project_owner)?;
    let object = object_body(&body, &["desc", "roles"])?;
    let desc = req_string(&object, "desc")?;
    check_desc("desc", &desc)?;
    let roles = project_roles_attr(&object, "roles")?.ok_or_else(|| ApiError::missing("roles"))?;
    let ids = shared.ids();
    let key = shared.try_mutate(|s| {
        // GUESS: a key made in a project holds ORG_MEMBER in its organization.
        let mut key = new_key(
            s,
            ids,
            NewKey {
                desc,
                roles: vec!["ORG_MEMBER".to_owned()],
            },
        );
        set_project_roles(&mut key, &group_id, roles);
        s.atlas
            .org_mut(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?
            .api_keys
            .push(key.clone());
        Ok::<_, ApiError>(key)
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(atlas_json(
        StatusCode::OK,
        &key_json(&base, &org_id, &key, true),
    ))
}

/// The roles of a `POST …/apiKeys/{apiUserId}` body: an array of `{"roles": […]}` (the roles
/// of every item together).
fn parse_assignment(body: &Bytes) -> Result<Vec<String>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
    let Value::Array(items) = value else {
        return Err(ApiError::invalid_json());
    };
    let mut roles: Vec<String> = Vec::new();
    for item in &items {
        let Value::Object(object) = item else {
            return Err(ApiError::invalid_json());
        };
        if let Some(unknown) = object
            .keys()
            .find(|k| !["roles", "userId"].contains(&k.as_str()))
        {
            return Err(ApiError::invalid_attribute(
                unknown,
                "is not a known attribute",
            ));
        }
        for role in project_roles_attr(object, "roles")?.unwrap_or_default() {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    if roles.is_empty() {
        return Err(ApiError::missing("roles"));
    }
    Ok(roles)
}

/// `POST /api/atlas/v2/groups/{groupId}/apiKeys/{apiUserId}` (Project Owner): assigns a key
/// of the project's organization with roles; 204.
pub(super) async fn assign_key(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (group_id, key_id) = group_key_path_of(path, &uri)?;
    let org_id = project_org(&shared, &caller, &group_id, Grants::project_owner)?;
    let roles = parse_assignment(&body)?;
    shared.try_mutate(|s| {
        // GUESS: a key of another organization is not found from the project's organization.
        let key = s
            .atlas
            .org_mut(&org_id)
            .and_then(|o| o.key_mut(&key_id))
            .ok_or_else(|| ApiError::key_not_found(&key_id))?;
        if key.project_roles.iter().any(|r| r.group_id == group_id) {
            // GUESS: the status (Atlas's code name is known from user reports).
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "API_KEY_ALREADY_IN_GROUP",
                format!("API key {key_id} is already assigned to project {group_id}."),
            )
            .params(vec![json!(key_id), json!(group_id)]));
        }
        set_project_roles(key, &group_id, roles);
        Ok(())
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(no_content())
}

/// `PATCH /api/atlas/v2/groups/{groupId}/apiKeys/{apiUserId}` (Project Access Manager):
/// `roles` replace the key's roles in the project, `desc` its description; 200 the key.
pub(super) async fn update_key_roles(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (group_id, key_id) = group_key_path_of(path, &uri)?;
    let org_id = project_org(&shared, &caller, &group_id, Grants::project_owner)?;
    let object = object_body(&body, &["desc", "roles"])?;
    let desc = opt_string(&object, "desc")?;
    if let Some(desc) = &desc {
        check_desc("desc", desc)?;
    }
    let roles = project_roles_attr(&object, "roles")?;
    if desc.is_none() && roles.is_none() {
        return Err(ApiError::validation(
            "roles",
            "at least one of desc and roles must be specified",
        ));
    }
    let key = shared.try_mutate(|s| {
        let key = s
            .atlas
            .org_mut(&org_id)
            .and_then(|o| o.key_mut(&key_id))
            .ok_or_else(|| ApiError::key_not_found(&key_id))?;
        if !key.project_roles.iter().any(|r| r.group_id == group_id) {
            return Err(not_in_project(&key_id, &group_id));
        }
        if let Some(desc) = desc {
            key.desc = desc;
        }
        if let Some(roles) = roles {
            set_project_roles(key, &group_id, roles);
        }
        Ok(key_json(&base, &org_id, key, false))
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(atlas_json(StatusCode::OK, &key))
}

/// `DELETE /api/atlas/v2/groups/{groupId}/apiKeys/{apiUserId}` (Project Access Manager):
/// removes the key from the project; 204.
pub(super) async fn unassign_key(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (group_id, key_id) = group_key_path_of(path, &uri)?;
    let org_id = project_org(&shared, &caller, &group_id, Grants::project_owner)?;
    shared.try_mutate(|s| {
        let key = s
            .atlas
            .org_mut(&org_id)
            .and_then(|o| o.key_mut(&key_id))
            .ok_or_else(|| ApiError::key_not_found(&key_id))?;
        if !key.project_roles.iter().any(|r| r.group_id == group_id) {
            return Err(not_in_project(&key_id, &group_id));
        }
        key.project_roles.retain(|r| r.group_id != group_id);
        Ok(())
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(no_content())
}
