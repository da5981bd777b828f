//! `/api/atlas/v2/orgs[/{orgId}]`: organizations.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value};

use crate::sandbox::store::{now_rfc3339, random_lowercase, unix_now, uuid_v4, IdGen, Store};
use crate::sandbox::Shared;

use super::*;

pub(super) async fn list_orgs(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let page = Page::from_query(uri.query())?;
    let prefix = page.name.as_deref().map(str::to_lowercase);
    let view = shared.read(|s| {
        let matching: Vec<&Org> = s
            .atlas
            .orgs
            .iter()
            .filter(|o| {
                prefix
                    .as_deref()
                    .is_none_or(|p| o.name.to_lowercase().starts_with(p))
            })
            .collect();
        let results = matching[page.range(matching.len())]
            .iter()
            .map(|o| org_json(&base, o))
            .collect();
        page.view(&base, "/api/atlas/v2/orgs", matching.len(), results)
    });
    Ok(atlas_json(StatusCode::OK, &view))
}

pub(super) async fn get_org(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let org_id = org_id_of(path, &uri)?;
    let org = shared
        .read(|s| s.atlas.org(&org_id).map(|o| org_json(&base, o)))
        .ok_or_else(|| ApiError::org_not_found(&org_id))?;
    Ok(atlas_json(StatusCode::OK, &org))
}

/// A validated `CreateAtlasOrganizationApiKey`.
pub(super) struct NewKey {
    pub(super) desc: String,
    pub(super) roles: Vec<String>,
}

pub(super) fn parse_new_key(object: &Map<String, Value>, prefix: &str) -> Result<NewKey, ApiError> {
    let desc_field = format!("{prefix}desc");
    let roles_field = format!("{prefix}roles");
    let desc =
        string_attr(object, "desc", &desc_field)?.ok_or_else(|| ApiError::missing(&desc_field))?;
    check_desc(&desc_field, &desc)?;
    let roles = roles_attr(object, "roles", &roles_field)?
        .ok_or_else(|| ApiError::missing(&roles_field))?;
    Ok(NewKey { desc, roles })
}

pub(super) fn new_key(s: &Store, ids: &IdGen, key: NewKey) -> ApiKey {
    let mut public_key = random_lowercase(8);
    while s.atlas.public_key_taken(&public_key) {
        public_key = random_lowercase(8);
    }
    ApiKey {
        id: ids.object_id(),
        desc: key.desc,
        public_key,
        private_key: uuid_v4(),
        roles: key.roles,
        project_roles: Vec::new(),
        access_list: Vec::new(),
        created: now_rfc3339(),
    }
}

/// A validated `OrgServiceAccountRequest`.
pub(super) struct NewServiceAccount {
    name: String,
    description: String,
    roles: Vec<String>,
    secret_expires_after_hours: i64,
}

pub(super) fn parse_new_service_account(
    object: &Map<String, Value>,
) -> Result<NewServiceAccount, ApiError> {
    for key in object.keys() {
        if !["name", "description", "roles", "secretExpiresAfterHours"].contains(&key.as_str()) {
            return Err(ApiError::invalid_attribute(
                &format!("serviceAccount.{key}"),
                "is not a known attribute",
            ));
        }
    }
    let name = string_attr(object, "name", "serviceAccount.name")?
        .ok_or_else(|| ApiError::missing("serviceAccount.name"))?;
    check_service_account_text("serviceAccount.name", &name, 64)?;
    let description = string_attr(object, "description", "serviceAccount.description")?
        .ok_or_else(|| ApiError::missing("serviceAccount.description"))?;
    check_service_account_text("serviceAccount.description", &description, 250)?;
    let roles = roles_attr(object, "roles", "serviceAccount.roles")?
        .ok_or_else(|| ApiError::missing("serviceAccount.roles"))?;
    let hours = match object.get("secretExpiresAfterHours") {
        None | Some(Value::Null) => {
            return Err(ApiError::missing("serviceAccount.secretExpiresAfterHours"))
        }
        Some(v) => v
            .as_i64()
            .filter(|h| (8..=8760).contains(h))
            .ok_or_else(|| {
                ApiError::validation(
                    "serviceAccount.secretExpiresAfterHours",
                    "must be an integer between 8 and 8760",
                )
            })?,
    };
    Ok(NewServiceAccount {
        name,
        description,
        roles,
        secret_expires_after_hours: hours,
    })
}

pub(super) async fn create_org(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let object = object_body(
        &body,
        &[
            "name",
            "orgOwnerId",
            "federationSettingsId",
            "apiKey",
            "serviceAccount",
            "skipDefaultAlertsSettings",
        ],
    )?;
    let name = req_string(&object, "name")?;
    check_org_name("name", &name)?;
    let owner = opt_string(&object, "orgOwnerId")?;
    match (&owner, &caller) {
        (Some(owner), _) => check_object_id_attr("orgOwnerId", owner)?,
        (None, Caller::ApiKey(_)) => return Err(ApiError::missing("orgOwnerId")),
        (None, Caller::ServiceAccount(_)) => {}
    }
    let federation = opt_string(&object, "federationSettingsId")?;
    if let Some(f) = &federation {
        check_object_id_attr("federationSettingsId", f)?;
    }
    let skip = opt_bool(&object, "skipDefaultAlertsSettings")?.unwrap_or(false);
    let api_key = match object.get("apiKey") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => {
            if let Some(k) = o.keys().find(|k| !["desc", "roles"].contains(&k.as_str())) {
                return Err(ApiError::invalid_attribute(
                    &format!("apiKey.{k}"),
                    "is not a known attribute",
                ));
            }
            Some(parse_new_key(o, "apiKey.")?)
        }
        Some(_) => return Err(ApiError::invalid_attribute("apiKey", "must be an object")),
    };
    let service_account = match object.get("serviceAccount") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(parse_new_service_account(o)?),
        Some(_) => {
            return Err(ApiError::invalid_attribute(
                "serviceAccount",
                "must be an object",
            ))
        }
    };
    if api_key.is_some() && service_account.is_some() {
        return Err(ApiError::validation(
            "apiKey",
            "apiKey and serviceAccount cannot both be specified",
        ));
    }
    let ids = shared.ids();
    let (org, key, account) = shared.try_mutate(|s| {
        let org_id = ids.object_id();
        let key = api_key.map(|k| new_key(s, ids, k));
        let created = now_rfc3339();
        let account = service_account.map(|sa| ServiceAccount {
            client_id: format!("mdb_sa_id_{}", ids.object_id()),
            client_secret: new_client_secret(),
            secret_id: ids.object_id(),
            secret_expires_at: unix_now() + sa.secret_expires_after_hours * 3600,
            name: sa.name,
            description: sa.description,
            roles: sa.roles,
            created: created.clone(),
        });
        let org = Org {
            id: org_id,
            name,
            created,
            skip_default_alerts_settings: skip,
            org_owner_id: owner.clone(),
            federation_settings_id: federation.clone(),
            projects: Vec::new(),
            api_keys: key.iter().cloned().collect(),
            service_accounts: account.iter().cloned().collect(),
        };
        s.atlas.orgs.push(org.clone());
        Ok::<_, ApiError>((org, key, account))
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    let mut response = Map::new();
    response.insert("organization".into(), org_json(&base, &org));
    response.insert(
        "skipDefaultAlertsSettings".into(),
        json!(org.skip_default_alerts_settings),
    );
    if let Some(owner) = &org.org_owner_id {
        response.insert("orgOwnerId".into(), json!(owner));
    }
    if let Some(f) = &org.federation_settings_id {
        response.insert("federationSettingsId".into(), json!(f));
    }
    if let Some(key) = &key {
        response.insert("apiKey".into(), key_json(&base, &org.id, key, true));
    }
    if let Some(sa) = &account {
        response.insert("serviceAccount".into(), service_account_json(sa, true));
    }
    Ok(atlas_json(StatusCode::CREATED, &Value::Object(response)))
}

pub(super) async fn update_org(
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
    let object = object_body(
        &body,
        &[
            "name",
            "skipDefaultAlertsSettings",
            "id",
            "isDeleted",
            "links",
        ],
    )?;
    let name = req_string(&object, "name")?;
    check_org_name("name", &name)?;
    let skip = opt_bool(&object, "skipDefaultAlertsSettings")?;
    let org = shared.try_mutate(|s| {
        let org = s
            .atlas
            .org_mut(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        org.name = name;
        if let Some(skip) = skip {
            org.skip_default_alerts_settings = skip;
        }
        Ok::<_, ApiError>(org_json(&base, org))
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(atlas_json(StatusCode::OK, &org))
}

pub(super) async fn delete_org(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let org_id = org_id_of(path, &uri)?;
    shared.try_mutate(|s| {
        let org = s
            .atlas
            .org(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        if !org.projects.is_empty() {
            let ids: Vec<&str> = org.projects.iter().map(|p| p.id.as_str()).collect();
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "CANNOT_DELETE_ORG_ACTIVE_PROJECTS",
                "Organizations with active projects cannot be removed. All projects in the \
                 organization must be removed before you can remove the organization.",
            )
            .params(vec![json!(org_id), json!(ids.join(","))]));
        }
        let clients: Vec<String> = org
            .service_accounts
            .iter()
            .map(|sa| sa.client_id.clone())
            .collect();
        s.atlas.orgs.retain(|o| o.id != org_id);
        s.atlas.tokens.retain(|t| !clients.contains(&t.client_id));
        Ok(())
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(no_content())
}
