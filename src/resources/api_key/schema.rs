//! The schema of `keysmith_api_key`, its identity, and the upgrade of older states.

use crate::codec::{Attribute, Block, Schema, Type};
use crate::framework::{IdentityAttribute, IdentitySchema};

use super::*;

/// Version 1: `project_roles` is `map(set(string))` (it was `map(string)`).
pub(super) const SCHEMA_VERSION: i64 = 1;

crate::model! {
    /// A `keysmith_api_key` object: its configuration, plan or state (see [`schema`]).
    pub(crate) struct ApiKeyModel, attributes ApiKeyAttr {
        id: Id,
        name: Name,
        org_id: OrgId,
        org_name: OrgName,
        service_account_id: ServiceAccountId,
        roles: Roles,
        project_roles: ProjectRoles,
        access_list: AccessList,
        rotation_triggers: RotationTriggers,
        rotate_after: RotateAfter,
        public_key: PublicKey,
        preview: Preview,
        secret: Secret,
        created_at: CreatedAt,
        expires_at: ExpiresAt,
    }
}

crate::model! {
    /// The identity of a key (Terraform ≥ 1.12; see [`identity_schema`]).
    pub(crate) struct ApiKeyIdentity, attributes ApiKeyIdentityAttr {
        org_id: OrgId,
        id: Id,
    }
}

use ApiKeyAttr as A;

/// Computed attributes that a new key gets from the backend at create.
pub(super) const NEW_KEY_COMPUTED: &[ApiKeyAttr] = &[A::Id, A::PublicKey, A::Secret, A::CreatedAt];

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
        Attribute::new(A::Id.name(), Type::String)
            .computed()
            .description("The backend's id of the key: Atlas 24-hex id, Braintrust UUID, env0 id."),
    )
    // Required attributes
    .attribute(
        Attribute::new(A::Name.name(), Type::String)
            .required()
            .description("Name of the key. Atlas `desc` (1–250 characters, updated in place); Braintrust and env0 `name` (a change replaces the key)."),
    )
    // Optional attributes
    .attribute(
        Attribute::new(A::OrgId.name(), Type::String)
            .optional()
            .computed()
            .description("Organization of the key. Atlas: required, the 24-hex organization id. env0: `organizationId`, defaults to the provider's `organization_id`. Braintrust: computed from the response. A change replaces the key."),
    )
    .attribute(
        Attribute::new(A::OrgName.name(), Type::String)
            .optional()
            .computed()
            .description("Braintrust only: the organization, by name, the key is created in (defaults to the provider's `org_name`); read back from the key's organization, so an imported key gets it too. A change replaces the key."),
    )
    .attribute(
        Attribute::new(A::ServiceAccountId.name(), Type::String)
            .optional()
            .description("Braintrust only: the id (a UUID) of a service account; the key is then a **service token** of that account (`POST /v1/service_token`), the machine credential Braintrust lets you create through its API. Only an organization-owner service token may create one: configure the provider's `api_key` with such a token. Without it the key is a user API key (`POST /v1/api_key`, which Braintrust removed from its published API in May 2026). Read back on refresh and import. A change replaces the key."),
    )
    .attribute(
        Attribute::new(A::Roles.name(), Type::set(Type::String))
            .optional()
            .description(format!(
                "Roles of the key. Atlas: required, at least one of {roles}; updated in place. env0: required, exactly one of `Admin`, `User` or a custom role id; a change replaces the key. Braintrust: must not be set."
            )),
    )
    .attribute(
        Attribute::new(A::ProjectRoles.name(), Type::map(Type::set(Type::String)))
            .optional()
            .computed()
            .description("Project id → the key's roles in that project. Atlas: at least one `GROUP_*` role per project (24-hex project id), assigned, changed and removed in place, and read back from the key's roles (refresh and import); `{}` manages \"no project roles\", unset leaves them unmanaged (and shows what the key has). env0: exactly one of `Planner`, `Viewer`, `Deployer`, `Admin` per project, only with a non-`Admin` role; a change replaces the key; env0 does not report them, so they are kept as configured (after an import, the first plan adopts the configured value without replacing the key). Braintrust: must not be set."),
    )
    .attribute(
        Attribute::new(A::AccessList.name(), Type::set(Type::String))
            .optional()
            .computed()
            .description("Atlas only: the IPv4/IPv6 addresses and CIDR blocks allowed to use the key. Entries are compared by meaning (`203.0.113.7` is `203.0.113.7/32`; IPv6 in any spelling) and the configured spelling is kept; a block with host bits set is an error. Added and removed entry by entry in place, read back on refresh (drift shows as an update) and on import. `[]` manages \"no entries\"; unset leaves them unmanaged."),
    )
    .attribute(
        Attribute::new(A::RotationTriggers.name(), Type::map(Type::String))
            .optional()
            .description("Arbitrary values; any change replaces the key (like `keepers`)."),
    )
    .attribute(
        Attribute::new(A::RotateAfter.name(), Type::String)
            .optional()
            .description("A duration such as `\"720h\"` (units `s`, `m`, `h`). Once `created_at + rotate_after` has passed, the next plan replaces the key; with `create_before_destroy` this is zero-downtime rotation."),
    )
    // Computed attributes
    .attribute(
        Attribute::new(A::PublicKey.name(), Type::String)
            .computed()
            .description("The non-secret half of the credential: Atlas `publicKey`, env0 `apiKeyId`; null on Braintrust."),
    )
    .attribute(
        Attribute::new(A::Preview.name(), Type::String)
            .computed()
            .description("Braintrust's redacted preview of the key (`preview_name`); null elsewhere."),
    )
    .attribute(
        Attribute::new(A::Secret.name(), Type::String)
            .computed()
            .sensitive()
            .description("The one-time secret (Atlas `privateKey`, Braintrust `key`, env0 `apiKeySecret`). Set at create and carried unchanged through every refresh; null after import, because backends never show it again."),
    )
    .attribute(
        Attribute::new(A::CreatedAt.name(), Type::String)
            .computed()
            .description("Creation time (RFC 3339): from the backend where it reports one, else the provider's clock at create or import."),
    )
    .attribute(
        Attribute::new(A::ExpiresAt.name(), Type::String)
            .computed()
            .description("`created_at + rotate_after` (RFC 3339); null when `rotate_after` is unset."),
    );
    Schema::new(SCHEMA_VERSION, block)
}

pub(super) fn identity_schema() -> IdentitySchema {
    let attr = |a: ApiKeyIdentityAttr, description: &str| IdentityAttribute {
        name: a.name().to_string(),
        ty: Type::String,
        required_for_import: a == ApiKeyIdentityAttr::Id,
        optional_for_import: a != ApiKeyIdentityAttr::Id,
        description: description.to_string(),
    };
    IdentitySchema {
        version: 0,
        attributes: vec![
            attr(
                ApiKeyIdentityAttr::OrgId,
                "Organization of the key (Atlas and env0).",
            ),
            attr(ApiKeyIdentityAttr::Id, "The backend's id of the key."),
        ],
    }
}
