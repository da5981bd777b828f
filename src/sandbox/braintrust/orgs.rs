//! `/v1/organization[/{organization_id}]`: organizations.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::sandbox::Shared;

use super::*;

pub(super) fn org_json(org: &Org) -> Value {
    json!({
        "id": org.id,
        "name": org.name,
        "api_url": org.api_url,
        "is_universal_api": org.is_universal_api,
        "is_dataplane_private": org.is_dataplane_private,
        "proxy_url": org.proxy_url,
        "realtime_url": org.realtime_url,
        "created": org.created,
        "image_rendering_mode": org.image_rendering_mode,
    })
}

/// `GET /v1/organization`: the organizations the caller belongs to.
pub(super) async fn list_orgs(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, BtError> {
    let q = ListQuery::parse(uri.query())?;
    let page = shared.read(|s| {
        q.page(
            &s.braintrust.orgs,
            |o| &o.id,
            |o| caller.belongs_to(&o.id) && q.org_name.as_ref().is_none_or(|n| *n == o.name),
        )
        .map(|page| page.into_iter().map(org_json).collect::<Vec<_>>())
    })?;
    Ok(objects(page))
}

/// The path's id, which must be a UUID (lowercased).
pub(super) fn checked_id(
    path: Result<Path<String>, PathRejection>,
    what: &str,
) -> Result<String, BtError> {
    match path {
        Ok(Path(id)) if is_uuid(&id) => Ok(id.to_ascii_lowercase()),
        Ok(Path(id)) => Err(BtError::bad_request(format!(
            "Invalid {what}: {id:?} is not a UUID"
        ))),
        Err(_) => Err(BtError::bad_request(format!("Invalid {what}"))),
    }
}

/// `GET /v1/organization/{organization_id}`: one the caller belongs to.
pub(super) async fn get_org(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, BtError> {
    let id = checked_id(path, "organization_id")?;
    shared
        .read(|s| {
            s.braintrust
                .orgs
                .iter()
                .find(|o| o.id == id && caller.belongs_to(&o.id))
                .map(org_json)
        })
        .map(|org| Json(org).into_response())
        .ok_or_else(|| {
            BtError::new(
                StatusCode::NOT_FOUND,
                format!("Organization {id} not found"),
            )
        })
}
