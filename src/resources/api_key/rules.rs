//! What `keysmith_api_key` accepts on each backend: the checks of ValidateResourceConfig
//! (no backend needed) and those of plan time (the configured backend's rules).

use std::time::Duration;

use crate::backend::{BackendKind, Capabilities};
use crate::framework::MAX_DURATION;
use crate::framework::{parse_duration_within, Diagnostics};

use crate::resources::access_list::Entry;
use crate::resources::braintrust_token;

use super::*;

use ApiKeyAttr as A;

// ---------------------------------------------------------------------------------------
// Per-backend rules
// ---------------------------------------------------------------------------------------

/// What each backend allows for this resource, read from its [`Capabilities`].
pub(super) struct Rules {
    /// Attributes a change of which is applied in place.
    pub(super) in_place: Vec<ApiKeyAttr>,
    /// Attributes that must be set.
    pub(super) required: Vec<ApiKeyAttr>,
    /// Attributes that must not be set.
    pub(super) forbidden: Vec<ApiKeyAttr>,
}

/// The rules of `kind`; `None` where keys cannot be created at all (Traceloop).
pub(super) fn rules(kind: BackendKind) -> Option<Rules> {
    let caps = Capabilities::of(kind);
    if !caps.key_create {
        return None;
    }
    let mut rules = Rules {
        in_place: Vec::new(),
        required: Vec::new(),
        forbidden: Vec::new(),
    };
    // (attribute, whether it applies, whether it is required, whether it changes in place)
    let table = [
        (A::Name, true, false, caps.key_update),
        (
            A::OrgId,
            !caps.key_org_by_name,
            caps.key_org_required,
            false,
        ),
        (A::OrgName, caps.key_org_by_name, false, false),
        (A::Roles, caps.key_roles, caps.key_roles, caps.key_update),
        (
            A::ProjectRoles,
            caps.key_project_roles,
            false,
            caps.key_project_roles_in_place,
        ),
        (
            A::AccessList,
            caps.key_access_list,
            false,
            caps.key_access_list,
        ),
        (A::ServiceAccountId, caps.key_service_tokens, false, false),
    ];
    for (name, applies, required, in_place) in table {
        if !applies {
            rules.forbidden.push(name);
        }
        if required {
            rules.required.push(name);
        }
        if in_place {
            rules.in_place.push(name);
        }
    }
    Some(rules)
}

/// Inputs whose change replaces the key unless the backend updates them in place.
pub(super) const INPUTS: &[ApiKeyAttr] = &[
    A::Name,
    A::OrgId,
    A::OrgName,
    A::Roles,
    A::ProjectRoles,
    A::ServiceAccountId,
    A::AccessList,
    A::RotationTriggers,
];

/// Maps a vendor's field name to our attribute.
pub(crate) fn attribute_of_field(field: &str) -> Option<&'static str> {
    let attr = match field {
        "desc" | "name" => A::Name,
        "roles" | "role" | "organizationRole" => A::Roles,
        "orgId" | "organizationId" | "org_id" => A::OrgId,
        "org_name" => A::OrgName,
        "service_account_id" => A::ServiceAccountId,
        "projectsPermissions" | "project_roles" | "groupId" => A::ProjectRoles,
        "ipAddress" | "cidrBlock" => A::AccessList,
        "apiUserId" => A::Id,
        _ => return None,
    };
    Some(attr.name())
}

/// `GROUP_` and an upper-case name (Atlas judges which names exist).
pub(super) fn is_group_role(role: &str) -> bool {
    role.strip_prefix("GROUP_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

pub(super) fn is_hex24(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks that need no backend: ValidateResourceConfig.
pub(crate) fn validate_config(config: &ApiKeyModel) -> Diagnostics {
    let mut diags = Diagnostics::default();
    if let Some(name) = config.name.as_str() {
        if name.trim().is_empty() {
            diags.push_attribute_error(A::Name.path(), "Invalid name", "`name` must not be empty.");
        }
    }
    if let Some(d) = config.rotate_after.as_str() {
        if let Err(e) = parse_duration_within(d, Duration::ZERO, MAX_DURATION) {
            diags.push_attribute_error(A::RotateAfter.path(), "Invalid duration", e);
        }
    }
    braintrust_token::validate_config(config, &mut diags);
    if let Some(roles) = config.roles.strings() {
        if roles.iter().any(|r| r.trim().is_empty()) {
            diags.push_attribute_error(
                A::Roles.path(),
                "Invalid roles",
                "A role must not be empty.",
            );
        }
    }
    if let Some(entries) = config.access_list.strings() {
        for entry in entries {
            if let Err(why) = Entry::parse(entry) {
                diags.push_attribute_error(A::AccessList.path(), "Invalid access list entry", why);
            }
        }
    }
    diags
}

/// Checks of the configuration against the configured backend (at plan).
pub(crate) fn validate_for_backend(kind: BackendKind, config: &ApiKeyModel) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let Some(rules) = rules(kind) else {
        diags.push_error(
            "keysmith_api_key is not supported on traceloop",
            "traceloop issues API keys per environment when the organization is created; use keysmith_org.environment_keys",
        );
        return diags;
    };
    let backend = kind.name();
    for attr in rules.forbidden {
        if !config.get(attr).is_null() {
            diags.push_attribute_error(
                attr.path(),
                "Attribute not supported by this backend",
                format!(
                    "`{}` does not apply to the {backend} backend; remove it.",
                    attr.name()
                ),
            );
        }
    }
    for attr in rules.required {
        if config.get(attr).is_null() {
            diags.push_attribute_error(
                attr.path(),
                "Missing required attribute",
                format!("The {backend} backend needs `{}`.", attr.name()),
            );
        }
    }
    if kind == BackendKind::Env0 {
        let roles = config.roles.strings();
        if let Some(roles) = &roles {
            if roles.len() != 1 {
                diags.push_attribute_error(
                    A::Roles.path(),
                    "Invalid roles",
                    format!(
                        "An env0 API key has exactly one organization role (`Admin`, `User` or a custom role id); {} given.",
                        roles.len()
                    ),
                );
            }
        }
        if let Some(projects) = config.project_roles.entries() {
            if roles.as_deref() == Some(&["Admin"][..]) && !projects.is_empty() {
                diags.push_attribute_error(
                    A::ProjectRoles.path(),
                    "Project roles with the Admin role",
                    "An env0 `Admin` key already has every project permission: `project_roles` applies only with `User` or a custom role.",
                );
            }
            for (project, roles) in projects {
                let Some(roles) = roles.strings() else {
                    continue;
                };
                let path = A::ProjectRoles.path().then_key(project);
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
        if let Some(name) = config.name.as_str() {
            let len = name.chars().count();
            if !(1..=250).contains(&len) {
                diags.push_attribute_error(
                    A::Name.path(),
                    "Invalid name",
                    format!(
                        "Atlas key descriptions are 1 to 250 characters long; this one has {len}."
                    ),
                );
            }
        }
        if let Some(projects) = config.project_roles.entries() {
            for (project, roles) in projects {
                let path = A::ProjectRoles.path().then_key(project);
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
        if let Some(org) = config.org_id.as_str() {
            if !is_hex24(org) {
                diags.push_attribute_error(
                    A::OrgId.path(),
                    "Invalid organization id",
                    format!("{org:?} is not an Atlas organization id (24 hexadecimal digits)."),
                );
            }
        }
        if let Some(roles) = config.roles.strings() {
            if roles.is_empty() {
                diags.push_attribute_error(
                    A::Roles.path(),
                    "Missing roles",
                    "An Atlas API key needs at least one role.",
                );
            }
            for role in roles.iter().filter(|r| !ATLAS_ROLES.contains(r)) {
                diags.push_attribute_error(
                    A::Roles.path(),
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
