//! The backend conformance suite: one set of checks over `&dyn Backend`, run against every
//! client pointed at its vendor (the sandbox, or a mock).
//!
//! What each vendor must be able to do comes from SPEC §1 ([`Capabilities::of`]); the suite
//! checks both halves: supported operations behave, and every other one answers
//! [`BackendError::NotSupported`] (never a fake success).
//!
//! - [`api_key_lifecycle`]: create (the secret comes only with the create answer) → get →
//!   the listing contains it → update where supported, else `NotSupported` → delete → get is
//!   `NotFound` → the listing lacks it → delete again is `Ok`. With
//!   [`Target::service_account_id`] (Braintrust) the key is a service token, and every step
//!   checks that it reports that service account.
//! - [`org_lifecycle`]: create → get → find by name (and a name that does not exist is
//!   `NotFound`) → rename → delete → get is `NotFound` → delete again is `Ok`, each step
//!   where supported, else `NotSupported`; where orgs cannot be created, the existing
//!   organization of the [`Target`] is read and found by name instead.
//! - [`api_key_assignments`]: where the vendor has them, a key's access list (entries added,
//!   read back, one removed) and its project roles (assigned, read back with the key,
//!   replaced, unassigned).
//! - [`unsupported_operations`]: every operation outside the vendor's capabilities.
//! - [`run`]: all four.
//!
//! Names are made unique by [`Target::prefix`]. Failures are [`Failure`]s naming the backend,
//! the step and what was wrong; no secret is ever put in one.
//!
//! The module is public (hidden from the docs) so that tests outside the crate can run it;
//! nothing in the provider calls it, so it is not linked into the release binary.

use std::collections::BTreeSet;
use std::fmt::Debug;

pub use super::Capabilities;
use super::{
    ApiKey, ApiKeyUpdate, Backend, BackendError, BackendKind, CreatedApiKey, NewApiKey, NewOrg,
    Org, OrgUpdate, RoleChange,
};

/// Where and with what the suite works on one backend.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The organization keys are created in (Atlas and env0: required; Braintrust: its id,
    /// used for listings and checked against created keys) and, where orgs cannot be
    /// created, the organization read by the org checks.
    pub org_id: Option<String>,
    /// Braintrust: the organization's name (sent with creates, looked up by name).
    pub org_name: Option<String>,
    /// Roles of a new key (Atlas: `ORG_*` roles; env0: exactly one role; else empty).
    pub roles: Vec<String>,
    /// Roles the update step switches to (Atlas).
    pub updated_roles: Vec<String>,
    /// A project of the organization, for the project-role checks (Atlas; skipped when
    /// unset).
    pub project_id: Option<String>,
    /// Atlas `orgOwnerId` for organization creates (needed when the caller is an API key).
    pub org_owner_id: Option<String>,
    /// Traceloop: the environments of a new organization.
    pub environments: Option<Vec<String>>,
    /// Braintrust: keys are service tokens of this service account (the client's credential
    /// must then be an organization-owner service token).
    pub service_account_id: Option<String>,
    /// A prefix that makes every created name unique to this run (letters, digits, `-`).
    pub prefix: String,
}

impl Target {
    /// Sensible roles and inputs for `kind`, in organization `org_id`, with names starting
    /// with `prefix`.
    pub fn for_kind(kind: BackendKind, org_id: Option<String>, prefix: &str) -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (roles, updated_roles, environments) = match kind {
            BackendKind::Atlas => (
                strings(&["ORG_MEMBER"]),
                strings(&["ORG_BILLING_READ_ONLY", "ORG_READ_ONLY"]),
                None,
            ),
            BackendKind::Env0 => (strings(&["User"]), Vec::new(), None),
            BackendKind::Braintrust => (Vec::new(), Vec::new(), None),
            BackendKind::Traceloop => (Vec::new(), Vec::new(), Some(strings(&["dev", "prd"]))),
        };
        Target {
            org_id,
            org_name: None,
            roles,
            updated_roles,
            project_id: None,
            org_owner_id: None,
            environments,
            service_account_id: None,
            prefix: prefix.to_string(),
        }
    }

    fn org_id(&self) -> &str {
        self.org_id.as_deref().unwrap_or("")
    }
}

/// A conformance check that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{backend} conformance, {step}: {message}")]
pub struct Failure {
    /// The backend.
    pub backend: &'static str,
    /// The step, e.g. `api key: get after delete`.
    pub step: String,
    /// What was wrong.
    pub message: String,
}

struct Check<'a> {
    backend: &'a dyn Backend,
    /// Secrets seen so far, scrubbed from every failure message.
    secrets: std::sync::Mutex<Vec<String>>,
}

impl<'a> Check<'a> {
    fn new(backend: &'a dyn Backend) -> Self {
        Check {
            backend,
            secrets: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn secret(&self, secret: &str) {
        if !secret.is_empty() {
            self.secrets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(secret.to_string());
        }
    }

    fn fail(&self, step: &str, message: impl Into<String>) -> Failure {
        let mut message = message.into();
        for secret in self
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            message = message.replace(secret.as_str(), "[redacted]");
        }
        Failure {
            backend: self.backend.kind().name(),
            step: step.to_string(),
            message,
        }
    }

    fn ensure(
        &self,
        ok: bool,
        step: &str,
        message: impl FnOnce() -> String,
    ) -> Result<(), Failure> {
        if ok {
            Ok(())
        } else {
            Err(self.fail(step, message()))
        }
    }

    fn ok<T>(&self, step: &str, result: Result<T, BackendError>) -> Result<T, Failure> {
        result.map_err(|e| self.fail(step, format!("unexpected error: {e}")))
    }

    fn not_found<T: Debug>(
        &self,
        step: &str,
        result: Result<T, BackendError>,
    ) -> Result<(), Failure> {
        match result {
            Err(BackendError::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail(step, format!("expected NotFound, got the error: {e}"))),
            Ok(v) => Err(self.fail(step, format!("expected NotFound, got {v:?}"))),
        }
    }

    fn not_supported<T: Debug>(
        &self,
        step: &str,
        result: Result<T, BackendError>,
    ) -> Result<(), Failure> {
        match result {
            Err(BackendError::NotSupported { .. }) => Ok(()),
            Err(e) => Err(self.fail(step, format!("expected NotSupported, got the error: {e}"))),
            Ok(v) => Err(self.fail(step, format!("expected NotSupported, got {v:?}"))),
        }
    }
}

/// Runs [`api_key_lifecycle`], [`api_key_assignments`], [`org_lifecycle`] and
/// [`unsupported_operations`].
pub async fn run(backend: &dyn Backend, target: &Target) -> Result<(), Failure> {
    api_key_lifecycle(backend, target).await?;
    api_key_assignments(backend, target).await?;
    org_lifecycle(backend, target).await?;
    unsupported_operations(backend, target).await
}

fn sorted(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}

/// The API-key lifecycle (see the module documentation). Does nothing where keys cannot be
/// created ([`unsupported_operations`] covers that).
pub async fn api_key_lifecycle(backend: &dyn Backend, target: &Target) -> Result<(), Failure> {
    let caps = backend.capabilities();
    if !caps.key_create {
        return Ok(());
    }
    let c = Check::new(backend);
    let org = target.org_id();
    let name = format!("{}-key", target.prefix);
    let new = NewApiKey {
        org_id: target.org_id.clone(),
        org_name: target.org_name.clone(),
        name: name.clone(),
        roles: target.roles.clone(),
        service_account_id: target.service_account_id.clone(),
        ..NewApiKey::default()
    };

    let step = "api key: create";
    let CreatedApiKey { key, secret } = c.ok(step, backend.create_api_key(&new).await)?;
    let secret_text = secret.expose().to_string();
    c.secret(&secret_text);
    c.ensure(!secret_text.is_empty(), step, || {
        "the secret is empty".into()
    })?;
    c.ensure(!key.id.is_empty(), step, || "the key has no id".into())?;
    c.ensure(key.name == name, step, || {
        format!("name {:?}, expected {name:?}", key.name)
    })?;
    check_key_shape(&c, &caps, target, &key, &secret_text, step)?;
    c.ensure(
        !format!("{key:?}").contains(&secret_text) && !format!("{secret:?}").contains(&secret_text),
        step,
        || "the secret shows in Debug output".into(),
    )?;

    let step = "api key: get";
    let got = c.ok(step, backend.get_api_key(org, &key.id).await)?;
    check_key_shape(&c, &caps, target, &got, &secret_text, step)?;
    c.ensure(got.id == key.id && got.name == name, step, || {
        format!("got {got:?}, expected id {} named {name:?}", key.id)
    })?;
    c.ensure(got.public_key == key.public_key, step, || {
        format!(
            "public_key {:?} differs from the create answer's {:?}",
            got.public_key, key.public_key
        )
    })?;

    let step = "api key: list";
    let listed = c.ok(step, backend.list_api_keys(org).await)?;
    c.ensure(listed.iter().any(|k| k.id == key.id), step, || {
        format!("{} is not among the {} keys listed", key.id, listed.len())
    })?;
    c.ensure(
        listed
            .iter()
            .all(|k| !format!("{k:?}").contains(&secret_text)),
        step,
        || "a listed key carries the secret".into(),
    )?;

    let step = "api key: update";
    let renamed = format!("{}-key-renamed", target.prefix);
    let update = ApiKeyUpdate {
        name: Some(renamed.clone()),
        roles: (!target.updated_roles.is_empty()).then(|| target.updated_roles.clone()),
    };
    if caps.key_update {
        let updated = c.ok(step, backend.update_api_key(org, &key.id, &update).await)?;
        c.ensure(
            updated.id == key.id && updated.name == renamed,
            step,
            || format!("got {updated:?}, expected {} named {renamed:?}", key.id),
        )?;
        if let Some(roles) = &update.roles {
            c.ensure(sorted(&updated.roles) == sorted(roles), step, || {
                format!("roles {:?}, expected {roles:?}", updated.roles)
            })?;
        }
        let step = "api key: get after update";
        let got = c.ok(step, backend.get_api_key(org, &key.id).await)?;
        c.ensure(got.name == renamed, step, || {
            format!("name {:?}, expected {renamed:?}", got.name)
        })?;
    } else {
        c.not_supported(step, backend.update_api_key(org, &key.id, &update).await)?;
    }

    let step = "api key: delete";
    c.ok(step, backend.delete_api_key(org, &key.id).await)?;
    c.not_found(
        "api key: get after delete",
        backend.get_api_key(org, &key.id).await,
    )?;
    let step = "api key: list after delete";
    let listed = c.ok(step, backend.list_api_keys(org).await)?;
    c.ensure(listed.iter().all(|k| k.id != key.id), step, || {
        format!("{} is still listed", key.id)
    })?;
    c.ok(
        "api key: delete again",
        backend.delete_api_key(org, &key.id).await,
    )?;
    Ok(())
}

/// Access lists and project roles changed in place (see the module documentation). Does
/// nothing where the vendor has neither ([`unsupported_operations`] covers that).
pub async fn api_key_assignments(backend: &dyn Backend, target: &Target) -> Result<(), Failure> {
    let caps = backend.capabilities();
    if !caps.key_access_list && !caps.key_project_roles_in_place {
        return Ok(());
    }
    let c = Check::new(backend);
    let org = target.org_id();
    let new = NewApiKey {
        org_id: target.org_id.clone(),
        org_name: target.org_name.clone(),
        name: format!("{}-assigned", target.prefix),
        roles: target.roles.clone(),
        ..NewApiKey::default()
    };
    let created = c.ok("assignments: create", backend.create_api_key(&new).await)?;
    c.secret(created.secret.expose());
    let id = created.key.id.clone();
    let checked = assignments_of(&c, &caps, backend, target, &id).await;
    // The key goes whatever the checks found.
    let deleted = c.ok(
        "assignments: delete",
        backend.delete_api_key(org, &id).await,
    );
    checked.and(deleted)
}

async fn assignments_of(
    c: &Check<'_>,
    caps: &Capabilities,
    backend: &dyn Backend,
    target: &Target,
    id: &str,
) -> Result<(), Failure> {
    let org = target.org_id();
    if caps.key_access_list {
        let step = "access list: empty at first";
        let listed = c.ok(step, backend.get_access_list(org, id).await)?;
        c.ensure(listed.is_empty(), step, || format!("entries {listed:?}"))?;
        let step = "access list: add";
        let entries = ["192.0.2.0/28".to_string(), "198.51.100.7".to_string()];
        c.ok(step, backend.add_access_list(org, id, &entries).await)?;
        let step = "access list: read back";
        let listed = c.ok(step, backend.get_access_list(org, id).await)?;
        let has = |entry: &str| {
            listed
                .iter()
                .any(|e| e == entry || e.strip_suffix("/32") == Some(entry))
        };
        c.ensure(
            listed.len() == 2 && has("192.0.2.0/28") && has("198.51.100.7"),
            step,
            || format!("entries {listed:?}, expected {entries:?}"),
        )?;
        let step = "access list: remove";
        let address = listed
            .iter()
            .find(|e| e.starts_with("198.51.100.7"))
            .cloned()
            .unwrap_or_default();
        c.ok(
            step,
            backend.remove_access_list_entry(org, id, &address).await,
        )?;
        c.ok(
            "access list: remove again",
            backend.remove_access_list_entry(org, id, &address).await,
        )?;
        let step = "access list: read after remove";
        let listed = c.ok(step, backend.get_access_list(org, id).await)?;
        c.ensure(listed == ["192.0.2.0/28"], step, || {
            format!("entries {listed:?}")
        })?;
    }
    if let (true, Some(project)) = (caps.key_project_roles_in_place, &target.project_id) {
        let read_only = vec!["GROUP_READ_ONLY".to_string()];
        let two = vec![
            "GROUP_DATA_ACCESS_READ_ONLY".to_string(),
            "GROUP_READ_ONLY".to_string(),
        ];
        let roles_in = |key: &ApiKey| {
            key.project_roles
                .get(project)
                .map(|r| r.iter().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let step = "project roles: assign";
        c.ok(
            step,
            backend
                .set_project_roles(org, id, project, &read_only, RoleChange::Assign)
                .await,
        )?;
        let got = c.ok(step, backend.get_api_key(org, id).await)?;
        c.ensure(roles_in(&got) == read_only, step, || {
            format!("project roles {:?}", got.project_roles)
        })?;
        c.ensure(
            got.roles.iter().all(|r| !r.starts_with("GROUP_")),
            step,
            || {
                format!(
                    "project roles among the organization roles: {:?}",
                    got.roles
                )
            },
        )?;
        let step = "project roles: replace";
        c.ok(
            step,
            backend
                .set_project_roles(org, id, project, &two, RoleChange::Replace)
                .await,
        )?;
        let got = c.ok(step, backend.get_api_key(org, id).await)?;
        c.ensure(roles_in(&got) == two, step, || {
            format!("project roles {:?}", got.project_roles)
        })?;
        let step = "project roles: unassign";
        c.ok(step, backend.unassign_project(org, id, project).await)?;
        c.ok(
            "project roles: unassign again",
            backend.unassign_project(org, id, project).await,
        )?;
        let got = c.ok(step, backend.get_api_key(org, id).await)?;
        c.ensure(got.project_roles.is_empty(), step, || {
            format!("project roles {:?}", got.project_roles)
        })?;
    }
    Ok(())
}

fn check_key_shape(
    c: &Check<'_>,
    caps: &Capabilities,
    target: &Target,
    key: &ApiKey,
    secret: &str,
    step: &str,
) -> Result<(), Failure> {
    for (what, value) in [
        ("id", Some(key.id.as_str())),
        ("public_key", key.public_key.as_deref()),
        ("preview", key.preview.as_deref()),
    ] {
        c.ensure(value != Some(secret), step, || {
            format!("the {what} is the secret itself")
        })?;
    }
    if caps.key_public_key {
        c.ensure(
            key.public_key.as_deref().is_some_and(|p| !p.is_empty()),
            step,
            || "the key has no public_key".into(),
        )?;
    } else {
        c.ensure(key.public_key.is_none(), step, || {
            format!("unexpected public_key {:?}", key.public_key)
        })?;
    }
    if caps.key_preview {
        c.ensure(
            key.preview.as_deref().is_some_and(|p| !p.is_empty()),
            step,
            || "the key has no preview".into(),
        )?;
    } else {
        c.ensure(key.preview.is_none(), step, || {
            format!("unexpected preview {:?}", key.preview)
        })?;
    }
    if let Some(org) = target.org_id.as_deref() {
        c.ensure(key.org_id.as_deref() == Some(org), step, || {
            format!("org_id {:?}, expected {org:?}", key.org_id)
        })?;
    }
    if !target.roles.is_empty() {
        c.ensure(sorted(&key.roles) == sorted(&target.roles), step, || {
            format!("roles {:?}, expected {:?}", key.roles, target.roles)
        })?;
    } else {
        c.ensure(key.roles.is_empty(), step, || {
            format!("unexpected roles {:?}", key.roles)
        })?;
    }
    let same_account = match (&key.service_account_id, &target.service_account_id) {
        (Some(got), Some(wanted)) => got.eq_ignore_ascii_case(wanted),
        (got, wanted) => got.is_none() && wanted.is_none(),
    };
    c.ensure(same_account, step, || {
        format!(
            "service_account_id {:?}, expected {:?}",
            key.service_account_id, target.service_account_id
        )
    })?;
    if let Some(created) = key.created_at.as_deref() {
        c.ensure(
            time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            step,
            || format!("created_at {created:?} is not RFC 3339"),
        )?;
    }
    Ok(())
}

/// The organization lifecycle (see the module documentation).
pub async fn org_lifecycle(backend: &dyn Backend, target: &Target) -> Result<(), Failure> {
    let caps = backend.capabilities();
    let kind = backend.kind();
    let c = Check::new(backend);
    let missing_name = format!("{}-no-such-org", target.prefix);
    if !caps.org_create {
        // Read the organization that exists.
        if let Some(id) = target.org_id.as_deref().filter(|_| caps.org_read) {
            let step = "org: get existing";
            let org = c.ok(step, backend.get_org(id).await)?;
            c.ensure(org.id == id, step, || {
                format!("got {org:?}, expected id {id}")
            })?;
            if let Some(name) = &target.org_name {
                c.ensure(&org.name == name, step, || {
                    format!("name {:?}, expected {name:?}", org.name)
                })?;
                if caps.org_find {
                    let step = "org: find existing by name";
                    let found = c.ok(step, backend.find_org_by_name(name).await)?;
                    c.ensure(found.id == id, step, || {
                        format!("found {found:?}, expected id {id}")
                    })?;
                }
            }
        }
        if caps.org_find {
            c.not_found(
                "org: find a name that does not exist",
                backend.find_org_by_name(&missing_name).await,
            )?;
        }
        return Ok(());
    }

    let name = format!("{}-org", target.prefix);
    let new = match kind {
        BackendKind::Traceloop => NewOrg {
            name: name.clone(),
            environments: target.environments.clone(),
            retention_hours: Some(24),
            ..NewOrg::default()
        },
        BackendKind::Env0 => NewOrg {
            name: name.clone(),
            description: Some("created by the keysmith conformance suite".into()),
            ..NewOrg::default()
        },
        BackendKind::Atlas => NewOrg {
            name: name.clone(),
            owner_id: target.org_owner_id.clone(),
            ..NewOrg::default()
        },
        BackendKind::Braintrust => NewOrg {
            name: name.clone(),
            ..NewOrg::default()
        },
    };
    let step = "org: create";
    let created = c.ok(step, backend.create_org(&new).await)?;
    let org = created.org.clone();
    c.ensure(!org.id.is_empty() && org.name == name, step, || {
        format!("got {org:?}, expected a new organization named {name:?}")
    })?;
    if kind == BackendKind::Traceloop {
        let expected: BTreeSet<&str> = match &new.environments {
            Some(envs) => envs.iter().map(String::as_str).collect(),
            None => ["dev", "stg", "prd"].into_iter().collect(),
        };
        let got: BTreeSet<&str> = created
            .environment_keys
            .keys()
            .map(String::as_str)
            .collect();
        c.ensure(got == expected, step, || {
            format!("environment keys for {got:?}, expected {expected:?}")
        })?;
        for key in created.environment_keys.values() {
            c.secret(key.expose());
        }
        for (slug, key) in &created.environment_keys {
            c.ensure(!key.expose().is_empty(), step, || {
                format!("the key of environment {slug} is empty")
            })?;
            c.ensure(!format!("{created:?}").contains(key.expose()), step, || {
                "an environment key shows in Debug output".into()
            })?;
        }
    } else {
        c.ensure(created.environment_keys.is_empty(), step, || {
            "unexpected environment keys".into()
        })?;
    }
    if kind == BackendKind::Env0 {
        c.ensure(org.description == new.description, step, || {
            format!(
                "description {:?}, expected {:?}",
                org.description, new.description
            )
        })?;
        c.ensure(org.policies.is_some(), step, || "no policies".into())?;
    }

    if caps.org_read {
        let step = "org: get";
        let got = c.ok(step, backend.get_org(&org.id).await)?;
        c.ensure(same_org(&got, &org), step, || {
            format!("got {got:?}, expected {org:?}")
        })?;
    } else {
        c.not_supported("org: get", backend.get_org(&org.id).await)?;
    }

    if caps.org_find {
        let step = "org: find by name";
        let found = c.ok(step, backend.find_org_by_name(&name).await)?;
        c.ensure(found.id == org.id, step, || {
            format!("found {found:?}, expected id {}", org.id)
        })?;
        c.not_found(
            "org: find a name that does not exist",
            backend.find_org_by_name(&missing_name).await,
        )?;
    } else {
        c.not_supported("org: find by name", backend.find_org_by_name(&name).await)?;
    }

    let renamed = format!("{}-org-renamed", target.prefix);
    let update = OrgUpdate {
        name: renamed.clone(),
    };
    let mut current_name = name.clone();
    if caps.org_update {
        let step = "org: update";
        let updated = c.ok(step, backend.update_org(&org.id, &update).await)?;
        c.ensure(
            updated.id == org.id && updated.name == renamed,
            step,
            || format!("got {updated:?}, expected {} named {renamed:?}", org.id),
        )?;
        if caps.org_read {
            let step = "org: get after update";
            let got = c.ok(step, backend.get_org(&org.id).await)?;
            c.ensure(got.name == renamed, step, || {
                format!("name {:?}, expected {renamed:?}", got.name)
            })?;
        }
        current_name = renamed;
    } else {
        c.not_supported("org: update", backend.update_org(&org.id, &update).await)?;
    }

    if caps.org_delete {
        c.ok("org: delete", backend.delete_org(&org.id).await)?;
        if caps.org_read {
            c.not_found("org: get after delete", backend.get_org(&org.id).await)?;
        }
        if caps.org_find {
            c.not_found(
                "org: find after delete",
                backend.find_org_by_name(&current_name).await,
            )?;
        }
        c.ok("org: delete again", backend.delete_org(&org.id).await)?;
    } else {
        c.not_supported("org: delete", backend.delete_org(&org.id).await)?;
    }
    Ok(())
}

/// Same id and name, and the same reported fields where both sides report them.
fn same_org(a: &Org, b: &Org) -> bool {
    let same = |x: &Option<String>, y: &Option<String>| x.is_none() || y.is_none() || x == y;
    a.id == b.id
        && a.name == b.name
        && same(&a.description, &b.description)
        && same(&a.photo_url, &b.photo_url)
        && same(&a.mode, &b.mode)
        && same(&a.created_by, &b.created_by)
}

/// Every operation outside the vendor's capabilities answers `NotSupported`.
pub async fn unsupported_operations(backend: &dyn Backend, target: &Target) -> Result<(), Failure> {
    let caps = backend.capabilities();
    let c = Check::new(backend);
    let org = target.org_id.clone().unwrap_or_else(|| "some-org".into());
    let id = "00000000-0000-0000-0000-000000000000";
    let new_key = NewApiKey {
        org_id: Some(org.clone()),
        org_name: target.org_name.clone(),
        name: format!("{}-unsupported", target.prefix),
        roles: target.roles.clone(),
        ..NewApiKey::default()
    };
    let update = ApiKeyUpdate {
        name: Some("x".into()),
        roles: None,
    };
    if !caps.key_create {
        c.not_supported("api key: create", backend.create_api_key(&new_key).await)?;
    }
    if !caps.key_read {
        c.not_supported("api key: get", backend.get_api_key(&org, id).await)?;
    }
    if !caps.key_list {
        c.not_supported("api key: list", backend.list_api_keys(&org).await)?;
    }
    if !caps.key_update {
        c.not_supported(
            "api key: update",
            backend.update_api_key(&org, id, &update).await,
        )?;
    }
    if !caps.key_delete {
        c.not_supported("api key: delete", backend.delete_api_key(&org, id).await)?;
    }
    if !caps.key_access_list {
        let entries = ["192.0.2.1".to_string()];
        c.not_supported("access list: get", backend.get_access_list(&org, id).await)?;
        c.not_supported(
            "access list: add",
            backend.add_access_list(&org, id, &entries).await,
        )?;
        c.not_supported(
            "access list: remove",
            backend
                .remove_access_list_entry(&org, id, "192.0.2.1")
                .await,
        )?;
    }
    if !caps.key_project_roles_in_place {
        let roles = ["GROUP_READ_ONLY".to_string()];
        c.not_supported(
            "project roles: assign",
            backend
                .set_project_roles(&org, id, "p", &roles, RoleChange::Assign)
                .await,
        )?;
        c.not_supported(
            "project roles: replace",
            backend
                .set_project_roles(&org, id, "p", &roles, RoleChange::Replace)
                .await,
        )?;
        c.not_supported(
            "project roles: unassign",
            backend.unassign_project(&org, id, "p").await,
        )?;
    }
    let new_org = NewOrg {
        name: format!("{}-unsupported", target.prefix),
        ..NewOrg::default()
    };
    if !caps.org_create {
        c.not_supported("org: create", backend.create_org(&new_org).await)?;
    }
    if !caps.org_read {
        c.not_supported("org: get", backend.get_org(&org).await)?;
    }
    if !caps.org_find {
        c.not_supported("org: find by name", backend.find_org_by_name("x").await)?;
    }
    if !caps.org_update {
        c.not_supported(
            "org: update",
            backend
                .update_org(&org, &OrgUpdate { name: "x".into() })
                .await,
        )?;
    }
    if !caps.org_delete {
        c.not_supported("org: delete", backend.delete_org(&org).await)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
