//! Sandbox-only helpers under `/_sandbox/atlas/` (no auth, no faults).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::sandbox::{control_error, Shared};

use super::*;

pub(super) async fn add_project(
    State(shared): State<Arc<Shared>>,
    Path(org_id): Path<String>,
    body: Bytes,
) -> Response {
    let name = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(o)) => o.get("name").and_then(Value::as_str).map(str::to_owned),
            _ => return control_error(StatusCode::BAD_REQUEST, "body must be a JSON object"),
        }
    };
    let ids = shared.ids();
    let project: Result<Project, &str> = shared.try_mutate(|s| {
        let org = s.atlas.org_mut(&org_id).ok_or("no such organization")?;
        let project = Project {
            id: ids.object_id(),
            name: name.unwrap_or_else(|| format!("project-{}", org.projects.len() + 1)),
        };
        org.projects.push(project.clone());
        Ok(project)
    });
    let Ok(project) = project else {
        return control_error(StatusCode::NOT_FOUND, "no such organization");
    };
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({ "id": project.id, "name": project.name, "orgId": org_id })),
    )
        .into_response()
}

pub(super) async fn remove_projects(
    State(shared): State<Arc<Shared>>,
    Path(org_id): Path<String>,
) -> Response {
    let done: Result<(), &str> = shared.try_mutate(|s| {
        let org = s.atlas.org_mut(&org_id).ok_or("no such organization")?;
        org.projects.clear();
        for key in &mut org.api_keys {
            key.project_roles.clear();
        }
        Ok(())
    });
    if done.is_err() {
        return control_error(StatusCode::NOT_FOUND, "no such organization");
    }
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProjectRoleRequest {
    group_id: String,
    role_name: String,
}

pub(super) async fn add_project_role(
    State(shared): State<Arc<Shared>>,
    Path((org_id, key_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<ProjectRoleRequest>(&body) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "body must be {\"groupId\": …, \"roleName\": …}",
        );
    };
    let result = shared.try_mutate(|s| {
        let org = s.atlas.org_mut(&org_id).ok_or("no such organization")?;
        if !org.projects.iter().any(|p| p.id == request.group_id) {
            return Err("no such project in this organization");
        }
        let key = org
            .api_keys
            .iter_mut()
            .find(|k| k.id == key_id)
            .ok_or("no such API key in this organization")?;
        let role = ProjectRole {
            group_id: request.group_id,
            role_name: request.role_name,
        };
        if !key.project_roles.contains(&role) {
            key.project_roles.push(role);
        }
        Ok(key_json("", &org_id, key, false)["roles"].clone())
    });
    match result {
        Ok(roles) => {
            if let Err(e) = shared.persist().await {
                return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
            }
            axum::Json(json!({ "roles": roles })).into_response()
        }
        Err(why) => control_error(StatusCode::NOT_FOUND, why),
    }
}
