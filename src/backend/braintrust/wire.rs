//! Braintrust's JSON: request bodies, answers, and its error bodies.

use serde::{Deserialize, Deserializer, Serialize};

use super::keys::Kind;
use crate::backend::http::VendorError;
use crate::backend::{ApiKey, Org, Secret};

/// Braintrust's JSON error bodies (shape undocumented): `message`, else `error` (a string
/// or an object with `message`), with `details` appended when it is text. Plain-text bodies
/// need no hook: the shared reading quotes them.
pub fn parse_braintrust_error(status: u16, body: &serde_json::Value) -> Option<VendorError> {
    let _ = status;
    let obj = body.as_object()?;
    let text = |v: Option<&serde_json::Value>| {
        v.and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let error = obj.get("error");
    let mut message = text(obj.get("message"))
        .or_else(|| text(error))
        .or_else(|| text(error.and_then(|e| e.get("message"))))?;
    if let Some(details) = text(obj.get("details")) {
        if details != message {
            message = format!("{message}: {details}");
        }
    }
    let code = text(obj.get("code"));
    Some(VendorError {
        code,
        message,
        field: None,
    })
}

/// `POST /v1/api_key` (no `service_account_id`) and `POST /v1/service_token`.
#[derive(Serialize)]
pub(super) struct CreateBody<'a> {
    pub(super) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) service_account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) org_name: Option<&'a str>,
}

#[derive(Deserialize)]
pub(super) struct ListWire<T> {
    #[serde(default = "Vec::new")]
    pub(super) objects: Vec<T>,
}

/// `ApiKey` / `CreateApiKeyOutput`, and `ServiceToken` / `CreateServiceTokenOutput` (the
/// same fields, plus `service_account_id`). No `Debug`: the create answer holds the raw key.
#[derive(Deserialize)]
pub(super) struct KeyWire {
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) created: Option<String>,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) preview_name: Option<String>,
    #[serde(default)]
    pub(super) org_id: Option<String>,
    #[serde(default)]
    pub(super) service_account_id: Option<String>,
    #[serde(default, deserialize_with = "secret_opt")]
    pub(super) key: Option<Secret>,
}

pub(super) fn secret_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

impl KeyWire {
    /// The key, as an object of `kind` (only a service token has a service account).
    pub(super) fn into_api_key(self, kind: Kind) -> ApiKey {
        let service_account_id = match kind {
            Kind::ApiKey => None,
            Kind::ServiceToken => self.service_account_id.filter(|s| !s.is_empty()),
        };
        ApiKey {
            id: self.id,
            name: self.name,
            org_id: self.org_id.filter(|o| !o.is_empty()),
            public_key: None,
            preview: self.preview_name.filter(|p| !p.is_empty()),
            roles: Vec::new(),
            created_at: self.created.filter(|c| !c.is_empty()),
            project_roles: Default::default(),
            service_account_id,
        }
    }
}

/// `Organization`.
#[derive(Deserialize)]
pub(super) struct OrgWire {
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) created: Option<String>,
}

impl OrgWire {
    pub(super) fn into_org(self) -> Org {
        Org {
            id: self.id,
            name: self.name,
            created_at: self.created.filter(|c| !c.is_empty()),
            ..Org::default()
        }
    }
}
