//! `/api/atlas/v2/orgs/{orgId}/apiKeys[/{apiUserId}]`: organization API keys.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::Extension;

use crate::sandbox::Shared;

use super::*;

pub(super) async fn list_keys(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let org_id = org_id_of(path, &uri)?;
    let mut page = Page::from_query(uri.query())?;
    page.name = None;
    let view = shared
        .read(|s| {
            let org = s.atlas.org(&org_id)?;
            let results = org.api_keys[page.range(org.api_keys.len())]
                .iter()
                .map(|k| key_json(&base, &org.id, k, false))
                .collect();
            Some(page.view(
                &base,
                &format!("/api/atlas/v2/orgs/{org_id}/apiKeys"),
                org.api_keys.len(),
                results,
            ))
        })
        .ok_or_else(|| ApiError::org_not_found(&org_id))?;
    Ok(atlas_json(StatusCode::OK, &view))
}

pub(super) async fn create_key(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let org_id = org_id_of(path, &uri)?;
    if shared.read(|s| s.atlas.org(&org_id).is_none()) {
        return Err(ApiError::org_not_found(&org_id));
    }
    let object = object_body(&body, &["desc", "roles"])?;
    let request = parse_new_key(&object, "")?;
    let ids = shared.ids();
    let key = shared.try_mutate(|s| {
        let key = new_key(s, ids, request);
        let org = s
            .atlas
            .org_mut(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        org.api_keys.push(key.clone());
        Ok::<_, ApiError>(key)
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(atlas_json(
        StatusCode::OK,
        &key_json(&base, &org_id, &key, true),
    ))
}

pub(super) async fn get_key(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (org_id, key_id) = key_path_of(path, &uri)?;
    let key = shared.read(|s| {
        let org = s
            .atlas
            .org(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        org.api_keys
            .iter()
            .find(|k| k.id == key_id)
            .map(|k| key_json(&base, &org_id, k, false))
            .ok_or_else(|| ApiError::key_not_found(&key_id))
    })?;
    Ok(atlas_json(StatusCode::OK, &key))
}

pub(super) async fn update_key(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (org_id, key_id) = key_path_of(path, &uri)?;
    shared.read(|s| {
        let org = s
            .atlas
            .org(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        org.api_keys
            .iter()
            .any(|k| k.id == key_id)
            .then_some(())
            .ok_or_else(|| ApiError::key_not_found(&key_id))
    })?;
    let object = object_body(&body, &["desc", "roles"])?;
    let desc = opt_string(&object, "desc")?;
    if let Some(desc) = &desc {
        check_desc("desc", desc)?;
    }
    let roles = roles_attr(&object, "roles", "roles")?;
    if desc.is_none() && roles.is_none() {
        return Err(ApiError::validation(
            "desc",
            "at least one of desc and roles must be specified",
        ));
    }
    let key = shared.try_mutate(|s| {
        let key = s
            .atlas
            .org_mut(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?
            .api_keys
            .iter_mut()
            .find(|k| k.id == key_id)
            .ok_or_else(|| ApiError::key_not_found(&key_id))?;
        if let Some(desc) = desc {
            key.desc = desc;
        }
        if let Some(roles) = roles {
            key.roles = roles;
        }
        Ok::<_, ApiError>(key_json(&base, &org_id, key, false))
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(atlas_json(StatusCode::OK, &key))
}

pub(super) async fn delete_key(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (org_id, key_id) = key_path_of(path, &uri)?;
    shared.try_mutate(|s| {
        let org = s
            .atlas
            .org_mut(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        let before = org.api_keys.len();
        org.api_keys.retain(|k| k.id != key_id);
        if org.api_keys.len() == before {
            return Err(ApiError::key_not_found(&key_id));
        }
        Ok(())
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(no_content())
}
