//! env0's JSON shapes: request bodies and the answers keysmith reads.

use serde::{Deserialize, Deserializer, Serialize};

use super::{ApiKey, Org, OrgPolicies, Secret};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateOrgBody<'a> {
    pub(super) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) photo_url: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateKeyBody<'a> {
    pub(super) name: &'a str,
    pub(super) organization_id: &'a str,
    pub(super) permissions: Permissions<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Permissions<'a> {
    pub(super) organization_role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) projects_permissions: Option<Vec<ProjectPermission<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProjectPermission<'a> {
    pub(super) project_id: &'a str,
    pub(super) project_role: &'a str,
}

/// The Organization object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrgWire {
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) photo_url: Option<String>,
    #[serde(default)]
    pub(super) mode: Option<String>,
    #[serde(default)]
    pub(super) created_by: Option<String>,
    #[serde(default)]
    pub(super) created_at: Option<String>,
    #[serde(default)]
    pub(super) max_ttl: Option<String>,
    #[serde(default)]
    pub(super) default_ttl: Option<String>,
    #[serde(default)]
    pub(super) project_custom_flows_policy: Option<String>,
    #[serde(default)]
    pub(super) do_not_report_skipped_status_checks: Option<bool>,
    #[serde(default)]
    pub(super) do_not_consider_merge_commits_for_pr_plans: Option<bool>,
    #[serde(default)]
    pub(super) enable_oidc: Option<bool>,
    #[serde(default)]
    pub(super) enforce_pr_commenter_permissions: Option<bool>,
    #[serde(default)]
    allow_env0_secrets: Option<bool>,
    #[serde(default)]
    pub(super) require_approval_for_pr_applies: Option<bool>,
}

impl OrgWire {
    pub(super) fn into_org(self) -> Org {
        Org {
            id: self.id,
            name: self.name,
            description: self.description,
            photo_url: self.photo_url,
            mode: self.mode,
            created_by: self.created_by,
            created_at: self.created_at,
            policies: Some(OrgPolicies {
                max_ttl: self.max_ttl,
                default_ttl: self.default_ttl,
                project_custom_flows_policy: self.project_custom_flows_policy,
                do_not_report_skipped_status_checks: self.do_not_report_skipped_status_checks,
                do_not_consider_merge_commits_for_pr_plans: self
                    .do_not_consider_merge_commits_for_pr_plans,
                enable_oidc: self.enable_oidc,
                enforce_pr_commenter_permissions: self.enforce_pr_commenter_permissions,
                allow_env0_secrets: self.allow_env0_secrets,
                require_approval_for_pr_applies: self.require_approval_for_pr_applies,
            }),
        }
    }
}

/// The ApiKey object. No `Debug`: the create answer holds the one-time secret.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KeyWire {
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) api_key_id: Option<String>,
    #[serde(default, deserialize_with = "secret_opt")]
    pub(super) api_key_secret: Option<Secret>,
    #[serde(default)]
    pub(super) organization_id: Option<String>,
    #[serde(default)]
    pub(super) organization_role: Option<String>,
    #[serde(default)]
    pub(super) permissions: Option<PermissionsWire>,
    #[serde(default)]
    pub(super) created_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PermissionsWire {
    #[serde(default)]
    pub(super) organization_role: Option<String>,
}

pub(super) fn secret_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

impl KeyWire {
    pub(super) fn into_api_key(self, org_id: &str) -> ApiKey {
        let role = self
            .organization_role
            .or(self.permissions.and_then(|p| p.organization_role))
            .filter(|r| !r.is_empty());
        ApiKey {
            id: self.id,
            name: self.name,
            org_id: Some(
                self.organization_id
                    .filter(|o| !o.is_empty())
                    .unwrap_or_else(|| org_id.to_string()),
            ),
            public_key: self.api_key_id.filter(|k| !k.is_empty()),
            preview: None,
            roles: role.into_iter().collect(),
            created_at: self.created_at,
            project_roles: Default::default(),
            service_account_id: None,
        }
    }
}
