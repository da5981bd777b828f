//! Atlas's JSON: request bodies, answers and the `ApiError` shape.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};

use crate::backend::http::VendorError;
use crate::backend::{ApiKey, Org, Secret};

/// Atlas `ApiError` → [`VendorError`]: message from `detail` (else `reason` with its
/// `parameters`), code from `errorCode`, field from `badRequestDetail.fields[].field` (or,
/// for `*ATTRIBUTE*` codes, the first parameter), with every field violation appended.
pub fn parse_atlas_error(status: u16, body: &serde_json::Value) -> Option<VendorError> {
    let _ = status;
    let obj = body.as_object()?;
    let text = |key: &str| {
        obj.get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let code = text("errorCode");
    let detail = text("detail");
    let reason = text("reason");
    if code.is_none() && detail.is_none() {
        return None;
    }
    let parameters: Vec<String> = obj
        .get("parameters")
        .and_then(serde_json::Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| match p {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let violations: Vec<(String, String)> = obj
        .get("badRequestDetail")
        .and_then(|d| d.get("fields"))
        .and_then(serde_json::Value::as_array)
        .map(|fs| {
            fs.iter()
                .filter_map(|f| {
                    let field = f.get("field")?.as_str()?.to_string();
                    let description = f
                        .get("description")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    Some((field, description))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut message = match (&detail, &reason) {
        (Some(d), _) => d.clone(),
        (None, Some(r)) if !parameters.is_empty() => format!("{r} ({})", parameters.join(", ")),
        (None, Some(r)) => r.clone(),
        (None, None) => code.clone().unwrap_or_default(),
    };
    for (field, description) in &violations {
        if description.is_empty() {
            message.push_str(&format!("; {field}"));
        } else {
            message.push_str(&format!("; {field}: {description}"));
        }
    }
    let field = violations.first().map(|(f, _)| f.clone()).or_else(|| {
        code.as_deref()
            .filter(|c| c.contains("ATTRIBUTE"))
            .and(parameters.first().cloned())
    });
    Some(VendorError {
        code,
        message,
        field,
    })
}

#[derive(Serialize)]
pub(super) struct CreateKeyBody<'a> {
    pub(super) desc: &'a str,
    pub(super) roles: &'a [String],
}

#[derive(Serialize)]
pub(super) struct UpdateKeyBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) desc: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) roles: Option<&'a [String]>,
}

#[derive(Deserialize)]
pub(super) struct KeyPage {
    #[serde(default)]
    pub(super) results: Vec<KeyWire>,
}

/// `ApiKeyUserDetails`. No `Debug`: it may hold the one-time private key.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KeyWire {
    pub(super) id: String,
    #[serde(default)]
    pub(super) desc: String,
    #[serde(default)]
    pub(super) public_key: Option<String>,
    #[serde(default, deserialize_with = "secret_opt")]
    pub(super) private_key: Option<Secret>,
    #[serde(default)]
    pub(super) roles: Vec<RoleWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RoleWire {
    #[serde(default)]
    pub(super) org_id: Option<String>,
    #[serde(default)]
    pub(super) group_id: Option<String>,
    #[serde(default)]
    pub(super) role_name: String,
}

fn secret_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

impl KeyWire {
    pub(super) fn into_api_key(self, org_id: &str) -> ApiKey {
        let mut project_roles: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in &self.roles {
            if let Some(group) = r.group_id.as_deref().filter(|g| !g.is_empty()) {
                project_roles
                    .entry(group.to_string())
                    .or_default()
                    .insert(r.role_name.clone());
            }
        }
        let mut roles: Vec<String> = self
            .roles
            .into_iter()
            .filter(|r| {
                r.role_name.starts_with("ORG_")
                    && r.org_id
                        .as_deref()
                        .is_some_and(|o| o.eq_ignore_ascii_case(org_id))
            })
            .map(|r| r.role_name)
            .collect();
        roles.sort();
        roles.dedup();
        ApiKey {
            id: self.id,
            name: self.desc,
            org_id: Some(org_id.to_string()),
            public_key: self.public_key,
            preview: None,
            roles,
            created_at: None,
            project_roles,
            service_account_id: None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateOrgBody<'a> {
    pub(super) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) org_owner_id: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct UpdateOrgBody<'a> {
    pub(super) name: &'a str,
}

/// `CreateOrganizationResponse`, only the part used. No `Debug`: it could hold an API key.
#[derive(Deserialize)]
pub(super) struct CreateOrgResponse {
    #[serde(default)]
    pub(super) organization: Option<OrgWire>,
}

#[derive(Deserialize)]
pub(super) struct OrgPage {
    #[serde(default)]
    pub(super) results: Vec<OrgWire>,
}

/// `AtlasOrganization`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrgWire {
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) is_deleted: bool,
}

impl OrgWire {
    pub(super) fn into_org(self) -> Org {
        Org {
            id: self.id,
            name: self.name,
            ..Org::default()
        }
    }
}
