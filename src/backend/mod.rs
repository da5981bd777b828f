//! Backend clients: one per SaaS vendor, behind one small [`Backend`] trait.
//!
//! This layer speaks HTTP and the vendors' JSON, and knows nothing about Terraform: no
//! values, schemas or diagnostics. Errors are [`BackendError`]s with meaning-level variants;
//! resources turn them into diagnostics.

pub mod atlas;
pub mod braintrust;
mod capabilities;
#[doc(hidden)]
pub mod conformance;
pub mod env0;
mod error;
pub mod http;
pub mod list_cache;
mod reconcile;
mod secret;
mod support;
#[cfg(test)]
mod test_support;
pub mod traceloop;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

pub use capabilities::Capabilities;
pub use error::BackendError;
pub use secret::Secret;

/// The vendors keysmith manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// MongoDB Atlas Administration API v2.
    Atlas,
    /// Braintrust.
    Braintrust,
    /// env0.
    Env0,
    /// Traceloop.
    Traceloop,
}

impl BackendKind {
    /// The name used in provider configuration blocks and messages.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Atlas => "atlas",
            BackendKind::Braintrust => "braintrust",
            BackendKind::Env0 => "env0",
            BackendKind::Traceloop => "traceloop",
        }
    }
}

/// What a new API key should be.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewApiKey {
    /// The organization that owns the key (Atlas `orgId`, env0 `organizationId`).
    pub org_id: Option<String>,
    /// The organization by name (Braintrust `org_name`).
    pub org_name: Option<String>,
    /// The key's name (Atlas `desc`).
    pub name: String,
    /// Roles granted to the key.
    pub roles: Vec<String>,
    /// Project id → roles in that project (env0: exactly one; Atlas: assigned after the key
    /// is created, see [`Backend::assign_project_roles`]).
    pub project_roles: BTreeMap<String, BTreeSet<String>>,
    /// Braintrust: the service account whose **service token** this is
    /// (`POST /v1/service_token`); `None` for an API key.
    pub service_account_id: Option<String>,
}

/// An API key as the backend reports it (never with its secret).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiKey {
    /// The backend's id of the key.
    pub id: String,
    /// The key's name (Atlas `desc`).
    pub name: String,
    /// The owning organization, where the backend reports it.
    pub org_id: Option<String>,
    /// The non-secret half of the credential (Atlas `publicKey`, env0 `apiKeyId`).
    pub public_key: Option<String>,
    /// A redacted preview of the secret (Braintrust `preview_name`).
    pub preview: Option<String>,
    /// Roles of the key in `org_id` (Atlas: only `ORG_*` roles of that org).
    pub roles: Vec<String>,
    /// Creation time, RFC 3339, where the backend reports it.
    pub created_at: Option<String>,
    /// Project id → the key's roles there, where the backend reports them (Atlas: the key's
    /// roles that carry a `groupId`); empty elsewhere.
    pub project_roles: BTreeMap<String, BTreeSet<String>>,
    /// Braintrust: the service account of a service token; `None` for an API key (and on
    /// every other backend).
    pub service_account_id: Option<String>,
}

/// A key just created, with the secret the backend shows only once.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedApiKey {
    /// The key.
    pub key: ApiKey,
    /// Its one-time secret.
    pub secret: Secret,
}

/// A change to an existing key (only Atlas can update keys in place).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiKeyUpdate {
    /// A new name, if it changes.
    pub name: Option<String>,
    /// New roles, if they change.
    pub roles: Option<Vec<String>>,
}

/// What a new organization should be. Each backend uses the fields it knows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewOrg {
    /// The organization's name (Traceloop `org_name`, env0 and Atlas `name`).
    pub name: String,
    /// env0 `description`.
    pub description: Option<String>,
    /// env0 `photoUrl`.
    pub photo_url: Option<String>,
    /// Traceloop `envs`: environment slugs to create instead of the defaults.
    pub environments: Option<Vec<String>>,
    /// Traceloop `retention_hours` (1–720).
    pub retention_hours: Option<i64>,
    /// Atlas `orgOwnerId`: the user who becomes Org Owner.
    pub owner_id: Option<String>,
}

/// env0's organization policies, as the API reports them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrgPolicies {
    /// `maxTtl`.
    pub max_ttl: Option<String>,
    /// `defaultTtl`.
    pub default_ttl: Option<String>,
    /// `projectCustomFlowsPolicy`.
    pub project_custom_flows_policy: Option<String>,
    /// `doNotReportSkippedStatusChecks`.
    pub do_not_report_skipped_status_checks: Option<bool>,
    /// `doNotConsiderMergeCommitsForPrPlans`.
    pub do_not_consider_merge_commits_for_pr_plans: Option<bool>,
    /// `enableOidc`.
    pub enable_oidc: Option<bool>,
    /// `enforcePrCommenterPermissions`.
    pub enforce_pr_commenter_permissions: Option<bool>,
    /// `allowEnv0Secrets`.
    pub allow_env0_secrets: Option<bool>,
    /// `requireApprovalForPrApplies`.
    pub require_approval_for_pr_applies: Option<bool>,
}

/// An organization as the backend reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Org {
    /// The backend's id.
    pub id: String,
    /// The name.
    pub name: String,
    /// env0 `description`.
    pub description: Option<String>,
    /// env0 `photoUrl`.
    pub photo_url: Option<String>,
    /// env0 `mode` (`paying`, `trial`, `free`).
    pub mode: Option<String>,
    /// env0 `createdBy`.
    pub created_by: Option<String>,
    /// Creation time, RFC 3339, where reported.
    pub created_at: Option<String>,
    /// env0 policies.
    pub policies: Option<OrgPolicies>,
}

/// An organization just created, with the one-time secrets that came with it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreatedOrg {
    /// The organization.
    pub org: Org,
    /// Traceloop: environment slug → its API key, shown only in the create response.
    pub environment_keys: BTreeMap<String, Secret>,
}

/// A change to an existing organization (only Atlas can rename in place).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrgUpdate {
    /// The new name.
    pub name: String,
}

/// How [`Backend::set_project_roles`] changes a key's roles in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// The key has no role in the project yet: give it these.
    Assign,
    /// The key has roles in the project: replace them with these.
    Replace,
}

/// The operations resources need from a vendor. Every method that a backend cannot do
/// returns [`BackendError::NotSupported`] by default.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + Debug + 'static {
    /// Which vendor this is.
    fn kind(&self) -> BackendKind;

    /// What this backend can do: [`Capabilities::of`] its kind.
    fn capabilities(&self) -> Capabilities {
        Capabilities::of(self.kind())
    }

    /// Creates an API key and returns it with its one-time secret.
    async fn create_api_key(&self, new: &NewApiKey) -> Result<CreatedApiKey, BackendError> {
        let _ = new;
        Err(BackendError::not_supported(
            self.kind(),
            "creating API keys",
        ))
    }

    /// Reads one API key; [`BackendError::NotFound`] when it no longer exists.
    async fn get_api_key(&self, org_id: &str, id: &str) -> Result<ApiKey, BackendError> {
        let _ = (org_id, id);
        Err(BackendError::not_supported(self.kind(), "reading API keys"))
    }

    /// Lists every API key of an organization (all pages).
    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, BackendError> {
        let _ = org_id;
        Err(BackendError::not_supported(self.kind(), "listing API keys"))
    }

    /// Changes an API key in place.
    async fn update_api_key(
        &self,
        org_id: &str,
        id: &str,
        update: &ApiKeyUpdate,
    ) -> Result<ApiKey, BackendError> {
        let _ = (org_id, id, update);
        Err(BackendError::not_supported(
            self.kind(),
            "updating API keys",
        ))
    }

    /// Tells the client that `id` is a Braintrust service token (its caller's records say so),
    /// so that [`Backend::get_api_key`] and [`Backend::delete_api_key`] go to service tokens
    /// first instead of trying it as an API key. Nothing elsewhere.
    fn known_service_token(&self, id: &str) {
        let _ = id;
    }

    /// Deletes an API key; a key already gone is not an error.
    async fn delete_api_key(&self, org_id: &str, id: &str) -> Result<(), BackendError> {
        let _ = (org_id, id);
        Err(BackendError::not_supported(
            self.kind(),
            "deleting API keys",
        ))
    }

    /// The IP access list of a key: each entry as the vendor reports it (a CIDR block, or an
    /// address). Atlas only.
    async fn get_access_list(&self, org_id: &str, id: &str) -> Result<Vec<String>, BackendError> {
        let _ = (org_id, id);
        Err(BackendError::not_supported(
            self.kind(),
            "API key access lists",
        ))
    }

    /// Adds entries (addresses or CIDR blocks) to a key's access list.
    async fn add_access_list(
        &self,
        org_id: &str,
        id: &str,
        entries: &[String],
    ) -> Result<(), BackendError> {
        let _ = (org_id, id, entries);
        Err(BackendError::not_supported(
            self.kind(),
            "API key access lists",
        ))
    }

    /// Removes one entry from a key's access list (already gone = success).
    async fn remove_access_list_entry(
        &self,
        org_id: &str,
        id: &str,
        entry: &str,
    ) -> Result<(), BackendError> {
        let _ = (org_id, id, entry);
        Err(BackendError::not_supported(
            self.kind(),
            "API key access lists",
        ))
    }

    /// Sets a key's roles in project `project`: gives them where the key has none there yet
    /// (Atlas `POST /groups/{groupId}/apiKeys/{id}`), or replaces the roles it has
    /// (`PATCH`), as `how` says.
    async fn set_project_roles(
        &self,
        org_id: &str,
        id: &str,
        project: &str,
        roles: &[String],
        how: RoleChange,
    ) -> Result<(), BackendError> {
        let _ = (org_id, id, project, roles, how);
        Err(BackendError::not_supported(
            self.kind(),
            "changing project roles in place",
        ))
    }

    /// Takes every role in project `project` away from a key (Atlas `DELETE`; not assigned =
    /// success).
    async fn unassign_project(
        &self,
        org_id: &str,
        id: &str,
        project: &str,
    ) -> Result<(), BackendError> {
        let _ = (org_id, id, project);
        Err(BackendError::not_supported(
            self.kind(),
            "changing project roles in place",
        ))
    }
    /// Creates an organization.
    async fn create_org(&self, new: &NewOrg) -> Result<CreatedOrg, BackendError> {
        let _ = new;
        Err(BackendError::not_supported(
            self.kind(),
            "creating organizations",
        ))
    }

    /// Reads one organization; [`BackendError::NotFound`] when it no longer exists.
    async fn get_org(&self, id: &str) -> Result<Org, BackendError> {
        let _ = id;
        Err(BackendError::not_supported(
            self.kind(),
            "reading organizations",
        ))
    }

    /// Finds the one organization with this exact name visible to the caller;
    /// [`BackendError::NotFound`] when there is none, [`BackendError::Invalid`] when
    /// several share it.
    async fn find_org_by_name(&self, name: &str) -> Result<Org, BackendError> {
        let _ = name;
        Err(BackendError::not_supported(
            self.kind(),
            "looking up organizations",
        ))
    }

    /// Changes an organization in place.
    async fn update_org(&self, id: &str, update: &OrgUpdate) -> Result<Org, BackendError> {
        let _ = (id, update);
        Err(BackendError::not_supported(
            self.kind(),
            "updating organizations",
        ))
    }

    /// Deletes an organization; one already gone is not an error.
    async fn delete_org(&self, id: &str) -> Result<(), BackendError> {
        let _ = id;
        Err(BackendError::not_supported(
            self.kind(),
            "deleting organizations",
        ))
    }
}
