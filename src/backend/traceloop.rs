//! Traceloop client: organizations (`POST /v2/organizations`).
//!
//! Creating an organization is the only operation Traceloop's public API offers: there is no
//! read, update, delete or list of organizations, and API keys exist only as the one key per
//! environment that the create response carries (`environments[].api_key`, shown once). Every
//! other [`Backend`] operation answers [`BackendError::NotSupported`].
//!
//! # Requests
//! `Authorization: Bearer <api_key>`; body `{org_name, envs?, retention_hours?}`; answer
//! `201 {org_id, environments: [{slug, api_key}]}`; errors `{"error": "…"}` (400, 403, 500).
//! Inputs are checked before sending: a blank `org_name`, an empty `envs` list or a blank
//! slug, `retention_hours` outside 1–720, and fields Traceloop has no place for
//! (description, photo URL, owner) are [`BackendError::Invalid`] with status 0.
//!
//! # Creates that fail ambiguously (SPEC §6)
//! The create is retried only when Traceloop provably did not act (429, no connection).
//! After a timeout, a reset, a 5xx or a success answer that cannot be read, Traceloop offers
//! no way to find out whether the organization exists, so the client never re-posts: the
//! error says that an organization may have been created and must be checked in the
//! Traceloop UI.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::http::{
    Backoff, BearerAuth, HttpClient, HttpSettings, Request, RetryPolicy, SendError, VendorError,
};
use super::support::{annotate, check_not_blank, invalid};
use super::{Backend, BackendError, BackendKind, CreatedOrg, NewOrg, Org, Secret};

const VENDOR: &str = "traceloop";

/// Traceloop's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.traceloop.com";

/// The create-organization endpoint.
pub const ORGANIZATIONS_PATH: &str = "/v2/organizations";

/// Everything needed to build a [`TraceloopClient`].
#[derive(Debug, Clone)]
pub struct TraceloopConfig {
    /// e.g. [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// The API key sent as a bearer token.
    pub api_key: Secret,
    /// Shared HTTP settings.
    pub http: HttpSettings,
}

/// A Traceloop client. See the module documentation for its behaviour.
pub struct TraceloopClient {
    http: HttpClient,
    auth: BearerAuth,
}

impl fmt::Debug for TraceloopClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceloopClient")
            .field("base_url", &self.http.base_url().as_str())
            .finish_non_exhaustive()
    }
}

impl TraceloopClient {
    /// A client for `cfg`. Fails with [`BackendError::Config`] on a malformed base URL
    /// (see [`super::http::parse_base_url`]) or an empty API key.
    pub fn new(cfg: TraceloopConfig) -> Result<Self, BackendError> {
        if cfg.api_key.expose().trim().is_empty() {
            return Err(BackendError::Config {
                vendor: VENDOR,
                message: "api_key must not be empty".into(),
            });
        }
        let http = HttpClient::new(VENDOR, &cfg.base_url, &cfg.http)?
            .with_error_parser(parse_traceloop_error);
        http.redactor().add(cfg.api_key.expose());
        Ok(TraceloopClient {
            http,
            auth: BearerAuth::new(VENDOR, &cfg.api_key)?,
        })
    }

    /// Replaces the retry timing (tests shorten it).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.http = self.http.with_backoff(backoff);
        self
    }

    /// The HTTP client (base URL, vendor).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }
}

#[async_trait::async_trait]
impl Backend for TraceloopClient {
    fn kind(&self) -> BackendKind {
        BackendKind::Traceloop
    }

    async fn create_org(&self, new: &NewOrg) -> Result<CreatedOrg, BackendError> {
        check_new_org(new)?;
        let body = CreateOrgBody {
            org_name: &new.name,
            envs: new.environments.as_deref(),
            retention_hours: new.retention_hours,
        };
        let req = Request::post(ORGANIZATIONS_PATH)
            .json(&body)?
            .retry(RetryPolicy::Create)
            .sensitive_response()
            .describe("the Traceloop organizations endpoint");
        let lost = |error: BackendError| {
            annotate(
                error,
                &format!(
                    "; the organization {:?} may have been created anyway, and Traceloop has no API \
                     to check: look for it in the Traceloop UI before trying again (a retry could \
                     create a second organization)",
                    new.name
                ),
            )
        };
        let resp = match self.http.send(&req, &self.auth).await {
            Ok(resp) => resp,
            Err(SendError {
                error,
                ambiguous: true,
            }) => return Err(lost(error)),
            Err(SendError {
                error: BackendError::NotFound { .. },
                ..
            }) => {
                return Err(BackendError::Http {
                    vendor: VENDOR,
                    status: 404,
                    code: None,
                    message: format!("{ORGANIZATIONS_PATH} was not found; check base_url"),
                })
            }
            Err(e) => return Err(e.error),
        };
        // A 2xx means the organization exists: an unreadable answer loses its keys.
        let wire: CreateOrgResponse = resp.json().map_err(|e| {
            annotate(
                e,
                &format!(
                    "; the organization {:?} was created but the answer could not be read, so \
                     its environment API keys are lost: find it in the Traceloop UI and \
                     regenerate them",
                    new.name
                ),
            )
        })?;
        if wire.org_id.trim().is_empty() {
            return Err(lost(BackendError::BadResponse {
                vendor: VENDOR,
                status: resp.status().as_u16(),
                message: "the created organization came back without an org_id".into(),
            }));
        }
        let mut environment_keys = BTreeMap::new();
        for env in wire.environments {
            match env.api_key {
                Some(key) if !key.expose().is_empty() && !env.slug.is_empty() => {
                    self.http.remember_secret(&key);
                    environment_keys.insert(env.slug, key);
                }
                _ => tracing::warn!(
                    vendor = VENDOR,
                    org_id = %wire.org_id,
                    slug = %env.slug,
                    "an environment of the new organization came back without an API key"
                ),
            }
        }
        Ok(CreatedOrg {
            org: Org {
                id: wire.org_id,
                name: new.name.clone(),
                ..Org::default()
            },
            environment_keys,
        })
    }
}

fn check_new_org(new: &NewOrg) -> Result<(), BackendError> {
    check_not_blank(VENDOR, "org_name", &new.name)?;
    if let Some(envs) = &new.environments {
        if envs.is_empty() {
            return Err(invalid(
                VENDOR,
                "envs",
                "the list of environments must not be empty (leave it unset for Traceloop's defaults dev, stg and prd)",
            ));
        }
        if envs.iter().any(|e| e.trim().is_empty()) {
            return Err(invalid(
                VENDOR,
                "envs",
                "environment slugs must not be empty",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = envs.iter().find(|e| !seen.insert(e.as_str())) {
            return Err(invalid(
                VENDOR,
                "envs",
                format!("environment {dup:?} is listed twice"),
            ));
        }
    }
    if let Some(hours) = new.retention_hours {
        if !(1..=720).contains(&hours) {
            return Err(invalid(
                VENDOR,
                "retention_hours",
                format!("retention_hours must be between 1 and 720, got {hours}"),
            ));
        }
    }
    let unsupported = [
        ("description", new.description.is_some()),
        ("photo_url", new.photo_url.is_some()),
        ("owner_id", new.owner_id.is_some()),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(invalid(
            VENDOR,
            field,
            format!("Traceloop organizations have no {field}"),
        ));
    }
    Ok(())
}

/// Traceloop's `{"error": "…"}` → [`VendorError`].
pub fn parse_traceloop_error(status: u16, body: &serde_json::Value) -> Option<VendorError> {
    let _ = status;
    let message = body.get("error")?.as_str()?.trim();
    if message.is_empty() {
        return None;
    }
    Some(VendorError {
        code: None,
        message: message.to_string(),
        field: None,
    })
}

#[derive(Serialize)]
struct CreateOrgBody<'a> {
    org_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    envs: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retention_hours: Option<i64>,
}

/// `response.CreateOrganizationResponse`. No `Debug`: it holds the one-time keys.
#[derive(Deserialize)]
struct CreateOrgResponse {
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    environments: Vec<EnvironmentWire>,
}

#[derive(Deserialize)]
struct EnvironmentWire {
    #[serde(default)]
    slug: String,
    #[serde(default, deserialize_with = "secret_opt")]
    api_key: Option<Secret>,
}

fn secret_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

#[cfg(test)]
mod tests;
