//! `keysmith_api_key`: an API key on the configured backend, with its one-time secret kept
//! in state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::ProviderState;
use crate::backend::{
    ApiKey, ApiKeyUpdate, Backend, BackendError, BackendKind, NewApiKey, RoleChange,
};
use crate::codec::{Attribute, AttributePath, Block, Schema, Type, Value};
use crate::framework::MAX_DURATION;
use crate::framework::{
    parse_duration_within, ApplyRequest, ApplyResponse, Diagnostics, IdentityAttribute,
    IdentitySchema, ImportRequest, ImportResponse, PlanRequest, PlanResponse, ReadRequest,
    ReadResponse, Resource,
};

use super::access_list::{entries, same, Entry};
use super::braintrust_token;
use super::{backend_diagnostic, null_object, unknowns_to_null};

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

/// Version 1: `project_roles` is `map(set(string))` (it was `map(string)`).
const SCHEMA_VERSION: i64 = 1;

/// Computed attributes that a new key gets from the backend at create.
const NEW_KEY_COMPUTED: &[&str] = &["id", "public_key", "secret", "created_at"];

// ---------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------

fn schema() -> Schema {
    let roles = ATLAS_ROLES
        .iter()
        .map(|r| format!("`{r}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let block = Block::new(
        "An API key on the configured backend (Atlas, Braintrust or env0). The key's one-time secret is stored in Terraform state as the sensitive `secret` attribute: protect your state. Set `rotate_after` (with `create_before_destroy`) to rotate the key on a schedule.\n\n\
         On Braintrust, set `service_account_id`: the key is then a **service token** of that service account, the machine credential Braintrust lets you create through its API (with a provider credential that is a service token with organization-owner permissions). Without it the key is a user API key, created with `POST /v1/api_key`, which Braintrust removed from its published API in May 2026.\n\n\
         Traceloop issues API keys per environment when an organization is created: use `keysmith_org.environment_keys` there.",
    )
    // Computed identifier
    .attribute(
        Attribute::new("id", Type::String)
            .computed()
            .description("The backend's id of the key: Atlas 24-hex id, Braintrust UUID, env0 id."),
    )
    // Required attributes
    .attribute(
        Attribute::new("name", Type::String)
            .required()
            .description("Name of the key. Atlas `desc` (1–250 characters, updated in place); Braintrust and env0 `name` (a change replaces the key)."),
    )
    // Optional attributes
    .attribute(
        Attribute::new("org_id", Type::String)
            .optional()
            .computed()
            .description("Organization of the key. Atlas: required, the 24-hex organization id. env0: `organizationId`, defaults to the provider's `organization_id`. Braintrust: computed from the response. A change replaces the key."),
    )
    .attribute(
        Attribute::new("org_name", Type::String)
            .optional()
            .computed()
            .description("Braintrust only: the organization, by name, the key is created in (defaults to the provider's `org_name`); read back from the key's organization, so an imported key gets it too. A change replaces the key."),
    )
    .attribute(
        Attribute::new("service_account_id", Type::String)
            .optional()
            .description("Braintrust only: the id (a UUID) of a service account; the key is then a **service token** of that account (`POST /v1/service_token`), the machine credential Braintrust lets you create through its API. Only an organization-owner service token may create one: configure the provider's `api_key` with such a token. Without it the key is a user API key (`POST /v1/api_key`, which Braintrust removed from its published API in May 2026). Read back on refresh and import. A change replaces the key."),
    )
    .attribute(
        Attribute::new("roles", Type::set(Type::String))
            .optional()
            .description(format!(
                "Roles of the key. Atlas: required, at least one of {roles}; updated in place. env0: required, exactly one of `Admin`, `User` or a custom role id; a change replaces the key. Braintrust: must not be set."
            )),
    )
    .attribute(
        Attribute::new("project_roles", Type::map(Type::set(Type::String)))
            .optional()
            .computed()
            .description("Project id → the key's roles in that project. Atlas: at least one `GROUP_*` role per project (24-hex project id), assigned, changed and removed in place, and read back from the key's roles (refresh and import); `{}` manages \"no project roles\", unset leaves them unmanaged (and shows what the key has). env0: exactly one of `Planner`, `Viewer`, `Deployer`, `Admin` per project, only with a non-`Admin` role; a change replaces the key; env0 does not report them, so they are kept as configured (after an import, the first plan adopts the configured value without replacing the key). Braintrust: must not be set."),
    )
    .attribute(
        Attribute::new("access_list", Type::set(Type::String))
            .optional()
            .computed()
            .description("Atlas only: the IPv4/IPv6 addresses and CIDR blocks allowed to use the key. Entries are compared by meaning (`203.0.113.7` is `203.0.113.7/32`; IPv6 in any spelling) and the configured spelling is kept; a block with host bits set is an error. Added and removed entry by entry in place, read back on refresh (drift shows as an update) and on import. `[]` manages \"no entries\"; unset leaves them unmanaged."),
    )
    .attribute(
        Attribute::new("rotation_triggers", Type::map(Type::String))
            .optional()
            .description("Arbitrary values; any change replaces the key (like `keepers`)."),
    )
    .attribute(
        Attribute::new("rotate_after", Type::String)
            .optional()
            .description("A duration such as `\"720h\"` (units `s`, `m`, `h`). Once `created_at + rotate_after` has passed, the next plan replaces the key; with `create_before_destroy` this is zero-downtime rotation."),
    )
    // Computed attributes
    .attribute(
        Attribute::new("public_key", Type::String)
            .computed()
            .description("The non-secret half of the credential: Atlas `publicKey`, env0 `apiKeyId`; null on Braintrust."),
    )
    .attribute(
        Attribute::new("preview", Type::String)
            .computed()
            .description("Braintrust's redacted preview of the key (`preview_name`); null elsewhere."),
    )
    .attribute(
        Attribute::new("secret", Type::String)
            .computed()
            .sensitive()
            .description("The one-time secret (Atlas `privateKey`, Braintrust `key`, env0 `apiKeySecret`). Set at create and carried unchanged through every refresh; null after import, because backends never show it again."),
    )
    .attribute(
        Attribute::new("created_at", Type::String)
            .computed()
            .description("Creation time (RFC 3339): from the backend where it reports one, else the provider's clock at create or import."),
    )
    .attribute(
        Attribute::new("expires_at", Type::String)
            .computed()
            .description("`created_at + rotate_after` (RFC 3339); null when `rotate_after` is unset."),
    );
    Schema::new(SCHEMA_VERSION, block)
}

fn identity_schema() -> IdentitySchema {
    let attr = |name: &str, description: &str| IdentityAttribute {
        name: name.to_string(),
        ty: Type::String,
        required_for_import: name == "id",
        optional_for_import: name != "id",
        description: description.to_string(),
    };
    IdentitySchema {
        version: 0,
        attributes: vec![
            attr("org_id", "Organization of the key (Atlas and env0)."),
            attr("id", "The backend's id of the key."),
        ],
    }
}

// ---------------------------------------------------------------------------------------
// Per-backend rules
// ---------------------------------------------------------------------------------------

/// What each backend allows for this resource.
struct Rules {
    /// Attributes a change of which is applied in place.
    in_place: &'static [&'static str],
    /// Attributes that must be set.
    required: &'static [&'static str],
    /// Attributes that must not be set.
    forbidden: &'static [&'static str],
}

fn rules(kind: BackendKind) -> Option<Rules> {
    match kind {
        BackendKind::Atlas => Some(Rules {
            in_place: &["name", "roles", "project_roles", "access_list"],
            required: &["org_id", "roles"],
            forbidden: &["org_name", "service_account_id"],
        }),
        BackendKind::Braintrust => Some(Rules {
            in_place: &[],
            required: &[],
            forbidden: &["org_id", "roles", "project_roles", "access_list"],
        }),
        BackendKind::Env0 => Some(Rules {
            in_place: &[],
            required: &["roles"],
            forbidden: &["org_name", "access_list", "service_account_id"],
        }),
        BackendKind::Traceloop => None,
    }
}

/// Inputs whose change replaces the key unless the backend updates them in place.
const INPUTS: &[&str] = &[
    "name",
    "org_id",
    "org_name",
    "roles",
    "project_roles",
    "service_account_id",
    "access_list",
    "rotation_triggers",
];

/// Maps a vendor's field name to our attribute.
pub(crate) fn attribute_of_field(field: &str) -> Option<&'static str> {
    match field {
        "desc" | "name" => Some("name"),
        "roles" | "role" | "organizationRole" => Some("roles"),
        "orgId" | "organizationId" | "org_id" => Some("org_id"),
        "org_name" => Some("org_name"),
        "service_account_id" => Some("service_account_id"),
        "projectsPermissions" | "project_roles" | "groupId" => Some("project_roles"),
        "ipAddress" | "cidrBlock" => Some("access_list"),
        "apiUserId" => Some("id"),
        _ => None,
    }
}

/// `GROUP_` and an upper-case name (Atlas judges which names exist).
fn is_group_role(role: &str) -> bool {
    role.strip_prefix("GROUP_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

fn is_hex24(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks that need no backend: ValidateResourceConfig.
pub(crate) fn validate_config(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    if let Some(name) = config.attr("name").as_str() {
        if name.trim().is_empty() {
            diags.push_attribute_error(
                AttributePath::attr("name"),
                "Invalid name",
                "`name` must not be empty.",
            );
        }
    }
    if let Some(d) = config.attr("rotate_after").as_str() {
        if let Err(e) = parse_duration_within(d, Duration::ZERO, MAX_DURATION) {
            diags.push_attribute_error(AttributePath::attr("rotate_after"), "Invalid duration", e);
        }
    }
    braintrust_token::validate_config(config, &mut diags);
    if let Some(roles) = config.attr("roles").strings() {
        if roles.iter().any(|r| r.trim().is_empty()) {
            diags.push_attribute_error(
                AttributePath::attr("roles"),
                "Invalid roles",
                "A role must not be empty.",
            );
        }
    }
    if let Some(entries) = config.attr("access_list").strings() {
        for entry in entries {
            if let Err(why) = Entry::parse(entry) {
                diags.push_attribute_error(
                    AttributePath::attr("access_list"),
                    "Invalid access list entry",
                    why,
                );
            }
        }
    }
    diags
}

/// Checks of the configuration against the configured backend (at plan).
pub(crate) fn validate_for_backend(kind: BackendKind, config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let Some(rules) = rules(kind) else {
        diags.push_error(
            "keysmith_api_key is not supported on traceloop",
            "traceloop issues API keys per environment when the organization is created; use keysmith_org.environment_keys",
        );
        return diags;
    };
    let backend = kind.name();
    for name in rules.forbidden {
        if !config.attr(name).is_null() {
            diags.push_attribute_error(
                AttributePath::attr(name),
                "Attribute not supported by this backend",
                format!("`{name}` does not apply to the {backend} backend; remove it."),
            );
        }
    }
    for name in rules.required {
        if config.attr(name).is_null() {
            diags.push_attribute_error(
                AttributePath::attr(name),
                "Missing required attribute",
                format!("The {backend} backend needs `{name}`."),
            );
        }
    }
    if kind == BackendKind::Env0 {
        let roles = config.attr("roles").strings();
        if let Some(roles) = &roles {
            if roles.len() != 1 {
                diags.push_attribute_error(
                    AttributePath::attr("roles"),
                    "Invalid roles",
                    format!(
                        "An env0 API key has exactly one organization role (`Admin`, `User` or a custom role id); {} given.",
                        roles.len()
                    ),
                );
            }
        }
        if let Some(projects) = config.attr("project_roles").entries() {
            if roles.as_deref() == Some(&["Admin"][..]) && !projects.is_empty() {
                diags.push_attribute_error(
                    AttributePath::attr("project_roles"),
                    "Project roles with the Admin role",
                    "An env0 `Admin` key already has every project permission: `project_roles` applies only with `User` or a custom role.",
                );
            }
            for (project, roles) in projects {
                let Some(roles) = roles.strings() else {
                    continue;
                };
                let path = AttributePath::attr("project_roles").then_key(project);
                match roles.as_slice() {
                    [role] if ENV0_PROJECT_ROLES.contains(role) => {}
                    [role] => diags.push_attribute_error(
                        path,
                        "Invalid project role",
                        format!(
                            "{role:?} is not an env0 project role; use one of {}.",
                            ENV0_PROJECT_ROLES.join(", ")
                        ),
                    ),
                    _ => diags.push_attribute_error(
                        path,
                        "Invalid project roles",
                        format!(
                            "An env0 API key has exactly one role in a project ({}); {} given.",
                            ENV0_PROJECT_ROLES.join(", "),
                            roles.len()
                        ),
                    ),
                }
            }
        }
    }
    if kind == BackendKind::Braintrust {
        braintrust_token::validate_for_braintrust(config, &mut diags);
    }
    if kind == BackendKind::Atlas {
        if let Some(name) = config.attr("name").as_str() {
            let len = name.chars().count();
            if !(1..=250).contains(&len) {
                diags.push_attribute_error(
                    AttributePath::attr("name"),
                    "Invalid name",
                    format!(
                        "Atlas key descriptions are 1 to 250 characters long; this one has {len}."
                    ),
                );
            }
        }
        if let Some(projects) = config.attr("project_roles").entries() {
            for (project, roles) in projects {
                let path = AttributePath::attr("project_roles").then_key(project);
                if !is_hex24(project) {
                    diags.push_attribute_error(
                        path.clone(),
                        "Invalid project id",
                        format!("{project:?} is not an Atlas project id (24 hexadecimal digits)."),
                    );
                }
                let Some(roles) = roles.strings() else {
                    continue;
                };
                if roles.is_empty() {
                    diags.push_attribute_error(
                        path.clone(),
                        "Missing project roles",
                        "Give the key at least one role in the project, or leave the project out to remove the key from it.",
                    );
                }
                for role in roles.iter().filter(|r| !is_group_role(r)) {
                    diags.push_attribute_error(
                        path.clone(),
                        "Invalid project role",
                        format!("{role:?} is not an Atlas project role: project roles are `GROUP_` and an upper-case name, like `GROUP_READ_ONLY`."),
                    );
                }
            }
        }
        if let Some(org) = config.attr("org_id").as_str() {
            if !is_hex24(org) {
                diags.push_attribute_error(
                    AttributePath::attr("org_id"),
                    "Invalid organization id",
                    format!("{org:?} is not an Atlas organization id (24 hexadecimal digits)."),
                );
            }
        }
        if let Some(roles) = config.attr("roles").strings() {
            if roles.is_empty() {
                diags.push_attribute_error(
                    AttributePath::attr("roles"),
                    "Missing roles",
                    "An Atlas API key needs at least one role.",
                );
            }
            for role in roles.iter().filter(|r| !ATLAS_ROLES.contains(r)) {
                diags.push_attribute_error(
                    AttributePath::attr("roles"),
                    "Invalid role",
                    format!(
                        "{role:?} is not an Atlas organization role; use one of {}.",
                        ATLAS_ROLES.join(", ")
                    ),
                );
            }
        }
    }
    diags
}

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// `created_at + rotate_after`: `Ok(None)` when either is unknown, unset or invalid (the
/// configuration's checks report an invalid `rotate_after`), `Err` when the sum is past
/// what a date can be (a vendor's `created_at` near year 9999).
fn expiry(created_at: &Value, rotate_after: &Value) -> Result<Option<OffsetDateTime>, String> {
    let (Some(created), Some(after)) = (created_at.as_str(), rotate_after.as_str()) else {
        return Ok(None);
    };
    let (Ok(created_time), Ok(after)) = (
        OffsetDateTime::parse(created, &Rfc3339),
        parse_duration_within(after, Duration::ZERO, MAX_DURATION),
    ) else {
        return Ok(None);
    };
    time::Duration::try_from(after)
        .ok()
        .and_then(|after| created_time.checked_add(after))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "The key's created_at ({created}) plus rotate_after is past the last date keysmith can represent (year 9999), so the key has no expiry and will not be rotated by rotate_after. Check the backend's creation date; rotation_triggers can still replace the key."
            )
        })
}

/// When the key's rotation was last judged (the last refresh or apply), from the private
/// state; `None` for a state written before keysmith kept it.
///
/// Plan and apply must agree: Terraform plans again during apply, and a key that fell due
/// between the two would turn an update into a replace ("inconsistent final plan"). So a
/// plan decides against this time, which only a refresh or an apply moves, never against
/// the clock: a saved plan is applied as planned and the next plan (after its refresh)
/// replaces the key.
fn judged_at(private: &[u8]) -> Option<OffsetDateTime> {
    let judged = Private::read(private).rotation_judged_at?;
    OffsetDateTime::parse(&judged, &Rfc3339).ok()
}

/// What keysmith keeps beside a key in state (Terraform's private data, never shown).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Private {
    /// When rotation was last judged (see [`judged_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation_judged_at: Option<String>,
    /// The key was imported and not applied since: its access list and project roles are
    /// read in full, and env0 adopts the configured project roles.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    imported: bool,
    /// The configuration sets `access_list`: refresh reads it (one request per key).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    manages_access_list: bool,
}

impl Private {
    /// The private data of a state (anything unreadable reads as none).
    fn read(bytes: &[u8]) -> Private {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// After an apply with `config`: judged now, not imported any more.
    fn applied(config: &Value) -> Vec<u8> {
        Private {
            rotation_judged_at: Some(now_rfc3339()),
            imported: false,
            manages_access_list: !config.attr("access_list").is_null(),
        }
        .bytes()
    }

    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Private state recording that rotation is judged as of now.
#[cfg(test)]
fn judged_now() -> Vec<u8> {
    Private {
        rotation_judged_at: Some(now_rfc3339()),
        ..Private::default()
    }
    .bytes()
}

fn format_time(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map(Value::from).unwrap_or(Value::Null)
}

/// Writes what the backend reports about a key into `state`.
fn merge_backend_view(state: &mut Value, key: &ApiKey, kind: BackendKind) {
    state.set_attr("id", Value::from(key.id.as_str()));
    state.set_attr("name", Value::from(key.name.as_str()));
    if let Some(org) = &key.org_id {
        state.set_attr("org_id", Value::from(org.as_str()));
    }
    state.set_attr("public_key", Value::opt_string(key.public_key.clone()));
    state.set_attr("preview", Value::opt_string(key.preview.clone()));
    if kind != BackendKind::Braintrust {
        state.set_attr("roles", Value::string_set(key.roles.iter().cloned()));
    }
    if let Some(created) = &key.created_at {
        state.set_attr("created_at", Value::from(created.as_str()));
    }
    if kind == BackendKind::Braintrust {
        braintrust_token::merge_service_account(state, key);
    }
    // Atlas reports a key's project roles in every listing. env0's listing does not report
    // them, so they stay as configured.
    if kind == BackendKind::Atlas {
        state.set_attr("project_roles", project_roles_value(&key.project_roles));
    }
}

fn identity_of(state: &Value) -> Option<Value> {
    Some(Value::object([
        ("org_id", state.attr("org_id").clone()),
        ("id", state.attr("id").clone()),
    ]))
}

// ---------------------------------------------------------------------------------------
// The resource
// ---------------------------------------------------------------------------------------

/// The `keysmith_api_key` resource type.
#[derive(Debug)]
pub struct ApiKeyResource {
    state: Arc<ProviderState>,
}

impl ApiKeyResource {
    /// The resource, sharing the provider's configured backend.
    pub fn new(state: Arc<ProviderState>) -> Self {
        ApiKeyResource { state }
    }

    fn plan_create(&self, kind: BackendKind, config: &Value, mut planned: Value) -> Value {
        for name in NEW_KEY_COMPUTED {
            planned.set_attr(name, Value::Unknown);
        }
        // A new key's unset access list and project roles are what the backend gives it.
        for name in ["access_list", "project_roles"] {
            if config.attr(name).is_null() {
                let value = match (kind, name) {
                    (BackendKind::Atlas, _) => Value::Unknown,
                    _ => Value::Null,
                };
                planned.set_attr(name, value);
            }
        }
        let preview = if kind == BackendKind::Braintrust {
            Value::Unknown
        } else {
            Value::Null
        };
        planned.set_attr("preview", preview);
        if kind == BackendKind::Braintrust {
            planned.set_attr("public_key", Value::Null);
            if planned.attr("org_name").is_null() {
                let default = self.state.defaults().org.map(Value::from);
                planned.set_attr("org_name", default.unwrap_or(Value::Unknown));
            }
        }
        if planned.attr("org_id").is_null() {
            let default_org = match kind {
                BackendKind::Env0 => self.state.defaults().org.map(Value::from),
                _ => None,
            };
            planned.set_attr("org_id", default_org.unwrap_or(Value::Unknown));
        }
        let expires = if planned.attr("rotate_after").is_null() {
            Value::Null
        } else {
            Value::Unknown
        };
        planned.set_attr("expires_at", expires);
        planned
    }

    async fn create(
        &self,
        backend: &dyn Backend,
        planned: &Value,
        config: &Value,
    ) -> ApplyResponse {
        let org_id = planned.attr("org_id").as_str().map(str::to_string);
        let org_name = planned
            .attr("org_name")
            .as_str()
            .map(str::to_string)
            .or_else(|| match backend.kind() {
                BackendKind::Braintrust => self.state.defaults().org,
                _ => None,
            });
        let new = NewApiKey {
            org_id,
            org_name,
            name: planned
                .attr("name")
                .as_str()
                .unwrap_or_default()
                .to_string(),
            roles: string_vec(planned.attr("roles")),
            // Atlas assigns project roles to the key once it exists (below).
            project_roles: match backend.kind() {
                BackendKind::Env0 => project_roles_of(planned.attr("project_roles")),
                _ => BTreeMap::new(),
            },
            service_account_id: planned
                .attr("service_account_id")
                .as_str()
                .map(str::to_string),
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
        let roles = state.attr("roles").clone();
        merge_backend_view(&mut state, &created.key, backend.kind());
        // The configured roles are what was planned; the backend's echo may list them in
        // another form (or add project roles), which the next refresh reconciles. Atlas
        // project roles are assigned below, after the key exists.
        state.set_attr("roles", roles);
        state.set_attr("project_roles", planned.attr("project_roles").clone());
        state.set_attr("secret", Value::from(created.secret.expose()));
        if state.attr("created_at").is_unknown() {
            state.set_attr("created_at", Value::from(now_rfc3339()));
        }
        if state.attr("org_name").is_unknown() {
            let name = org_name_of(backend, state.attr("org_id")).await;
            state.set_attr("org_name", Value::opt_string(name));
        }
        let mut diagnostics = Diagnostics::default();
        if backend.kind() == BackendKind::Atlas {
            // The key exists and its secret is in `state`: whatever fails now is an error on a
            // saved (tainted) key, never a lost one.
            let org = created.key.org_id.clone().unwrap_or_default();
            let id = created.key.id.clone();
            let wanted_entries = planned.attr("access_list").strings().unwrap_or_default();
            let entries: Vec<String> = entries(wanted_entries.iter().copied())
                .iter()
                .map(Entry::vendor_text)
                .collect();
            match backend.add_access_list(&org, &id, &entries).await {
                Ok(()) => {
                    if state.attr("access_list").is_unknown() {
                        state.set_attr("access_list", Value::string_set(Vec::<String>::new()));
                    }
                }
                Err(e) => {
                    state.set_attr("access_list", Value::string_set(Vec::<String>::new()));
                    diagnostics.extend(backend_diagnostic(
                        "Unable to set the API key's access list",
                        &e,
                        attribute_of_field,
                    ));
                }
            }
            let wanted = project_roles_of(planned.attr("project_roles"));
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
            if diagnostics.has_errors() || state.attr("project_roles").is_unknown() {
                state.set_attr("project_roles", project_roles_value(&assigned));
            }
        }
        let expires = match expiry(state.attr("created_at"), state.attr("rotate_after")) {
            Ok(expires) => expires.map(format_time).unwrap_or(Value::Null),
            Err(why) => {
                // The key exists and its secret is here: keep it, and say why it cannot expire.
                diagnostics.push_warning("The key cannot expire", why);
                Value::Null
            }
        };
        state.set_attr("expires_at", expires);
        unknowns_to_null(&mut state);
        ApplyResponse {
            identity: identity_of(&state),
            state,
            private: Private::applied(config),
            diagnostics,
        }
    }

    async fn update(
        &self,
        backend: &dyn Backend,
        prior: &Value,
        planned: &Value,
        config: &Value,
    ) -> ApplyResponse {
        let changed = |name: &str| !prior.attr(name).equivalent(planned.attr(name));
        let update = ApiKeyUpdate {
            name: changed("name")
                .then(|| planned.attr("name").as_str().map(str::to_string))
                .flatten(),
            roles: changed("roles").then(|| string_vec(planned.attr("roles"))),
        };
        if update.name.is_some() || update.roles.is_some() {
            let org = prior.attr("org_id").as_str().unwrap_or_default();
            let id = prior.attr("id").as_str().unwrap_or_default();
            tracing::debug!(backend = backend.kind().name(), id, "updating API key");
            if let Err(e) = backend.update_api_key(org, id, &update).await {
                return ApplyResponse {
                    state: prior.clone(),
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
            let org = prior.attr("org_id").as_str().unwrap_or_default();
            let id = prior.attr("id").as_str().unwrap_or_default();
            let failed = |e: BackendError, summary: &str| ApplyResponse {
                state: prior.clone(),
                identity: identity_of(prior),
                diagnostics: backend_diagnostic(summary, &e, attribute_of_field),
                ..Default::default()
            };
            if let Some(wanted) = config.attr("access_list").strings() {
                if let Err(e) = sync_access_list(backend, org, id, &wanted).await {
                    return failed(e, "Unable to change the API key's access list");
                }
            }
            if !config.attr("project_roles").is_null() {
                let before = project_roles_of(prior.attr("project_roles"));
                let after = project_roles_of(planned.attr("project_roles"));
                if let Err(e) = sync_project_roles(backend, org, id, &before, &after).await {
                    return failed(e, "Unable to change the API key's project roles");
                }
            }
        }
        let mut state = planned.clone();
        unknowns_to_null(&mut state);
        ApplyResponse {
            identity: identity_of(&state),
            state,
            private: Private::applied(config),
            ..Default::default()
        }
    }

    async fn delete(&self, backend: &dyn Backend, prior: &Value) -> ApplyResponse {
        let org = prior.attr("org_id").as_str().unwrap_or_default();
        let id = prior.attr("id").as_str().unwrap_or_default();
        tracing::debug!(backend = backend.kind().name(), id, "deleting API key");
        braintrust_token::hint_kind(backend, prior);
        match backend.delete_api_key(org, id).await {
            Ok(()) => ApplyResponse::default(),
            Err(e) => ApplyResponse {
                state: prior.clone(),
                identity: identity_of(prior),
                diagnostics: backend_diagnostic("Unable to delete API key", &e, |_| None),
                ..Default::default()
            },
        }
    }
}

/// Makes a key's access list hold exactly `wanted` (by meaning), against the list as the
/// vendor has it now: entries missing are added in one request, extra ones removed one by one.
async fn sync_access_list(
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
async fn sync_project_roles(
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
fn upgrade_state(version: i64, mut state: serde_json::Value) -> Result<serde_json::Value, String> {
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
    Ok(state)
}

/// A `map(set(string))` value as project id → roles (null → none).
pub(crate) fn project_roles_of(v: &Value) -> BTreeMap<String, BTreeSet<String>> {
    v.entries()
        .map(|m| {
            m.iter()
                .map(|(project, roles)| (project.clone(), string_vec(roles).into_iter().collect()))
                .collect()
        })
        .unwrap_or_default()
}

/// Project id → roles as a `map(set(string))` value.
fn project_roles_value(roles: &BTreeMap<String, BTreeSet<String>>) -> Value {
    Value::Map(
        roles
            .iter()
            .map(|(project, roles)| (project.clone(), Value::string_set(roles.iter().cloned())))
            .collect(),
    )
}

pub(crate) fn string_vec(v: &Value) -> Vec<String> {
    v.strings()
        .map(|s| s.into_iter().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The name of the organization `org_id` (Braintrust reports keys' organizations by id).
async fn org_name_of(backend: &dyn Backend, org_id: &Value) -> Option<String> {
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
fn parse_import_id(kind: BackendKind, id: &str) -> Result<(Option<String>, String), String> {
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
        validate_config(config)
    }

    fn upgrade_state(
        &self,
        version: i64,
        state: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        upgrade_state(version, state)
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
        let mut diagnostics = validate_for_backend(kind, &req.config);
        diagnostics.extend(validate_config(&req.config));
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
                planned: self.plan_create(kind, &req.config, req.proposed),
                diagnostics,
                ..Default::default()
            };
        }

        // Update: the proposal already carries prior values for computed attributes.
        let prior = &req.prior;
        let mut planned = req.proposed;
        // An access list equal by meaning is no change: the prior spelling stays.
        if let (Some(was), Some(now)) = (
            prior.attr("access_list").strings(),
            planned.attr("access_list").strings(),
        ) {
            if same(was, now) {
                planned.set_attr("access_list", prior.attr("access_list").clone());
            }
        }
        // env0 reports no project roles: an imported key adopts the configured ones.
        let adopt_project_roles = kind == BackendKind::Env0
            && prior.attr("project_roles").is_null()
            && Private::read(&req.prior_private).imported;
        let replace_inputs: Vec<&str> = INPUTS
            .iter()
            .copied()
            .filter(|n| !rules.in_place.contains(n))
            .filter(|n| !(adopt_project_roles && *n == "project_roles"))
            .collect();
        let mut requires_replace: Vec<AttributePath> = replace_inputs
            .iter()
            .map(|n| AttributePath::attr(n))
            .collect();
        let mut replace = replace_inputs
            .iter()
            .any(|n| !prior.attr(n).equivalent(planned.attr(n)));

        // Scheduled rotation: the key expires at created_at + rotate_after, and is due once
        // that is past as of the last refresh (see `judged_at`).
        match planned.attr("rotate_after") {
            Value::Null => planned.set_attr("expires_at", Value::Null),
            Value::Unknown => planned.set_attr("expires_at", Value::Unknown),
            rotate_after => match expiry(prior.attr("created_at"), rotate_after) {
                Ok(Some(expires))
                    if judged_at(&req.prior_private).is_some_and(|t| expires <= t) =>
                {
                    // An unknown expiry differs from the prior one, so Terraform replaces.
                    planned.set_attr("expires_at", Value::Unknown);
                    requires_replace.push(AttributePath::attr("expires_at"));
                    replace = true;
                }
                Ok(Some(expires)) => planned.set_attr("expires_at", format_time(expires)),
                Ok(None) => planned.set_attr("expires_at", Value::Null),
                Err(why) => {
                    diagnostics.push_warning("The key cannot expire", why);
                    planned.set_attr("expires_at", Value::Null);
                }
            },
        }
        if replace {
            // The new key's computed values are known only after it is created.
            planned = self.plan_create(kind, &req.config, planned);
        }
        PlanResponse {
            planned_identity: if replace {
                None
            } else {
                req.prior_identity.or_else(|| identity_of(prior))
            },
            planned,
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
        if req.planned.is_null() {
            self.delete(backend.as_ref(), &req.prior).await
        } else if req.prior.is_null() {
            self.create(backend.as_ref(), &req.planned, &req.config)
                .await
        } else {
            self.update(backend.as_ref(), &req.prior, &req.planned, &req.config)
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
        let org = req
            .state
            .attr("org_id")
            .as_str()
            .unwrap_or_default()
            .to_string();
        let id = req
            .state
            .attr("id")
            .as_str()
            .unwrap_or_default()
            .to_string();
        braintrust_token::hint_kind(backend.as_ref(), &req.state);
        match backend.get_api_key(&org, &id).await {
            Ok(key) => {
                let mut state = req.state;
                let mut private = Private::read(&req.private);
                // An import's state holds only the id (Terraform does not always hand the
                // import's private data to this read): the first read fills the rest.
                if state.attr("name").is_null() {
                    private.imported = true;
                }
                merge_backend_view(&mut state, &key, backend.kind());
                if backend.kind() == BackendKind::Braintrust && state.attr("org_name").is_null() {
                    // Imported keys: Braintrust reports the organization by id only.
                    let name = org_name_of(backend.as_ref(), state.attr("org_id")).await;
                    state.set_attr("org_name", Value::opt_string(name));
                }
                let mut diagnostics = Diagnostics::default();
                if backend.kind() == BackendKind::Atlas
                    && (private.manages_access_list || private.imported)
                {
                    match backend.get_access_list(&org, &id).await {
                        Ok(vendor) => {
                            let kept = state.attr("access_list").strings().is_some_and(|known| {
                                same(known, vendor.iter().map(String::as_str))
                            });
                            if !kept {
                                state.set_attr("access_list", Value::string_set(vendor));
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
                    state,
                    private: private.bytes(),
                    diagnostics,
                }
            }
            Err(e) if e.is_not_found() => {
                tracing::warn!(id, "API key no longer exists; removing it from state");
                ReadResponse::default()
            }
            Err(e) => ReadResponse {
                identity: identity_of(&req.state),
                state: req.state,
                private: req.private,
                diagnostics: backend_diagnostic("Unable to read API key", &e, |_| None),
            },
        }
    }

    async fn import(&self, req: ImportRequest) -> ImportResponse {
        let kind = match self.state.backend() {
            Ok(b) => b.kind(),
            Err(diagnostics) => {
                return ImportResponse {
                    diagnostics,
                    ..Default::default()
                }
            }
        };
        if kind == BackendKind::Traceloop {
            return ImportResponse {
                diagnostics: validate_for_backend(kind, &Value::Null),
                ..Default::default()
            };
        }
        let parsed = match &req.identity {
            Some(identity) if req.id.is_empty() => {
                let org = identity.attr("org_id").as_str().map(str::to_string);
                let id = identity.attr("id").as_str().unwrap_or_default().to_string();
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
        let state = Value::object([
            ("id", Value::from(id)),
            ("org_id", Value::opt_string(org_id)),
            ("created_at", Value::from(now_rfc3339())),
        ]);
        let mut full = null_object(&schema());
        if let (Value::Object(dst), Value::Object(src)) = (&mut full, state) {
            dst.extend(src);
        }
        ImportResponse {
            identity: identity_of(&full),
            state: full,
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
pub(crate) fn listed_state(key: &ApiKey, kind: BackendKind, org_id: &str) -> Value {
    let mut state = null_object(&schema());
    state.set_attr("org_id", Value::from(org_id));
    merge_backend_view(&mut state, key, kind);
    if kind == BackendKind::Braintrust {
        state.set_attr("org_id", Value::Null);
    }
    state
}

/// The identity of a listed key.
pub(crate) fn listed_identity(key: &ApiKey, org_id: &str) -> Value {
    Value::object([
        (
            "org_id",
            Value::from(key.org_id.as_deref().unwrap_or(org_id)),
        ),
        ("id", Value::from(key.id.as_str())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_show_the_expected_form() {
        let org = "5f1a2b3c4d5e6f7081920a1b";
        let key = "6a1a2b3c4d5e6f7081920a1b";
        assert_eq!(
            parse_import_id(BackendKind::Atlas, &format!("{org}/{key}")),
            Ok((Some(org.to_string()), key.to_string()))
        );
        for bad in [key, "x/y", "", &format!("{org}-{key}")] {
            let err = parse_import_id(BackendKind::Atlas, bad).unwrap_err();
            assert!(err.contains("<org_id>/<id>"), "{err}");
        }
        assert!(parse_import_id(BackendKind::Env0, "abc").is_ok());
        assert!(parse_import_id(BackendKind::Env0, "a/b").is_err());
    }

    #[test]
    fn attributes_that_do_not_apply_are_named() {
        let config = Value::object([
            ("name", Value::from("k")),
            ("org_id", Value::from("5f1a2b3c4d5e6f7081920a1b")),
            ("roles", Value::string_set(["ORG_MEMBER"])),
            ("org_name", Value::from("acme")),
        ]);
        let diags = validate_for_backend(BackendKind::Atlas, &config);
        assert_eq!(diags.0.len(), 1);
        assert_eq!(diags.0[0].attribute, Some(AttributePath::attr("org_name")));
        assert!(diags.0[0].detail.contains("atlas"));
    }

    #[test]
    fn atlas_roles_and_org_id_are_checked() {
        let config = Value::object([
            ("name", Value::from("k")),
            ("org_id", Value::from("nothex")),
            ("roles", Value::string_set(["ORG_MEMBER", "GROUP_OWNER"])),
        ]);
        let diags = validate_for_backend(BackendKind::Atlas, &config);
        let paths: Vec<_> = diags.0.iter().filter_map(|d| d.attribute.clone()).collect();
        assert!(paths.contains(&AttributePath::attr("org_id")));
        assert!(paths.contains(&AttributePath::attr("roles")));
    }

    #[test]
    fn env0_takes_one_role_and_project_roles_only_below_admin() {
        let config = Value::object([
            ("name", Value::from("k")),
            ("roles", Value::string_set(["Admin"])),
            (
                "project_roles",
                Value::Map(
                    [
                        ("p1".to_string(), Value::string_set(["Deployer"])),
                        ("p2".to_string(), Value::string_set(["Owner"])),
                    ]
                    .into(),
                ),
            ),
        ]);
        let diags = validate_for_backend(BackendKind::Env0, &config);
        let paths: Vec<_> = diags.0.iter().filter_map(|d| d.attribute.clone()).collect();
        assert_eq!(
            paths,
            vec![
                AttributePath::attr("project_roles"),
                AttributePath::attr("project_roles").then_key("p2"),
            ]
        );
        let two = Value::object([
            ("name", Value::from("k")),
            ("roles", Value::string_set(["Admin", "User"])),
        ]);
        assert!(validate_for_backend(BackendKind::Env0, &two).has_errors());
    }

    #[test]
    fn traceloop_is_refused_with_the_spec_message() {
        let diags = validate_for_backend(BackendKind::Traceloop, &Value::Null);
        assert!(diags.0[0]
            .detail
            .contains("use keysmith_org.environment_keys"));
    }

    #[test]
    fn expiry_is_created_plus_rotate_after() {
        let t = expiry(&Value::from("2026-01-01T00:00:00Z"), &Value::from("720h"))
            .unwrap()
            .unwrap();
        assert_eq!(format_time(t), Value::from("2026-01-31T00:00:00Z"));
        assert_eq!(expiry(&Value::Null, &Value::from("1h")), Ok(None));
        // Near the end of representable time: an error, never an overflow.
        let why = expiry(&Value::from("9999-12-31T23:00:00Z"), &Value::from("48h")).unwrap_err();
        assert!(why.contains("9999-12-31T23:00:00Z"), "{why}");
        // Out-of-range durations are the configuration checks' business.
        assert_eq!(
            expiry(
                &Value::from("2026-01-01T00:00:00Z"),
                &Value::from("87600000h")
            ),
            Ok(None)
        );
    }

    #[test]
    fn rotate_after_and_roles_are_checked_at_validation() {
        for (rotate_after, ok) in [
            ("720h", true),
            ("0s", false),
            ("87600000h", false),
            ("876000h", true),
        ] {
            let config = Value::object([
                ("name", Value::from("k")),
                ("rotate_after", Value::from(rotate_after)),
            ]);
            let diags = validate_config(&config);
            assert_eq!(!diags.has_errors(), ok, "{rotate_after}: {diags:?}");
            if !ok {
                assert_eq!(
                    diags.0[0].attribute,
                    Some(AttributePath::attr("rotate_after"))
                );
            }
        }
        let empty_role = Value::object([
            ("name", Value::from("k")),
            ("roles", Value::string_set([""])),
        ]);
        let diags = validate_config(&empty_role);
        assert_eq!(diags.0[0].attribute, Some(AttributePath::attr("roles")));
    }

    #[test]
    fn version_0_project_roles_become_sets() {
        let v0 =
            serde_json::json!({"name": "k", "project_roles": {"p1": "Viewer", "p2": "Deployer"}});
        let v1 = upgrade_state(0, v0).unwrap();
        assert_eq!(
            v1["project_roles"],
            serde_json::json!({"p1": ["Viewer"], "p2": ["Deployer"]})
        );
        let null = upgrade_state(0, serde_json::json!({"project_roles": null})).unwrap();
        assert!(null["project_roles"].is_null());
    }

    #[test]
    fn rotation_is_judged_against_the_last_refresh_not_the_clock() {
        assert_eq!(judged_at(b""), None);
        assert_eq!(judged_at(b"not json"), None);
        let now = judged_at(&judged_now()).unwrap();
        assert!((OffsetDateTime::now_utc() - now).abs() < time::Duration::seconds(5));
    }
}
