//! `ephemeral "keysmith_api_key"` (SPEC §4a, Terraform ≥ 1.10): a short-lived API key that
//! exists while one Terraform run needs it: created at Open, deleted at Close, its secret never
//! written to a plan or state.
//!
//! The vendor-side name carries an expiry marker ([`super::ephemeral_marker`]); every Open
//! first deletes the keys of its organization whose marker has expired (runs that ended
//! before they could close theirs), and nothing else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ProviderState;
use crate::backend::{ApiKey, Backend, BackendKind, Capabilities, NewApiKey};
use crate::codec::{Attribute, Block, Schema, Type, Value};
use crate::framework::{
    parse_duration_within, CloseRequest, Diagnostics, EphemeralResource, OpenRequest, OpenResponse,
    Severity,
};

use super::api_key::{
    attribute_of_field, project_roles_of, string_vec, sync_project_roles, validate_config,
    validate_for_backend, ApiKeyModel,
};
use super::api_keys_data_source::org_id;
use super::{backend_diagnostic, ephemeral_marker as marker};

/// `ttl` when unset.
const DEFAULT_TTL: &str = "1h";
/// The shortest `ttl`.
const MIN_TTL: Duration = Duration::from_secs(60);
/// The longest `ttl`.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// Why Traceloop has no ephemeral keys (as for the managed resource, SPEC §3).
const TRACELOOP_REASON: &str = "traceloop issues API keys per environment when the organization is created; use keysmith_org.environment_keys";

// ---------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------

crate::model! {
    /// An ephemeral `keysmith_api_key` object: its configuration or result (see [`schema`]).
    struct EphemeralKeyModel, attributes EphemeralKeyAttr {
        name: Name,
        org_id: OrgId,
        org_name: OrgName,
        roles: Roles,
        project_roles: ProjectRoles,
        ttl: Ttl,
        id: Id,
        public_key: PublicKey,
        secret: Secret,
        expires_at: ExpiresAt,
    }
}

use EphemeralKeyAttr as A;

impl EphemeralKeyModel {
    /// The attributes it shares with the managed resource, for the managed resource's rules.
    fn as_key(&self) -> ApiKeyModel {
        ApiKeyModel {
            name: self.name.clone(),
            org_id: self.org_id.clone(),
            org_name: self.org_name.clone(),
            roles: self.roles.clone(),
            project_roles: self.project_roles.clone(),
            ..ApiKeyModel::default()
        }
    }
}

fn schema() -> Schema {
    let block = Block::new(
        "A short-lived API key on the configured backend (Atlas, Braintrust or env0) that exists only while one Terraform run needs it: keysmith creates it when Terraform opens the ephemeral resource and deletes it when Terraform closes it. Its `secret` is never written to a plan or to state, so it can configure another provider (a `provider` block, or a write-only argument) without leaving a credential behind.\n\n\
         The key's name at the vendor (Atlas `desc`, Braintrust and env0 `name`) is `name` followed by the marker ` [keysmith-ephemeral expires=YYYY-MM-DDTHH:MM:SSZ]` (creation time + `ttl`, UTC). Vendors do not expire keys by themselves: if a run ends before Terraform closes the key (a crash, a killed process), the key stays until the next open of this ephemeral resource in the same organization after that time, which deletes every key whose marker has expired and says how many in a warning. No other key is ever touched.\n\n\
         Traceloop issues API keys per environment when an organization is created, so it has no ephemeral keys.",
    )
    .attribute(
        Attribute::new(A::Name.name(), Type::String)
            .required()
            .description("Name of the key. At the vendor it is followed by the expiry marker; a name too long for both to fit in 250 characters is shortened (by characters)."),
    )
    .attribute(
        Attribute::new(A::OrgId.name(), Type::String)
            .optional()
            .computed()
            .description("Organization of the key. Atlas: required, the 24-hex organization id. env0: `organizationId`, defaults to the provider's `organization_id`. Braintrust: computed from the response."),
    )
    .attribute(
        Attribute::new(A::OrgName.name(), Type::String)
            .optional()
            .computed()
            .description("Braintrust only: the organization, by name, the key is created in (defaults to the provider's `org_name`)."),
    )
    .attribute(
        Attribute::new(A::Roles.name(), Type::set(Type::String))
            .optional()
            .description("Roles of the key, as for the managed `keysmith_api_key`. Atlas: required, at least one `ORG_*` role. env0: required, exactly one of `Admin`, `User` or a custom role id. Braintrust: must not be set."),
    )
    .attribute(
        Attribute::new(A::ProjectRoles.name(), Type::map(Type::set(Type::String)))
            .optional()
            .description("Project id → roles in that project, as for the managed `keysmith_api_key`. Atlas: at least one `GROUP_*` role per project, assigned right after the key is created. env0: exactly one of `Planner`, `Viewer`, `Deployer`, `Admin` per project, only with a non-`Admin` role."),
    )
    .attribute(
        Attribute::new(A::Ttl.name(), Type::String)
            .optional()
            .computed()
            .description("How long the key may outlive a run that never closed it: its marker's expiry is the creation time plus `ttl`. A duration from `\"1m\"` to `\"24h\"`; default `\"1h\"`. Choose one longer than the run: an open by another run after the expiry deletes the key."),
    )
    .attribute(
        Attribute::new(A::Id.name(), Type::String)
            .computed()
            .description("The backend's id of the key: Atlas 24-hex id, Braintrust UUID, env0 id."),
    )
    .attribute(
        Attribute::new(A::PublicKey.name(), Type::String)
            .computed()
            .description("The non-secret half of the credential: Atlas `publicKey`, env0 `apiKeyId`; null on Braintrust."),
    )
    .attribute(
        Attribute::new(A::Secret.name(), Type::String)
            .computed()
            .sensitive()
            .description("The secret (Atlas `privateKey`, Braintrust `key`, env0 `apiKeySecret`), never written to a plan or state."),
    )
    .attribute(
        Attribute::new(A::ExpiresAt.name(), Type::String)
            .computed()
            .description("Creation time + `ttl` (RFC 3339, UTC, whole seconds): the time in the key's marker."),
    );
    Schema::new(0, block)
}

// ---------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------

/// `ttl` as a duration, or why it is not one.
fn ttl_of(config: &EphemeralKeyModel) -> Result<Duration, String> {
    let text = config.ttl.as_str().unwrap_or(DEFAULT_TTL);
    parse_duration_within(text, MIN_TTL, MAX_TTL)
}

/// `ttl` as a diagnostic.
fn invalid_ttl(why: String) -> Diagnostics {
    Diagnostics::attribute_error(A::Ttl.path(), "Invalid ttl", why)
}

/// Checks that need no backend: ValidateEphemeralResourceConfig.
fn validate_ephemeral(config: &EphemeralKeyModel) -> Diagnostics {
    let mut diags = validate_config(&config.as_key());
    if config.ttl.is_known() {
        if let Err(why) = ttl_of(config) {
            diags.extend(invalid_ttl(why));
        }
    }
    diags
}

/// The refusal of a backend without ephemeral keys.
fn refusal(kind: BackendKind) -> Option<Diagnostics> {
    (!Capabilities::of(kind).key_create).then(|| {
        Diagnostics::error(
            "ephemeral keysmith_api_key is not supported on traceloop",
            TRACELOOP_REASON,
        )
    })
}

/// Checks against the configured backend (at open): the managed resource's rules.
fn validate_for_open(kind: BackendKind, config: &EphemeralKeyModel) -> Diagnostics {
    if let Some(refused) = refusal(kind) {
        return refused;
    }
    let mut diags = validate_for_backend(kind, &config.as_key());
    diags.extend(validate_ephemeral(config));
    diags
}

// ---------------------------------------------------------------------------------------
// Private data: what Close needs, never the secret
// ---------------------------------------------------------------------------------------

/// What Open hands Close through Terraform (in memory only).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Private {
    /// The key's organization (empty on Braintrust when the vendor reports none).
    org_id: String,
    /// The key's id.
    id: String,
    /// The expiry in its marker, for messages.
    expires_at: String,
}

// ---------------------------------------------------------------------------------------
// The ephemeral resource
// ---------------------------------------------------------------------------------------

/// The `keysmith_api_key` ephemeral resource type.
#[derive(Debug)]
pub struct ApiKeyEphemeral {
    state: Arc<ProviderState>,
}

impl ApiKeyEphemeral {
    /// The ephemeral resource, sharing the provider's configured backend.
    pub fn new(state: Arc<ProviderState>) -> Self {
        ApiKeyEphemeral { state }
    }

    /// Creates the key; the result, the private data and the warnings (the sweep's).
    async fn open_key(
        &self,
        config: EphemeralKeyModel,
    ) -> Result<(Value, Vec<u8>, Diagnostics), Diagnostics> {
        let backend = self.state.backend()?;
        let kind = backend.kind();
        let checks = validate_for_open(kind, &config);
        if checks.has_errors() {
            return Err(checks);
        }
        let ttl = ttl_of(&config).map_err(invalid_ttl)?;
        let org_id = org_id(
            &self.state,
            backend.as_ref(),
            &config.org_id,
            &config.org_name,
        )
        .await?;
        let org_name = match kind {
            BackendKind::Braintrust => config
                .org_name
                .as_str()
                .map(str::to_string)
                .or_else(|| self.state.defaults().org),
            _ => None,
        };

        let now = OffsetDateTime::now_utc();
        let mut diagnostics = checks;
        diagnostics.extend(sweep(backend.as_ref(), &org_id, now).await?);

        let expires = marker::expiry(now, ttl).map_err(invalid_ttl)?;
        let stamp = marker::format_stamp(expires).unwrap_or_default();
        let name = config.name.as_str().unwrap_or_default();
        let marked = marker::marked_name(name, expires).map_err(invalid_ttl)?;
        let new = NewApiKey {
            org_id: (kind != BackendKind::Braintrust).then(|| org_id.clone()),
            org_name: org_name.clone(),
            name: marked,
            roles: string_vec(&config.roles),
            // Atlas assigns project roles to the key once it exists (below).
            project_roles: match kind {
                BackendKind::Atlas => BTreeMap::new(),
                _ => project_roles_of(&config.project_roles),
            },
            // SPEC §4a: ephemeral keys are never service tokens (for now).
            service_account_id: None,
        };
        tracing::debug!(backend = kind.name(), expires = %stamp, "creating ephemeral API key");
        let created = backend.create_api_key(&new).await.map_err(|e| {
            backend_diagnostic("Unable to create ephemeral API key", &e, attribute_of_field)
        })?;

        let key_org = created.key.org_id.clone().unwrap_or_else(|| org_id.clone());
        if kind == BackendKind::Atlas {
            let wanted = project_roles_of(&config.project_roles);
            if let Err(failed) = sync_project_roles(
                backend.as_ref(),
                &key_org,
                &created.key.id,
                &BTreeMap::new(),
                &wanted,
            )
            .await
            .map_err(|e| {
                backend_diagnostic(
                    "Unable to give the ephemeral API key its project roles",
                    &e,
                    attribute_of_field,
                )
            }) {
                // Terraform never closes a failed open: the half-made key goes now.
                let made = Private {
                    org_id: key_org,
                    id: created.key.id.clone(),
                    expires_at: stamp.clone(),
                };
                let mut diags = failed;
                diags.extend(delete(backend.as_ref(), &made).await);
                return Err(diags);
            }
        }
        let mut result = config;
        result.id = Value::from(created.key.id.as_str());
        if result.org_id.is_null() {
            result.org_id = Value::from(key_org.as_str());
        }
        result.org_name = Value::opt_string(org_name);
        if result.ttl.is_null() {
            result.ttl = Value::from(DEFAULT_TTL);
        }
        result.public_key = Value::opt_string(created.key.public_key.clone());
        result.secret = Value::from(created.secret.expose());
        result.expires_at = Value::from(stamp.as_str());
        let result = Value::from(result);
        let private = Private {
            org_id: key_org,
            id: created.key.id.clone(),
            expires_at: stamp,
        };
        let private = match serde_json::to_vec(&private) {
            Ok(bytes) => bytes,
            Err(e) => {
                // Terraform could not close it: delete it now.
                let mut diags = Diagnostics::error(
                    "Internal error in the keysmith provider",
                    format!(
                        "keysmith could not record ephemeral API key {}: {e}.",
                        created.key.id
                    ),
                );
                diags.extend(delete(backend.as_ref(), &private).await);
                return Err(diags);
            }
        };
        tracing::debug!(
            backend = kind.name(),
            id = created.key.id,
            "opened ephemeral API key"
        );
        Ok((result, private, diagnostics))
    }
}

/// Deletes the keys of `org_id` whose marker expired before `now`: a warning with their
/// count when it removed any, a warning for each it could not remove.
///
/// # Errors
/// When the organization's keys cannot be listed: then nothing is known and nothing created.
async fn sweep(
    backend: &dyn Backend,
    org_id: &str,
    now: OffsetDateTime,
) -> Result<Diagnostics, Diagnostics> {
    let keys = backend
        .list_api_keys(org_id)
        .await
        .map_err(|e| backend_diagnostic("Unable to list API keys", &e, |_| None))?;
    let mut diags = Diagnostics::default();
    let mut removed: Vec<&ApiKey> = Vec::new();
    for key in keys.iter().filter(|k| marker::is_expired(&k.name, now)) {
        tracing::debug!(id = key.id, "deleting an expired ephemeral API key");
        match backend.delete_api_key(org_id, &key.id).await {
            Ok(()) => removed.push(key),
            Err(e) => {
                let mut failed = backend_diagnostic(
                    &format!("Unable to delete expired ephemeral API key {}", key.id),
                    &e,
                    |_| None,
                );
                for d in &mut failed.0 {
                    d.severity = Severity::Warning;
                    d.attribute = None;
                }
                diags.extend(failed);
            }
        }
    }
    if !removed.is_empty() {
        let count = removed.len();
        let noun = if count == 1 { "key" } else { "keys" };
        let listed: Vec<String> = removed
            .iter()
            .map(|k| format!("{} ({:?})", k.id, k.name))
            .collect();
        diags.push_warning(
            format!("Deleted {count} expired ephemeral API {noun}"),
            format!(
                "Before creating this key, keysmith deleted {count} {noun} of organization {org_id} whose marker had expired, left by runs that ended before Terraform closed them: {}.",
                listed.join(", ")
            ),
        );
    }
    Ok(diags)
}

/// Deletes an opened key (already gone = success); an error names the key.
async fn delete(backend: &dyn Backend, key: &Private) -> Diagnostics {
    tracing::debug!(
        backend = backend.kind().name(),
        id = key.id,
        "deleting ephemeral API key"
    );
    match backend.delete_api_key(&key.org_id, &key.id).await {
        Ok(()) => Diagnostics::default(),
        Err(e) if e.is_not_found() => Diagnostics::default(),
        Err(e) => {
            let mut diags = backend_diagnostic(
                &format!("Unable to delete ephemeral API key {}", key.id),
                &e,
                |_| None,
            );
            for d in &mut diags.0 {
                d.detail.push_str(&format!(
                    "\n\nThe key {} still exists: delete it at the vendor, or leave it to the first open of an ephemeral keysmith_api_key in its organization after {}, which deletes it.",
                    key.id, key.expires_at
                ));
            }
            diags
        }
    }
}

#[async_trait::async_trait]
impl EphemeralResource for ApiKeyEphemeral {
    fn type_name(&self) -> &'static str {
        "keysmith_api_key"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        // Terraform validates again, on the configured provider, right before it opens.
        match self.state.kind().and_then(refusal) {
            Some(refused) => refused,
            None => validate_ephemeral(&EphemeralKeyModel::from(config)),
        }
    }

    async fn open(&self, req: OpenRequest) -> OpenResponse {
        match self.open_key(req.config.into()).await {
            Ok((result, private, diagnostics)) => OpenResponse {
                result,
                private,
                renew_at: None,
                diagnostics,
            },
            Err(diagnostics) => OpenResponse {
                diagnostics,
                ..Default::default()
            },
        }
    }

    async fn close(&self, req: CloseRequest) -> Diagnostics {
        let key: Private = match serde_json::from_slice(&req.private) {
            Ok(key) => key,
            Err(e) => {
                return Diagnostics::error(
                    "Unable to delete ephemeral API key",
                    format!("Terraform handed back private data keysmith cannot read ({e}), so it does not know which key to delete. The key's marker lets a later open delete it once it has expired."),
                )
            }
        };
        match self.state.backend() {
            Ok(backend) => delete(backend.as_ref(), &key).await,
            Err(diags) => diags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(attrs: &[(&str, Value)]) -> EphemeralKeyModel {
        EphemeralKeyModel::from(Value::object(attrs.iter().cloned()))
    }

    #[test]
    fn ttl_defaults_to_an_hour_and_stays_within_a_minute_and_a_day() {
        assert_eq!(ttl_of(&config(&[])), Ok(Duration::from_secs(3600)));
        for (ttl, ok) in [
            ("1m", true),
            ("59s", false),
            ("24h", true),
            ("24h1s", false),
            ("90m", true),
            ("0s", false),
            ("soon", false),
        ] {
            let diags = validate_ephemeral(&config(&[
                ("name", Value::from("k")),
                ("ttl", Value::from(ttl)),
            ]));
            assert_eq!(!diags.has_errors(), ok, "{ttl}: {diags:?}");
            if !ok {
                assert_eq!(diags.0[0].attribute, Some(A::Ttl.path()));
            }
        }
        // Unknown at validation: judged at open.
        assert!(!validate_ephemeral(&config(&[
            ("name", Value::from("k")),
            ("ttl", Value::Unknown)
        ]))
        .has_errors());
    }

    #[test]
    fn traceloop_is_refused_with_the_reason_and_other_backends_keep_the_managed_rules() {
        let refused = validate_for_open(
            BackendKind::Traceloop,
            &config(&[("name", Value::from("k"))]),
        );
        assert!(refused.has_errors());
        assert!(refused.0[0]
            .detail
            .contains("use keysmith_org.environment_keys"));
        let atlas = config(&[
            ("name", Value::from("k")),
            ("org_id", Value::from("5f1a2b3c4d5e6f7081920a1b")),
            ("roles", Value::string_set(["ORG_MEMBER"])),
        ]);
        assert!(!validate_for_open(BackendKind::Atlas, &atlas).has_errors());
        let mut with_org_name = atlas.clone();
        with_org_name.org_name = Value::from("acme");
        let diags = validate_for_open(BackendKind::Atlas, &with_org_name);
        assert_eq!(diags.0[0].attribute, Some(A::OrgName.path()));
        let braintrust_roles = config(&[
            ("name", Value::from("k")),
            ("roles", Value::string_set(["x"])),
        ]);
        assert!(validate_for_open(BackendKind::Braintrust, &braintrust_roles).has_errors());
        let env0_two = config(&[
            ("name", Value::from("k")),
            ("roles", Value::string_set(["Admin", "User"])),
        ]);
        assert!(validate_for_open(BackendKind::Env0, &env0_two).has_errors());
    }

    #[test]
    fn atlas_project_roles_follow_the_managed_rules() {
        let atlas = |role: &str| {
            let roles = Value::Map(
                [("6a1a2b3c4d5e6f7081920a1b".into(), Value::string_set([role]))]
                    .into_iter()
                    .collect(),
            );
            config(&[
                ("name", Value::from("k")),
                ("org_id", Value::from("5f1a2b3c4d5e6f7081920a1b")),
                ("roles", Value::string_set(["ORG_MEMBER"])),
                ("project_roles", roles),
            ])
        };
        assert!(!validate_for_open(BackendKind::Atlas, &atlas("GROUP_READ_ONLY")).has_errors());
        let diags = validate_for_open(BackendKind::Atlas, &atlas("ORG_OWNER"));
        assert!(diags.has_errors());
        assert!(diags.0.iter().all(|d| d
            .attribute
            .as_ref()
            .is_some_and(|a| a.to_string().starts_with("project_roles"))));
    }

    #[test]
    fn private_data_holds_what_close_needs_and_no_secret() {
        let p = Private {
            org_id: "o".into(),
            id: "k".into(),
            expires_at: "2026-07-01T12:00:00Z".into(),
        };
        let bytes = serde_json::to_vec(&p).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"org_id": "o", "id": "k", "expires_at": "2026-07-01T12:00:00Z"})
        );
        assert_eq!(serde_json::from_slice::<Private>(&bytes).unwrap(), p);
    }
}
