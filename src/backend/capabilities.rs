//! What each vendor can do (SPEC §1), written once.

use super::BackendKind;

/// What a vendor can do, per SPEC §1: the one table that the resources' plan-time refusals
/// and the conformance suite both read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `create_api_key`.
    pub key_create: bool,
    /// `get_api_key`.
    pub key_read: bool,
    /// `list_api_keys`.
    pub key_list: bool,
    /// `update_api_key`.
    pub key_update: bool,
    /// `delete_api_key`.
    pub key_delete: bool,
    /// Keys carry a `public_key` (Atlas `publicKey`, env0 `apiKeyId`).
    pub key_public_key: bool,
    /// Keys carry a `preview` (Braintrust `preview_name`).
    pub key_preview: bool,
    /// Keys hold organization roles (`roles`), which a create must name.
    pub key_roles: bool,
    /// A key's organization must be named (Atlas `orgId` in the path; no provider default).
    pub key_org_required: bool,
    /// A key's organization may be named by name (Braintrust `org_name`).
    pub key_org_by_name: bool,
    /// Keys may be given project roles (at create, or in place where
    /// `key_project_roles_in_place`).
    pub key_project_roles: bool,
    /// Keys may be service tokens of a service account (Braintrust `/v1/service_token`).
    pub key_service_tokens: bool,
    /// `get_access_list`, `add_access_list`, `remove_access_list_entry`.
    pub key_access_list: bool,
    /// `set_project_roles`, `unassign_project`: a key's project
    /// roles changed in place, and read back in its `project_roles`.
    pub key_project_roles_in_place: bool,
    /// `create_org`.
    pub org_create: bool,
    /// `get_org`.
    pub org_read: bool,
    /// `find_org_by_name`.
    pub org_find: bool,
    /// `update_org`.
    pub org_update: bool,
    /// `delete_org`.
    pub org_delete: bool,
}

impl Capabilities {
    /// SPEC §1 for `kind`.
    pub const fn of(kind: BackendKind) -> Self {
        let none = Capabilities {
            key_create: false,
            key_read: false,
            key_list: false,
            key_update: false,
            key_delete: false,
            key_public_key: false,
            key_preview: false,
            key_roles: false,
            key_org_required: false,
            key_org_by_name: false,
            key_project_roles: false,
            key_service_tokens: false,
            key_access_list: false,
            key_project_roles_in_place: false,
            org_create: false,
            org_read: false,
            org_find: false,
            org_update: false,
            org_delete: false,
        };
        match kind {
            BackendKind::Traceloop => Capabilities {
                org_create: true,
                ..none
            },
            BackendKind::Env0 => Capabilities {
                key_create: true,
                key_read: true,
                key_list: true,
                key_delete: true,
                key_public_key: true,
                key_roles: true,
                key_project_roles: true,
                org_create: true,
                org_read: true,
                org_find: true,
                ..none
            },
            BackendKind::Braintrust => Capabilities {
                key_create: true,
                key_read: true,
                key_list: true,
                key_delete: true,
                key_preview: true,
                key_org_by_name: true,
                key_service_tokens: true,
                org_read: true,
                org_find: true,
                ..none
            },
            BackendKind::Atlas => Capabilities {
                key_create: true,
                key_read: true,
                key_list: true,
                key_update: true,
                key_delete: true,
                key_public_key: true,
                org_create: true,
                org_read: true,
                org_find: true,
                org_update: true,
                org_delete: true,
                key_preview: false,
                key_roles: true,
                key_org_required: true,
                key_org_by_name: false,
                key_project_roles: true,
                key_service_tokens: false,
                key_access_list: true,
                key_project_roles_in_place: true,
            },
        }
    }
}
