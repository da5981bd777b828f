//! The schema of `keysmith_api_key`, its identity, and the upgrade of older states.

use crate::codec::{Attribute, Block, Schema, Type};
use crate::framework::{IdentityAttribute, IdentitySchema};

use super::*;

/// Version 1: `project_roles` is `map(set(string))` (it was `map(string)`).
pub(super) const SCHEMA_VERSION: i64 = 1;

/// Computed attributes that a new key gets from the backend at create.
pub(super) const NEW_KEY_COMPUTED: &[&str] = &["id", "public_key", "secret", "created_at"];

// ---------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------

pub(super) fn schema() -> Schema {
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

pub(super) fn identity_schema() -> IdentitySchema {
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
