//! `keysmith_org`: an organization on the configured backend.
//!
//! Backends differ most here: Atlas can create, read, rename and delete; env0 can create
//! and read but neither change nor delete; Traceloop can only create (its response carries
//! one API key per environment); Braintrust cannot create at all. What a backend cannot do
//! is refused at plan, or on destroy done honestly with a warning.

use std::sync::Arc;

use super::ProviderState;
use crate::backend::{
    Backend, BackendKind, Capabilities, CreatedOrg, NewOrg, Org, OrgPolicies, OrgUpdate,
};
use crate::codec::{Attribute, Block, Schema, Type, Value};
use crate::framework::{
    ApplyRequest, ApplyResponse, Diagnostics, IdentityAttribute, IdentitySchema, ImportRequest,
    ImportResponse, PlanRequest, PlanResponse, ReadRequest, ReadResponse, Resource,
};

use super::{backend_diagnostic, failed_read, unknowns_to_null};

/// The default Traceloop environments, created when `environments` is unset.
pub const TRACELOOP_DEFAULT_ENVIRONMENTS: &[&str] = &["dev", "stg", "prd"];

crate::model! {
    /// A `keysmith_org` object: its configuration, plan or state (see [`schema`]).
    pub(crate) struct OrgModel, attributes OrgAttr {
        id: Id,
        name: Name,
        description: Description,
        photo_url: PhotoUrl,
        environments: Environments,
        retention_hours: RetentionHours,
        owner_id: OwnerId,
        environment_keys: EnvironmentKeys,
        mode: Mode,
        created_by: CreatedBy,
        created_at: CreatedAt,
        policies: Policies,
    }
}

crate::model! {
    /// The identity of an organization (Terraform ≥ 1.12).
    pub(crate) struct OrgIdentity, attributes OrgIdentityAttr {
        id: Id,
    }
}

use OrgAttr as A;

/// Inputs of the resource (what a user configures).
const INPUTS: &[OrgAttr] = &[
    A::Name,
    A::Description,
    A::PhotoUrl,
    A::Environments,
    A::RetentionHours,
    A::OwnerId,
];

/// Computed attributes, filled from the backend.
const COMPUTED: &[OrgAttr] = &[
    A::Id,
    A::EnvironmentKeys,
    A::Mode,
    A::CreatedBy,
    A::CreatedAt,
    A::Policies,
];

// ---------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------

fn policies_type() -> Type {
    Type::object([
        ("max_ttl", Type::String),
        ("default_ttl", Type::String),
        ("project_custom_flows_policy", Type::String),
        ("do_not_report_skipped_status_checks", Type::Bool),
        ("do_not_consider_merge_commits_for_pr_plans", Type::Bool),
        ("enable_oidc", Type::Bool),
        ("enforce_pr_commenter_permissions", Type::Bool),
        ("allow_env0_secrets", Type::Bool),
        ("require_approval_for_pr_applies", Type::Bool),
    ])
}

pub(crate) fn schema() -> Schema {
    let block = Block::new(
        "An organization on the configured backend.\n\n\
         * **atlas**: created, read, renamed in place and deleted.\n\
         * **env0**: created and read; the API can neither change nor delete an organization, so changes are refused at plan and destroy only removes it from state.\n\
         * **traceloop**: created only; the create response carries one API key per environment (`environment_keys`, sensitive). There is no read API, so refresh keeps state as it is.\n\
         * **braintrust**: organizations cannot be created through the API; look one up with `data.keysmith_org`.",
    )
    .attribute(
        Attribute::new(A::Id.name(), Type::String)
            .computed()
            .description("The backend's id: Traceloop `org_id`, env0 `id`, Atlas organization id."),
    )
    .attribute(
        Attribute::new(A::Name.name(), Type::String)
            .required()
            .description("Name of the organization: Traceloop `org_name`, env0 `name`, Atlas `name` (renamed in place; letters, digits and `-_.(),:&@+'`, 1–64 characters)."),
    )
    .attribute(
        Attribute::new(A::Description.name(), Type::String)
            .optional()
            .description("env0 only: the organization's description."),
    )
    .attribute(
        Attribute::new(A::PhotoUrl.name(), Type::String)
            .optional()
            .description("env0 only: URL of the organization's picture (`photoUrl`)."),
    )
    .attribute(
        Attribute::new(A::Environments.name(), Type::list(Type::String))
            .optional()
            .description(format!(
                "Traceloop only: the environment slugs to create, replacing the defaults ({}) that apply when unset. Must not be empty.",
                TRACELOOP_DEFAULT_ENVIRONMENTS.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
            )),
    )
    .attribute(
        Attribute::new(A::RetentionHours.name(), Type::Number)
            .optional()
            .description("Traceloop only: data retention in hours, 1–720 (Traceloop's default is 720)."),
    )
    .attribute(
        Attribute::new(A::OwnerId.name(), Type::String)
            .optional()
            .description("Atlas only: the user (24-hex id) who becomes Org Owner (`orgOwnerId`); Atlas requires it when the caller is an API key. Used at create only and not returned by reads, so it stays as configured (null after import)."),
    )
    .attribute(
        Attribute::new(A::EnvironmentKeys.name(), Type::map(Type::String))
            .computed()
            .sensitive()
            .description("Traceloop only: environment slug → its API key, shown once by Traceloop at create and kept in state. Null elsewhere."),
    )
    .attribute(
        Attribute::new(A::Mode.name(), Type::String)
            .computed()
            .description("env0 only: `paying`, `trial` or `free`."),
    )
    .attribute(
        Attribute::new(A::CreatedBy.name(), Type::String)
            .computed()
            .description("env0 only: who created the organization (`createdBy`)."),
    )
    .attribute(
        Attribute::new(A::CreatedAt.name(), Type::String)
            .computed()
            .description("Creation time (RFC 3339) where the backend reports it; null elsewhere."),
    )
    .attribute(
        Attribute::new(A::Policies.name(), policies_type())
            .computed()
            .description("env0 only: the organization's policies (`max_ttl`, `default_ttl`, `project_custom_flows_policy`, `do_not_report_skipped_status_checks`, `do_not_consider_merge_commits_for_pr_plans`, `enable_oidc`, `enforce_pr_commenter_permissions`, `allow_env0_secrets`, `require_approval_for_pr_applies`)."),
    );
    Schema::new(0, block)
}

fn identity_schema() -> IdentitySchema {
    IdentitySchema {
        version: 0,
        attributes: vec![IdentityAttribute {
            name: "id".into(),
            ty: Type::String,
            required_for_import: true,
            optional_for_import: false,
            description: "The backend's id of the organization.".into(),
        }],
    }
}

// ---------------------------------------------------------------------------------------
// Per-backend rules
// ---------------------------------------------------------------------------------------

/// The inputs that apply to `kind`.
fn applicable(kind: BackendKind) -> &'static [OrgAttr] {
    match kind {
        BackendKind::Atlas => &[A::Name, A::OwnerId],
        BackendKind::Env0 => &[A::Name, A::Description, A::PhotoUrl],
        BackendKind::Traceloop => &[A::Name, A::Environments, A::RetentionHours],
        BackendKind::Braintrust => &[A::Name],
    }
}

fn cannot_change_detail(kind: BackendKind) -> String {
    format!(
        "The {} API can neither change nor delete an organization, so keysmith will not replace it either: that would leave the old organization behind. To create a new organization deliberately, run `terraform state rm` on this resource, then apply; the old organization stays as it is.",
        kind.name()
    )
}

fn is_hex24(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn valid_atlas_name(name: &str) -> bool {
    let len = name.chars().count();
    (1..=64).contains(&len)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.(),:&@+'".contains(c))
}

/// Checks that need no backend: ValidateResourceConfig.
fn validate_config(config: &OrgModel) -> Diagnostics {
    let mut diags = Diagnostics::default();
    if let Some(name) = config.name.as_str() {
        if name.trim().is_empty() {
            diags.push_attribute_error(A::Name.path(), "Invalid name", "`name` must not be empty.");
        }
    }
    if let Value::List(envs) = &config.environments {
        if envs.is_empty() {
            diags.push_attribute_error(
                A::Environments.path(),
                "Invalid environments",
                format!(
                    "`environments` must list at least one environment slug; leave it unset for Traceloop's defaults ({}).",
                    TRACELOOP_DEFAULT_ENVIRONMENTS.join(", ")
                ),
            );
        }
    }
    if let Some(hours) = config.retention_hours.as_f64() {
        if !(1.0..=720.0).contains(&hours) || hours.fract() != 0.0 {
            diags.push_attribute_error(
                A::RetentionHours.path(),
                "Invalid retention",
                format!("`retention_hours` must be a whole number from 1 to 720, not {hours}."),
            );
        }
    }
    diags
}

/// Checks of the configuration against the configured backend (at plan).
fn validate_for_backend(kind: BackendKind, config: &OrgModel) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let allowed = applicable(kind);
    for &attr in INPUTS.iter().filter(|a| !allowed.contains(a)) {
        if !config.get(attr).is_null() {
            diags.push_attribute_error(
                attr.path(),
                "Attribute not supported by this backend",
                format!(
                    "`{}` does not apply to the {} backend; remove it.",
                    attr.name(),
                    kind.name()
                ),
            );
        }
    }
    if kind == BackendKind::Atlas {
        if let Some(name) = config.name.as_str() {
            if !valid_atlas_name(name) {
                diags.push_attribute_error(
                    A::Name.path(),
                    "Invalid organization name",
                    format!("{name:?} is not a valid Atlas organization name: 1 to 64 letters, digits or -_.(),:&@+' characters."),
                );
            }
        }
        if let Some(owner) = config.owner_id.as_str() {
            if !is_hex24(owner) {
                diags.push_attribute_error(
                    A::OwnerId.path(),
                    "Invalid owner id",
                    format!("{owner:?} is not an Atlas user id (24 hexadecimal digits)."),
                );
            }
        }
    }
    diags
}

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

fn policies_value(p: &OrgPolicies) -> Value {
    let s = |v: &Option<String>| Value::opt_string(v.clone());
    let b = |v: Option<bool>| v.map(Value::from).unwrap_or(Value::Null);
    Value::object([
        ("max_ttl", s(&p.max_ttl)),
        ("default_ttl", s(&p.default_ttl)),
        (
            "project_custom_flows_policy",
            s(&p.project_custom_flows_policy),
        ),
        (
            "do_not_report_skipped_status_checks",
            b(p.do_not_report_skipped_status_checks),
        ),
        (
            "do_not_consider_merge_commits_for_pr_plans",
            b(p.do_not_consider_merge_commits_for_pr_plans),
        ),
        ("enable_oidc", b(p.enable_oidc)),
        (
            "enforce_pr_commenter_permissions",
            b(p.enforce_pr_commenter_permissions),
        ),
        ("allow_env0_secrets", b(p.allow_env0_secrets)),
        (
            "require_approval_for_pr_applies",
            b(p.require_approval_for_pr_applies),
        ),
    ])
}

/// Writes what the backend reports about an organization into `state`. Inputs the
/// backend does not report (env0's description when absent, Atlas `owner_id`) keep their
/// value.
pub(crate) fn merge_backend_view(state: &mut OrgModel, org: &Org, kind: BackendKind) {
    state.id = Value::from(org.id.as_str());
    state.name = Value::from(org.name.as_str());
    if kind == BackendKind::Env0 {
        if org.description.is_some() || state.description.is_unknown() {
            state.description = Value::opt_string(org.description.clone());
        }
        if org.photo_url.is_some() || state.photo_url.is_unknown() {
            state.photo_url = Value::opt_string(org.photo_url.clone());
        }
        state.mode = Value::opt_string(org.mode.clone());
        state.created_by = Value::opt_string(org.created_by.clone());
        state.policies = org
            .policies
            .as_ref()
            .map(policies_value)
            .unwrap_or(Value::Null);
    }
    state.created_at = Value::opt_string(org.created_at.clone());
}

fn identity_of(state: &OrgModel) -> Option<Value> {
    Some(
        OrgIdentity {
            id: state.id.clone(),
        }
        .into(),
    )
}

/// A state to hand back after an apply, unknowns left null, and its identity.
fn applied_state(state: OrgModel) -> (Value, Option<Value>) {
    let mut state = Value::from(state);
    unknowns_to_null(&mut state);
    let identity = Some(
        OrgIdentity {
            id: state.attr(OrgIdentityAttr::Id.name()).clone(),
        }
        .into(),
    );
    (state, identity)
}

// ---------------------------------------------------------------------------------------
// The resource
// ---------------------------------------------------------------------------------------

/// The `keysmith_org` resource type.
#[derive(Debug)]
pub struct OrgResource {
    state: Arc<ProviderState>,
}

impl OrgResource {
    /// The resource, sharing the provider's configured backend.
    pub fn new(state: Arc<ProviderState>) -> Self {
        OrgResource { state }
    }

    fn plan_create(kind: BackendKind, mut planned: OrgModel) -> OrgModel {
        for &attr in COMPUTED {
            *planned.get_mut(attr) = Value::Null;
        }
        planned.id = Value::Unknown;
        planned.created_at = Value::Unknown;
        match kind {
            BackendKind::Traceloop => planned.environment_keys = Value::Unknown,
            BackendKind::Env0 => {
                planned.mode = Value::Unknown;
                planned.created_by = Value::Unknown;
                planned.policies = Value::Unknown;
            }
            _ => {}
        }
        planned
    }

    async fn create(&self, backend: &dyn Backend, planned: &OrgModel) -> ApplyResponse {
        let text = |v: &Value| v.as_str().map(str::to_string);
        let new = NewOrg {
            name: text(&planned.name).unwrap_or_default(),
            description: text(&planned.description),
            photo_url: text(&planned.photo_url),
            environments: planned
                .environments
                .strings()
                .map(|v| v.into_iter().map(str::to_string).collect()),
            retention_hours: planned.retention_hours.as_i64(),
            owner_id: text(&planned.owner_id),
        };
        tracing::debug!(backend = backend.kind().name(), "creating organization");
        let CreatedOrg {
            org,
            environment_keys,
        } = match backend.create_org(&new).await {
            Ok(created) => created,
            Err(e) => {
                return ApplyResponse {
                    diagnostics: backend_diagnostic(
                        "Unable to create organization",
                        &e,
                        attribute_of_field,
                    ),
                    ..Default::default()
                }
            }
        };
        let mut state = planned.clone();
        merge_backend_view(&mut state, &org, backend.kind());
        // The planned name is known; a backend's normalised echo must not contradict it.
        state.name = planned.name.clone();
        if backend.kind() == BackendKind::Traceloop {
            state.environment_keys = Value::string_map(
                environment_keys
                    .iter()
                    .map(|(slug, key)| (slug.clone(), key.expose().to_string())),
            );
        }
        let (state, identity) = applied_state(state);
        ApplyResponse {
            identity,
            state,
            ..Default::default()
        }
    }

    async fn update(
        &self,
        backend: &dyn Backend,
        prior: &OrgModel,
        planned: &OrgModel,
    ) -> ApplyResponse {
        let mut state = planned.clone();
        if !prior.name.equivalent(&planned.name) {
            let id = prior.id.as_str().unwrap_or_default();
            let update = OrgUpdate {
                name: planned.name.as_str().unwrap_or_default().to_string(),
            };
            tracing::debug!(backend = backend.kind().name(), id, "renaming organization");
            match backend.update_org(id, &update).await {
                Ok(org) => {
                    merge_backend_view(&mut state, &org, backend.kind());
                    state.name = planned.name.clone();
                }
                Err(e) => {
                    return ApplyResponse {
                        identity: identity_of(prior),
                        state: prior.clone().into(),
                        diagnostics: backend_diagnostic(
                            "Unable to update organization",
                            &e,
                            attribute_of_field,
                        ),
                        ..Default::default()
                    }
                }
            }
        }
        let (state, identity) = applied_state(state);
        ApplyResponse {
            identity,
            state,
            ..Default::default()
        }
    }

    async fn delete(&self, backend: &dyn Backend, prior: &OrgModel) -> ApplyResponse {
        let id = prior.id.as_str().unwrap_or_default();
        let kind = backend.kind();
        if !backend.capabilities().org_delete {
            let mut diagnostics = Diagnostics::default();
            diagnostics.push_warning(
                "Organization removed from state only",
                format!(
                    "The {} API cannot delete organizations: {:?} (id {id}) still exists. keysmith no longer manages it; delete it in the {} console if it is no longer needed.",
                    kind.name(),
                    prior.name.as_str().unwrap_or_default(),
                    kind.name()
                ),
            );
            return ApplyResponse {
                diagnostics,
                ..Default::default()
            };
        }
        tracing::debug!(backend = kind.name(), id, "deleting organization");
        match backend.delete_org(id).await {
            Ok(()) => ApplyResponse::default(),
            Err(e) => ApplyResponse {
                identity: identity_of(prior),
                state: prior.clone().into(),
                diagnostics: backend_diagnostic("Unable to delete organization", &e, |_| None),
                ..Default::default()
            },
        }
    }
}

/// Maps a vendor's field name to our attribute.
fn attribute_of_field(field: &str) -> Option<&'static str> {
    let attr = match field {
        "name" | "org_name" => A::Name,
        "description" => A::Description,
        "photoUrl" | "photo_url" => A::PhotoUrl,
        "envs" | "environments" => A::Environments,
        "retention_hours" => A::RetentionHours,
        "orgOwnerId" | "owner_id" => A::OwnerId,
        _ => return None,
    };
    Some(attr.name())
}

#[async_trait::async_trait]
impl Resource for OrgResource {
    fn type_name(&self) -> &'static str {
        "keysmith_org"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(identity_schema())
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(&OrgModel::from(config))
    }

    async fn plan(&self, req: PlanRequest) -> PlanResponse {
        if req.proposed.is_null() {
            return PlanResponse::default();
        }
        let kind = match self.state.backend() {
            Ok(b) => b.kind(),
            Err(diagnostics) => {
                return PlanResponse {
                    diagnostics,
                    ..Default::default()
                }
            }
        };
        let config = OrgModel::from(req.config);
        let mut diagnostics = validate_for_backend(kind, &config);
        diagnostics.extend(validate_config(&config));
        if req.prior.is_null() && !Capabilities::of(kind).org_create {
            diagnostics.push_error(
                "Braintrust organizations cannot be created",
                "Braintrust organizations cannot be created through the API; look one up with data.keysmith_org",
            );
        }
        if diagnostics.has_errors() {
            return PlanResponse {
                diagnostics,
                ..Default::default()
            };
        }
        if req.prior.is_null() {
            return PlanResponse {
                planned: Self::plan_create(kind, req.proposed.into()).into(),
                diagnostics,
                ..Default::default()
            };
        }

        let prior = OrgModel::from(req.prior);
        let planned = req.proposed;
        let proposed = OrgModel::from(&planned);
        let changed: Vec<OrgAttr> = INPUTS
            .iter()
            .copied()
            .filter(|&a| !prior.get(a).equivalent(proposed.get(a)))
            .collect();
        let refused: Vec<OrgAttr> = if Capabilities::of(kind).org_update {
            // Atlas renames in place; owner_id is used at create only, so a change is just
            // recorded.
            Vec::new()
        } else {
            changed.clone()
        };
        for attr in &refused {
            diagnostics.push_attribute_error(
                attr.path(),
                "Organization cannot be changed",
                cannot_change_detail(kind),
            );
        }
        if diagnostics.has_errors() {
            return PlanResponse {
                diagnostics,
                ..Default::default()
            };
        }
        PlanResponse {
            planned_identity: req.prior_identity.or_else(|| identity_of(&prior)),
            planned,
            diagnostics,
            planned_private: req.prior_private,
            ..Default::default()
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
            self.create(backend, &req.planned.into()).await
        } else {
            self.update(backend, &req.prior.into(), &req.planned.into())
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
        let kind = backend.kind();
        let mut state = OrgModel::from(req.state);
        if !backend.capabilities().org_read {
            // No read API: what was created is all there is to know.
            return ReadResponse {
                identity: identity_of(&state),
                state: state.into(),
                private: req.private,
                ..Default::default()
            };
        }
        let id = state.id.as_str().unwrap_or_default().to_string();
        let result = backend.get_org(&id).await;
        if let Ok(org) = &result {
            merge_backend_view(&mut state, org, kind);
        }
        let read = ReadResponse {
            identity: identity_of(&state),
            state: state.into(),
            private: req.private,
            ..Default::default()
        };
        match result {
            Ok(_) => read,
            Err(e) => failed_read(&e, "organization", &id, read),
        }
    }

    async fn import(&self, req: ImportRequest) -> ImportResponse {
        let kind = match self.state.backend() {
            Ok(b) => b.kind(),
            Err(diagnostics) => return ImportResponse::failed(diagnostics),
        };
        let refusal = match kind {
            BackendKind::Traceloop => Some("Traceloop has no API to read an organization, so one cannot be imported: keysmith could not check that it exists nor learn its environment keys."),
            BackendKind::Braintrust => Some("Braintrust organizations cannot be created, changed or deleted through the API, so there is nothing for a resource to manage; read one with data.keysmith_org."),
            _ => None,
        };
        if let Some(detail) = refusal {
            return ImportResponse {
                diagnostics: Diagnostics::error("Import not supported", detail),
                ..Default::default()
            };
        }
        let id = match req.identity {
            Some(identity) if req.id.is_empty() => OrgIdentity::from(identity)
                .id
                .as_str()
                .unwrap_or_default()
                .to_string(),
            _ => req.id.clone(),
        };
        let valid = match kind {
            BackendKind::Atlas => is_hex24(&id),
            _ => !id.trim().is_empty() && !id.contains('/'),
        };
        if !valid {
            let form = if kind == BackendKind::Atlas {
                "the organization's 24-hex id"
            } else {
                "the organization's id"
            };
            return ImportResponse {
                diagnostics: Diagnostics::error(
                    "Invalid import ID",
                    format!(
                        "{id:?} is not a {} organization import ID. Expected \"<id>\": {form}.",
                        kind.name()
                    ),
                ),
                ..Default::default()
            };
        }
        let state = OrgModel {
            id: Value::from(id),
            ..OrgModel::default()
        };
        ImportResponse {
            identity: identity_of(&state),
            state: state.into(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_of_other_backends_are_refused_by_name() {
        let config = OrgModel {
            name: Value::from("acme"),
            description: Value::from("d"),
            retention_hours: Value::from(24),
            ..OrgModel::default()
        };
        let diags = validate_for_backend(BackendKind::Atlas, &config);
        let paths: Vec<_> = diags.0.iter().filter_map(|d| d.attribute.clone()).collect();
        assert_eq!(paths, vec![A::Description.path(), A::RetentionHours.path()]);
        assert!(diags.0[0].detail.contains("atlas"));
    }

    #[test]
    fn atlas_names_follow_the_api_pattern() {
        assert!(valid_atlas_name("Acme(prod)&co.'s"));
        assert!(!valid_atlas_name("Acme prod"));
        assert!(!valid_atlas_name("a/b"));
        assert!(!valid_atlas_name(""));
        assert!(!valid_atlas_name(&"x".repeat(65)));
    }

    #[test]
    fn empty_environments_and_bad_retention_are_invalid() {
        let config = OrgModel {
            name: Value::from("acme"),
            environments: Value::List(vec![]),
            retention_hours: Value::from(721),
            ..OrgModel::default()
        };
        let diags = validate_config(&config);
        assert_eq!(diags.0.len(), 2);
    }

    #[test]
    fn env0_policies_map_to_an_object() {
        let mut state = OrgModel::default();
        let org = Org {
            id: "o1".into(),
            name: "acme".into(),
            mode: Some("trial".into()),
            policies: Some(OrgPolicies {
                enable_oidc: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        merge_backend_view(&mut state, &org, BackendKind::Env0);
        assert_eq!(state.mode, Value::from("trial"));
        assert_eq!(state.policies.attr("enable_oidc"), &Value::from(true));
        assert!(Value::from(state)
            .conform(&schema().block.implied_type())
            .is_ok());
    }

    #[test]
    fn the_model_has_exactly_the_schema_s_attributes() {
        use crate::framework::model::sorted;
        let schema = schema();
        assert_eq!(
            sorted(schema.block.attributes.iter().map(|a| a.name.as_str())),
            sorted(OrgAttr::ALL.iter().map(|a| a.name()))
        );
        let identity = identity_schema();
        assert_eq!(
            sorted(identity.attributes.iter().map(|a| a.name.as_str())),
            sorted(OrgIdentityAttr::ALL.iter().map(|a| a.name()))
        );
    }
}
