//! `keysmith_api_key`: an API key on the configured backend, with its one-time secret kept
//! in state.
//!
//! The resource's shape is that of every resource, one file per part: `schema` (attributes,
//! identity, the state upgrade), `rules` (what each backend accepts, at validation and at
//! plan), `lifecycle` (expiry, private data, the backend's view merged into state), `apply`
//! (plan, create, update, delete and the in-place syncs); this file holds the
//! [`Resource`] implementation, read and import, and what the list resource shares.

use std::sync::Arc;

use super::ProviderState;
use crate::backend::{ApiKey, BackendKind};
use crate::codec::{AttributePath, Schema, Value};
use crate::framework::{
    ApplyRequest, ApplyResponse, Diagnostics, IdentitySchema, ImportRequest, ImportResponse,
    PlanRequest, PlanResponse, ReadRequest, ReadResponse, Resource, UpgradeRequest,
    UpgradeResponse,
};

use super::access_list::same;
use super::braintrust_token;
use super::{backend_diagnostic, failed_read};

/// The Atlas organization roles an API key may hold.
pub const ATLAS_ROLES: &[&str] = &[
    "ORG_OWNER",
    "ORG_MEMBER",
    "ORG_GROUP_CREATOR",
    "ORG_BILLING_ADMIN",
    "ORG_BILLING_READ_ONLY",
    "ORG_STREAM_PROCESSING_ADMIN",
    "ORG_READ_ONLY",
];

/// The roles an env0 API key may hold in a project.
pub const ENV0_PROJECT_ROLES: &[&str] = &["Planner", "Viewer", "Deployer", "Admin"];

mod apply;
mod lifecycle;
mod rules;
mod schema;

use apply::*;
pub(crate) use apply::{project_roles_of, project_roles_value, string_vec, sync_project_roles};
use lifecycle::*;
pub(crate) use rules::*;
use schema::*;
pub(crate) use schema::{ApiKeyAttr, ApiKeyModel};

// ---------------------------------------------------------------------------------------
// The resource
// ---------------------------------------------------------------------------------------

/// The `keysmith_api_key` resource type.
#[derive(Debug)]
pub struct ApiKeyResource {
    state: Arc<ProviderState>,
}

#[async_trait::async_trait]
impl Resource for ApiKeyResource {
    fn type_name(&self) -> &'static str {
        "keysmith_api_key"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(identity_schema())
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(&ApiKeyModel::from(config))
    }

    fn upgrade_state(&self, req: UpgradeRequest) -> UpgradeResponse {
        UpgradeResponse {
            state: upgrade_state(req.version, req.state),
            ..Default::default()
        }
    }

    async fn plan(&self, req: PlanRequest) -> PlanResponse {
        if req.proposed.is_null() {
            return PlanResponse::default();
        }
        let backend = match self.state.backend() {
            Ok(b) => b,
            Err(diagnostics) => {
                return PlanResponse {
                    diagnostics,
                    ..Default::default()
                }
            }
        };
        let kind = backend.kind();
        let config = ApiKeyModel::from(req.config);
        let mut diagnostics = validate_for_backend(kind, &config);
        diagnostics.extend(validate_config(&config));
        if diagnostics.has_errors() {
            return PlanResponse {
                diagnostics,
                ..Default::default()
            };
        }
        let Some(rules) = rules(kind) else {
            return PlanResponse {
                diagnostics,
                ..Default::default()
            };
        };
        if req.prior.is_null() {
            return PlanResponse {
                planned: self.plan_create(kind, &config, req.proposed.into()).into(),
                diagnostics,
                ..Default::default()
            };
        }

        // Update: the proposal already carries prior values for computed attributes.
        let prior = ApiKeyModel::from(req.prior);
        let mut planned = ApiKeyModel::from(req.proposed);
        // An access list equal by meaning is no change: the prior spelling stays.
        if let (Some(was), Some(now)) = (prior.access_list.strings(), planned.access_list.strings())
        {
            if same(was, now) {
                planned.access_list = prior.access_list.clone();
            }
        }
        // env0 reports no project roles: an imported key adopts the configured ones.
        let adopt_project_roles = kind == BackendKind::Env0
            && prior.project_roles.is_null()
            && Private::read(&req.prior_private).imported;
        let replace_inputs: Vec<ApiKeyAttr> = INPUTS
            .iter()
            .copied()
            .filter(|a| !rules.in_place.contains(a))
            .filter(|a| !(adopt_project_roles && *a == ApiKeyAttr::ProjectRoles))
            .collect();
        let mut requires_replace: Vec<AttributePath> =
            replace_inputs.iter().map(|a| a.path()).collect();
        let mut replace = replace_inputs
            .iter()
            .any(|&a| !prior.get(a).equivalent(planned.get(a)));

        // Scheduled rotation: the key expires at created_at + rotate_after, and is due once
        // that is past as of the last refresh (see `judged_at`).
        planned.expires_at = match &planned.rotate_after {
            Value::Null => Value::Null,
            Value::Unknown => Value::Unknown,
            rotate_after => match expiry(&prior.created_at, rotate_after) {
                Ok(Some(expires))
                    if judged_at(&req.prior_private).is_some_and(|t| expires <= t) =>
                {
                    // An unknown expiry differs from the prior one, so Terraform replaces.
                    requires_replace.push(ApiKeyAttr::ExpiresAt.path());
                    replace = true;
                    Value::Unknown
                }
                Ok(Some(expires)) => format_time(expires),
                Ok(None) => Value::Null,
                Err(why) => {
                    diagnostics.push_warning("The key cannot expire", why);
                    Value::Null
                }
            },
        };
        if replace {
            // The new key's computed values are known only after it is created.
            planned = self.plan_create(kind, &config, planned);
        }
        PlanResponse {
            planned_identity: if replace {
                None
            } else {
                req.prior_identity.or_else(|| identity_of(&prior))
            },
            planned: planned.into(),
            requires_replace,
            diagnostics,
            planned_private: req.prior_private,
        }
    }

    async fn apply(&self, req: ApplyRequest) -> ApplyResponse {
        let backend = match self.state.backend() {
            Ok(b) => b,
            Err(diagnostics) => {
                return ApplyResponse {
                    state: req.prior,
                    diagnostics,
                    ..Default::default()
                }
            }
        };
        let backend = backend.as_ref();
        if req.planned.is_null() {
            self.delete(backend, &req.prior.into()).await
        } else if req.prior.is_null() {
            self.create(backend, &req.planned.into(), &req.config.into())
                .await
        } else {
            let (prior, planned) = (req.prior.into(), req.planned.into());
            self.update(backend, &prior, &planned, &req.config.into())
                .await
        }
    }

    async fn read(&self, req: ReadRequest) -> ReadResponse {
        let backend = match self.state.backend() {
            Ok(b) => b,
            Err(diagnostics) => {
                return ReadResponse {
                    state: req.state,
                    diagnostics,
                    ..Default::default()
                }
            }
        };
        let mut state = ApiKeyModel::from(req.state);
        let org = state.org_id.as_str().unwrap_or_default().to_string();
        let id = state.id.as_str().unwrap_or_default().to_string();
        braintrust_token::hint_kind(backend.as_ref(), &state);
        match backend.get_api_key(&org, &id).await {
            Ok(key) => {
                let mut private = Private::read(&req.private);
                // An import's state holds only the id (Terraform does not always hand the
                // import's private data to this read): the first read fills the rest.
                if state.name.is_null() {
                    private.imported = true;
                }
                merge_backend_view(&mut state, &key, backend.kind());
                if backend.kind() == BackendKind::Braintrust && state.org_name.is_null() {
                    // Imported keys: Braintrust reports the organization by id only.
                    let name = org_name_of(backend.as_ref(), &state.org_id).await;
                    state.org_name = Value::opt_string(name);
                }
                let mut diagnostics = Diagnostics::default();
                if backend.kind() == BackendKind::Atlas
                    && (private.manages_access_list || private.imported)
                {
                    match backend.get_access_list(&org, &id).await {
                        Ok(vendor) => {
                            let kept = state.access_list.strings().is_some_and(|known| {
                                same(known, vendor.iter().map(String::as_str))
                            });
                            if !kept {
                                state.access_list = Value::string_set(vendor);
                            }
                        }
                        Err(e) => diagnostics.extend(backend_diagnostic(
                            "Unable to read the API key's access list",
                            &e,
                            |_| None,
                        )),
                    }
                }
                private.rotation_judged_at = Some(now_rfc3339());
                ReadResponse {
                    identity: identity_of(&state),
                    state: state.into(),
                    private: private.bytes(),
                    diagnostics,
                }
            }
            Err(e) => {
                let kept = ReadResponse {
                    identity: identity_of(&state),
                    state: state.into(),
                    private: req.private,
                    ..Default::default()
                };
                failed_read(&e, "API key", &id, kept)
            }
        }
    }

    async fn import(&self, req: ImportRequest) -> ImportResponse {
        let kind = match self.state.backend() {
            Ok(b) => b.kind(),
            Err(diagnostics) => return ImportResponse::failed(diagnostics),
        };
        if kind == BackendKind::Traceloop {
            return ImportResponse::failed(validate_for_backend(kind, &ApiKeyModel::default()));
        }
        let parsed = match req.identity {
            Some(identity) if req.id.is_empty() => {
                let identity = ApiKeyIdentity::from(identity);
                let org = identity.org_id.as_str().map(str::to_string);
                let id = identity.id.as_str().unwrap_or_default().to_string();
                match (kind, org) {
                    (BackendKind::Atlas, Some(org)) => {
                        parse_import_id(kind, &format!("{org}/{id}"))
                    }
                    (BackendKind::Atlas, None) => Err(
                        "Importing an Atlas API key by identity needs both `org_id` and `id`."
                            .to_string(),
                    ),
                    (_, org) => parse_import_id(kind, &id).map(|(_, id)| (org, id)),
                }
            }
            _ => parse_import_id(kind, &req.id),
        };
        let (org_id, id) = match parsed {
            Ok(p) => p,
            Err(detail) => {
                return ImportResponse {
                    diagnostics: Diagnostics::error("Invalid import ID", detail),
                    ..Default::default()
                }
            }
        };
        // env0 keys live in the provider's organization unless the identity says otherwise.
        let org_id = org_id.or_else(|| match kind {
            BackendKind::Env0 => self.state.defaults().org,
            _ => None,
        });
        let state = ApiKeyModel {
            id: Value::from(id),
            org_id: Value::opt_string(org_id),
            created_at: Value::from(now_rfc3339()),
            ..ApiKeyModel::default()
        };
        ImportResponse {
            identity: identity_of(&state),
            state: state.into(),
            private: Private {
                imported: true,
                ..Private::default()
            }
            .bytes(),
            ..Default::default()
        }
    }
}

/// The state of an existing key as a listing shows it (no secret): for list resources.
///
/// Braintrust's `org_id` is left null: it is computed there, and Terraform copies listed
/// values into generated configuration, where a Braintrust `org_id` is refused. The
/// identity still carries it.
pub(crate) fn listed_state(key: &ApiKey, kind: BackendKind, org_id: &str) -> ApiKeyModel {
    let mut state = ApiKeyModel {
        org_id: Value::from(org_id),
        ..ApiKeyModel::default()
    };
    merge_backend_view(&mut state, key, kind);
    if kind == BackendKind::Braintrust {
        state.org_id = Value::Null;
    }
    state
}

/// The identity of a listed key.
pub(crate) fn listed_identity(key: &ApiKey, org_id: &str) -> Value {
    ApiKeyIdentity {
        org_id: Value::from(key.org_id.as_deref().unwrap_or(org_id)),
        id: Value::from(key.id.as_str()),
    }
    .into()
}

#[cfg(test)]
mod tests;
