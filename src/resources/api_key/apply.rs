//! Plan, create, update and delete of a key, and the in-place syncs of Atlas access lists
//! and project roles.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::backend::{ApiKeyUpdate, Backend, BackendError, BackendKind, NewApiKey, RoleChange};
use crate::codec::{Key, Value};
use crate::framework::{ApplyResponse, Diagnostics};
use crate::resources::ProviderState;

use crate::resources::access_list::{entries, Entry};
use crate::resources::backend_diagnostic;
use crate::resources::braintrust_token;

use super::*;

impl ApiKeyResource {
    /// The resource, sharing the provider's configured backend.
    pub fn new(state: Arc<ProviderState>) -> Self {
        ApiKeyResource { state }
    }

    pub(super) fn plan_create(
        &self,
        kind: BackendKind,
        config: &ApiKeyModel,
        mut planned: ApiKeyModel,
    ) -> ApiKeyModel {
        for &attr in NEW_KEY_COMPUTED {
            *planned.get_mut(attr) = Value::Unknown;
        }
        // A new key's unset access list and project roles are what the backend gives it.
        for attr in [ApiKeyAttr::AccessList, ApiKeyAttr::ProjectRoles] {
            if config.get(attr).is_null() {
                *planned.get_mut(attr) = match kind {
                    BackendKind::Atlas => Value::Unknown,
                    _ => Value::Null,
                };
            }
        }
        planned.preview = if kind == BackendKind::Braintrust {
            Value::Unknown
        } else {
            Value::Null
        };
        if kind == BackendKind::Braintrust {
            planned.public_key = Value::Null;
            if planned.org_name.is_null() {
                let default = self.state.defaults().org.map(Value::from);
                planned.org_name = default.unwrap_or(Value::Unknown);
            }
        }
        if planned.org_id.is_null() {
            let default_org = match kind {
                BackendKind::Env0 => self.state.defaults().org.map(Value::from),
                _ => None,
            };
            planned.org_id = default_org.unwrap_or(Value::Unknown);
        }
        planned.expires_at = if planned.rotate_after.is_null() {
            Value::Null
        } else {
            Value::Unknown
        };
        planned
    }

    pub(super) async fn create(
        &self,
        backend: &dyn Backend,
        planned: &ApiKeyModel,
        config: &ApiKeyModel,
    ) -> ApplyResponse {
        let org_id = planned.org_id.as_str().map(str::to_string);
        let org_name =
            planned
                .org_name
                .as_str()
                .map(str::to_string)
                .or_else(|| match backend.kind() {
                    BackendKind::Braintrust => self.state.defaults().org,
                    _ => None,
                });
        let new = NewApiKey {
            org_id,
            org_name,
            name: planned.name.as_str().unwrap_or_default().to_string(),
            roles: string_vec(&planned.roles),
            // Atlas assigns project roles to the key once it exists (below).
            project_roles: match backend.kind() {
                BackendKind::Env0 => project_roles_of(&planned.project_roles),
                _ => BTreeMap::new(),
            },
            service_account_id: planned.service_account_id.as_str().map(str::to_string),
        };
        tracing::debug!(backend = backend.kind().name(), "creating API key");
        let created = match backend.create_api_key(&new).await {
            Ok(c) => c,
            Err(e) => {
                let mut diagnostics =
                    backend_diagnostic("Unable to create API key", &e, attribute_of_field);
                if let Some(hint) = braintrust_token::refusal_hint(backend.kind(), &new, &e) {
                    for d in &mut diagnostics.0 {
                        d.detail.push_str(hint);
                    }
                }
                return ApplyResponse {
                    diagnostics,
                    ..Default::default()
                };
            }
        };
        let mut state = planned.clone();
        merge_backend_view(&mut state, &created.key, backend.kind());
        // The configured roles are what was planned; the backend's echo may list them in
        // another form (or add project roles), which the next refresh reconciles. Atlas
        // project roles are assigned below, after the key exists.
        state.roles = planned.roles.clone();
        state.project_roles = planned.project_roles.clone();
        state.secret = Value::from(created.secret.expose());
        if state.created_at.is_unknown() {
            state.created_at = Value::from(now_rfc3339());
        }
        if state.org_name.is_unknown() {
            let name = org_name_of(backend, &state.org_id).await;
            state.org_name = Value::opt_string(name);
        }
        let mut diagnostics = Diagnostics::default();
        if backend.kind() == BackendKind::Atlas {
            // The key exists and its secret is in `state`: whatever fails now is an error on a
            // saved (tainted) key, never a lost one.
            let org = created.key.org_id.clone().unwrap_or_default();
            let id = created.key.id.clone();
            let wanted_entries = planned.access_list.strings().unwrap_or_default();
            let entries: Vec<String> = entries(wanted_entries.iter().copied())
                .iter()
                .map(Entry::vendor_text)
                .collect();
            match backend.add_access_list(&org, &id, &entries).await {
                Ok(()) => {
                    if state.access_list.is_unknown() {
                        state.access_list = Value::string_set(Vec::<String>::new());
                    }
                }
                Err(e) => {
                    state.access_list = Value::string_set(Vec::<String>::new());
                    diagnostics.extend(backend_diagnostic(
                        "Unable to set the API key's access list",
                        &e,
                        attribute_of_field,
                    ));
                }
            }
            let wanted = project_roles_of(&planned.project_roles);
            let mut assigned = BTreeMap::new();
            for (project, roles) in &wanted {
                let roles: Vec<String> = roles.iter().cloned().collect();
                match backend
                    .set_project_roles(&org, &id, project, &roles, RoleChange::Assign)
                    .await
                {
                    Ok(()) => {
                        assigned.insert(project.clone(), roles.into_iter().collect());
                    }
                    Err(e) => diagnostics.extend(backend_diagnostic(
                        "Unable to give the API key its project roles",
                        &e,
                        attribute_of_field,
                    )),
                }
            }
            if diagnostics.has_errors() || state.project_roles.is_unknown() {
                state.project_roles = project_roles_value(&assigned);
            }
        }
        let expires = match expiry(&state.created_at, &state.rotate_after) {
            Ok(expires) => expires.map(format_time).unwrap_or(Value::Null),
            Err(why) => {
                // The key exists and its secret is here: keep it, and say why it cannot expire.
                diagnostics.push_warning("The key cannot expire", why);
                Value::Null
            }
        };
        state.expires_at = expires;
        let (state, identity) = applied_state(state);
        ApplyResponse {
            identity,
            state,
            private: Private::applied(config),
            diagnostics,
        }
    }

    pub(super) async fn update(
        &self,
        backend: &dyn Backend,
        prior: &ApiKeyModel,
        planned: &ApiKeyModel,
        config: &ApiKeyModel,
    ) -> ApplyResponse {
        let changed = |attr: ApiKeyAttr| !prior.get(attr).equivalent(planned.get(attr));
        let update = ApiKeyUpdate {
            name: changed(ApiKeyAttr::Name)
                .then(|| planned.name.as_str().map(str::to_string))
                .flatten(),
            roles: changed(ApiKeyAttr::Roles).then(|| string_vec(&planned.roles)),
        };
        let org = prior.org_id.as_str().unwrap_or_default();
        let id = prior.id.as_str().unwrap_or_default();
        if update.name.is_some() || update.roles.is_some() {
            tracing::debug!(backend = backend.kind().name(), id, "updating API key");
            if let Err(e) = backend.update_api_key(org, id, &update).await {
                return ApplyResponse {
                    state: prior.clone().into(),
                    identity: identity_of(prior),
                    diagnostics: backend_diagnostic(
                        "Unable to update API key",
                        &e,
                        attribute_of_field,
                    ),
                    ..Default::default()
                };
            }
        }
        if backend.kind() == BackendKind::Atlas {
            let failed = |e: BackendError, summary: &str| ApplyResponse {
                state: prior.clone().into(),
                identity: identity_of(prior),
                diagnostics: backend_diagnostic(summary, &e, attribute_of_field),
                ..Default::default()
            };
            if let Some(wanted) = config.access_list.strings() {
                if let Err(e) = sync_access_list(backend, org, id, &wanted).await {
                    return failed(e, "Unable to change the API key's access list");
                }
            }
            if !config.project_roles.is_null() {
                let before = project_roles_of(&prior.project_roles);
                let after = project_roles_of(&planned.project_roles);
                if let Err(e) = sync_project_roles(backend, org, id, &before, &after).await {
                    return failed(e, "Unable to change the API key's project roles");
                }
            }
        }
        let (state, identity) = applied_state(planned.clone());
        ApplyResponse {
            identity,
            state,
            private: Private::applied(config),
            ..Default::default()
        }
    }

    pub(super) async fn delete(&self, backend: &dyn Backend, prior: &ApiKeyModel) -> ApplyResponse {
        let org = prior.org_id.as_str().unwrap_or_default();
        let id = prior.id.as_str().unwrap_or_default();
        tracing::debug!(backend = backend.kind().name(), id, "deleting API key");
        braintrust_token::hint_kind(backend, prior);
        match backend.delete_api_key(org, id).await {
            Ok(()) => ApplyResponse::default(),
            Err(e) => ApplyResponse {
                state: prior.clone().into(),
                identity: identity_of(prior),
                diagnostics: backend_diagnostic("Unable to delete API key", &e, |_| None),
                ..Default::default()
            },
        }
    }
}

/// Makes a key's access list hold exactly `wanted` (by meaning), against the list as the
/// vendor has it now: entries missing are added in one request, extra ones removed one by one.
pub(super) async fn sync_access_list(
    backend: &dyn Backend,
    org: &str,
    id: &str,
    wanted: &[&str],
) -> Result<(), BackendError> {
    let current = backend.get_access_list(org, id).await?;
    let have = entries(current.iter().map(String::as_str));
    let want = entries(wanted.iter().copied());
    let add: Vec<String> = want.difference(&have).map(Entry::vendor_text).collect();
    backend.add_access_list(org, id, &add).await?;
    for text in &current {
        let gone = Entry::parse(text).map_or(true, |e| !want.contains(&e));
        if gone {
            backend.remove_access_list_entry(org, id, text).await?;
        }
    }
    Ok(())
}

/// Moves a key's project roles from `before` to `after`: new projects assigned, changed ones
/// replaced, dropped ones unassigned.
pub(crate) async fn sync_project_roles(
    backend: &dyn Backend,
    org: &str,
    id: &str,
    before: &BTreeMap<String, BTreeSet<String>>,
    after: &BTreeMap<String, BTreeSet<String>>,
) -> Result<(), BackendError> {
    for (project, roles) in after {
        let list: Vec<String> = roles.iter().cloned().collect();
        match before.get(project) {
            None => {
                backend
                    .set_project_roles(org, id, project, &list, RoleChange::Assign)
                    .await?
            }
            Some(old) if old != roles => {
                backend
                    .set_project_roles(org, id, project, &list, RoleChange::Replace)
                    .await?
            }
            Some(_) => {}
        }
    }
    for project in before.keys().filter(|p| !after.contains_key(*p)) {
        backend.unassign_project(org, id, project).await?;
    }
    Ok(())
}

/// Version 0 → 1: each `project_roles` value (one env0 project role) becomes a one-element
/// set, so a key planned with the earlier release plans with no changes.
pub(super) fn upgrade_state(version: i64, mut state: serde_json::Value) -> serde_json::Value {
    if version == 0 {
        if let Some(roles) = state
            .get_mut("project_roles")
            .and_then(serde_json::Value::as_object_mut)
        {
            for role in roles.values_mut() {
                if role.is_string() {
                    *role = serde_json::Value::Array(vec![role.take()]);
                }
            }
        }
    }
    state
}

/// A `map(set(string))` value as project id → roles (null → none).
pub(crate) fn project_roles_of(v: &Value) -> BTreeMap<String, BTreeSet<String>> {
    v.entries()
        .map(|m| {
            m.iter()
                .map(|(project, roles)| {
                    (project.to_string(), string_vec(roles).into_iter().collect())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Project id → roles as a `map(set(string))` value.
pub(crate) fn project_roles_value(roles: &BTreeMap<String, BTreeSet<String>>) -> Value {
    Value::Map(
        roles
            .iter()
            .map(|(project, roles)| {
                (
                    Key::from(project.as_str()),
                    Value::string_set(roles.iter().cloned()),
                )
            })
            .collect(),
    )
}

pub(crate) fn string_vec(v: &Value) -> Vec<String> {
    v.strings()
        .map(|s| s.into_iter().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The name of the organization `org_id` (Braintrust reports keys' organizations by id).
pub(super) async fn org_name_of(backend: &dyn Backend, org_id: &Value) -> Option<String> {
    let id = org_id.as_str()?;
    match backend.get_org(id).await {
        Ok(org) => Some(org.name),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the key's organization name");
            None
        }
    }
}

/// Parses an import ID for `kind`; the error shows the expected form.
pub(super) fn parse_import_id(
    kind: BackendKind,
    id: &str,
) -> Result<(Option<String>, String), String> {
    match kind {
        BackendKind::Atlas => match id.split_once('/') {
            Some((org, key)) if is_hex24(org) && is_hex24(key) => {
                Ok((Some(org.to_string()), key.to_string()))
            }
            _ => Err(format!(
                "{id:?} is not an Atlas API key import ID. Expected \"<org_id>/<id>\": the organization's 24-hex id and the key's 24-hex id, separated by a slash."
            )),
        },
        _ if !id.trim().is_empty() && !id.contains('/') => Ok((None, id.to_string())),
        _ => Err(format!(
            "{id:?} is not a {} API key import ID. Expected \"<id>\": the key's id.",
            kind.name()
        )),
    }
}
