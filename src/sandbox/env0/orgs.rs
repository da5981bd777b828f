//! `/organizations[/{id}]`: organizations.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::sandbox::store::{now_rfc3339, rfc3339_at, unix_now, uuid_v4};
use crate::sandbox::Shared;

use super::*;

pub(super) fn org_json(org: &Org, role: Option<&str>) -> Value {
    let mut body = json!({
        "id": org.id,
        "name": org.name,
        "description": org.description,
        "photoUrl": org.photo_url,
        "createdBy": org.created_by,
        "createdAt": org.created_at,
        "updatedAt": org.created_at,
        "mode": org.mode,
        "maxTtl": null,
        "defaultTtl": null,
        "doNotReportSkippedStatusChecks": false,
        "doNotConsiderMergeCommitsForPrPlans": false,
        "enableOidc": false,
        "enforcePrCommenterPermissions": false,
        "allowEnv0Secrets": true,
        "requireApprovalForPrApplies": false,
        "allowMergeableBypassForPrApply": false,
        "projectCustomFlowsPolicy": "MERGE_WITH_TEMPLATES",
        "isSelfHostedK8s": false,
    });
    if let Some(end) = &org.trial_end {
        body["trialEnd"] = json!(end);
    }
    if let Some(role) = role {
        body["role"] = json!(role);
    }
    body
}

pub(super) async fn create_org(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Env0Error> {
    let object = body_object(&body, &["name", "description", "photoUrl"])?;
    let name = string_at(&object, "/body", "name", true)?.unwrap_or_default();
    let description = string_at(&object, "/body", "description", false)?;
    let photo_url = string_at(&object, "/body", "photoUrl", false)?;
    let org = shared.try_mutate(|s| {
        let org = Org {
            id: uuid_v4(),
            name,
            description,
            photo_url,
            created_by: caller.key_id.clone(),
            created_at: now_rfc3339(),
            mode: "trial".to_owned(),
            trial_end: Some(rfc3339_at(unix_now() + TRIAL_SECS)),
            projects: Vec::new(),
            custom_roles: Vec::new(),
            api_keys: Vec::new(),
        };
        s.env0.orgs.push(org.clone());
        Ok::<_, Env0Error>(org)
    })?;
    shared.persist().await.map_err(Env0Error::internal)?;
    Ok(Json(org_json(&org, None)).into_response())
}

pub(super) async fn list_orgs(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let orgs: Vec<Value> = shared.read(|s| {
        s.env0
            .orgs
            .iter()
            .filter_map(|o| Env0Data::role_in(&caller, o).map(|role| org_json(o, Some(role))))
            .collect()
    });
    Json(Value::Array(orgs)).into_response()
}

pub(super) async fn get_org(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Env0Error> {
    let id = path_id(path, "Organization")?;
    shared
        .read(|s| {
            let org = s.env0.org(&id)?;
            Env0Data::role_in(&caller, org).map(|role| org_json(org, Some(role)))
        })
        .map(|org| Json(org).into_response())
        .ok_or_else(|| Env0Error::not_found(format!("Organization {id} not found")))
}
