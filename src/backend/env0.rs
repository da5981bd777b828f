//! env0 client: organizations (`/organizations`) and organization API keys (`/api-keys`).
//!
//! # What env0 can do
//! - Organizations: create (`POST /organizations` `{name, description?, photoUrl?}` → the
//!   Organization) and read, from the one listing `GET /organizations` (an unpaginated array
//!   of every organization the caller sees), by id or by exact name. No update, no delete.
//! - API keys: create (`POST /api-keys` `{name, organizationId, permissions:
//!   {organizationRole, projectsPermissions?: [{projectId, projectRole}]}}`, whose answer
//!   carries `apiKeyId`, the Basic-auth username, and `apiKeySecret`, shown once), list
//!   (`GET /api-keys?organizationId=`, an unpaginated array), read (from that listing: there
//!   is no GET by id) and delete (`DELETE /api-keys/{id}`, 404 = already gone). No update.
//!   A key has exactly one `organizationRole` (`Admin`, `User` or a custom role id), reported
//!   as its only role; project roles (`Planner`, `Viewer`, `Deployer`, `Admin`) are allowed
//!   only when that role is not `Admin`.
//!
//! # Authentication and pacing
//! HTTP Basic with `api_key_id:api_key_secret`. env0 allows 1,000 requests per 60 s per
//! method and URI and answers 429 beyond; the client paces itself below that
//! ([`RateLimit`], a constructor setting): every attempt of a request, retries included,
//! takes a slot of its method + path template (`DELETE /api-keys/{id}` is one bucket, like
//! the server's per-URI buckets but never finer), and a slot is freed one window after its
//! attempt *finished*, which is never before env0 counted it. Requests beyond the limit wait
//! for a slot instead of being sent, so large applies do not see 429; a 429 that comes
//! anyway (another client on the same IP) is retried with backoff like any other.
//!
//! # Reads
//! The organization listing and each organization's key listing are shared for
//! [`ListCache::DEFAULT_TTL`] (one request per organization for a refresh of many keys).
//! An id absent from a cached listing is looked up in a fresh one before it is reported
//! [`BackendError::NotFound`]. Every write invalidates the listing it changes.
//!
//! # Creates that fail ambiguously (SPEC §6)
//! A POST is retried only when env0 provably did not act (429, no connection). After a
//! timeout, a reset, a 5xx or an undecodable success, the client reconciles through
//! [`super::reconcile`], with the listing's `createdAt` (server clock, calibrated against the
//! `Date` header) bounding what the lost request may have created, and a listing taken before
//! this process's first create proving what existed before:
//! - an API key proven to be the lost attempt's is deleted (its secret is lost) and the key
//!   created once more;
//! - an organization cannot be deleted, and its create answer holds no secret, so one
//!   proven is adopted as the result; several (lost attempts that all took effect) are named
//!   in the error.
//!
//! Anything that cannot be proven is named in the error and left alone. The listing is looked
//! at up to three times (at once, then after 1 s and 2 s by default) before concluding that
//! nothing was created, because env0's listings are eventually consistent.
//!
//! The API key secret, and every created key's secret (raw and as the Basic credential it
//! makes), are redacted from env0's text.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderValue;
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::http::{
    AuthRequest, Authenticator, Backoff, BasicAuth, HttpClient, HttpSettings, Request, Response,
    RetryPolicy, SendError, VendorError,
};
use super::list_cache::ListCache;
use super::reconcile::{clock_offset, Create, Listing, LostPolicy, Reconciler, Seen};
use super::support::{check_not_blank, check_segment, invalid, Pages};
use super::{
    ApiKey, Backend, BackendError, BackendKind, CreatedApiKey, CreatedOrg, NewApiKey, NewOrg, Org,
    OrgPolicies, Secret,
};

const VENDOR: &str = "env0";

/// env0's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.env0.com";

/// The project roles env0 knows.
pub const PROJECT_ROLES: [&str; 4] = ["Planner", "Viewer", "Deployer", "Admin"];

/// A request budget: at most `requests` per `window` for each method + path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window.
    pub window: Duration,
}

impl RateLimit {
    /// env0's documented limit: 1,000 requests per 60 s per method and URI.
    pub const ENV0: RateLimit = RateLimit {
        requests: 1000,
        window: Duration::from_secs(60),
    };
}

impl Default for RateLimit {
    /// [`RateLimit::ENV0`].
    fn default() -> Self {
        RateLimit::ENV0
    }
}

/// Everything needed to build an [`Env0Client`].
#[derive(Debug, Clone)]
pub struct Env0Config {
    /// e.g. [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// The API key id (Basic-auth username).
    pub api_key_id: String,
    /// The API key secret (Basic-auth password).
    pub api_key_secret: Secret,
    /// Shared HTTP settings.
    pub http: HttpSettings,
    /// The client-side pacing budget (default [`RateLimit::ENV0`]).
    pub rate_limit: RateLimit,
}

/// An env0 client. See the module documentation for its behaviour.
pub struct Env0Client {
    http: HttpClient,
    auth: BasicAuth,
    pacer: Pacer,
    /// Key listings by organization id.
    keys: ListCache<ApiKey>,
    /// The organization listing (one scope).
    orgs: ListCache<Org>,
    reconciler: Reconciler,
}

impl fmt::Debug for Env0Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env0Client")
            .field("base_url", &self.http.base_url().as_str())
            .field("rate_limit", &self.pacer.limit)
            .finish_non_exhaustive()
    }
}

/// Scope of the organization listing in its cache.
const ORGS_SCOPE: &str = "organizations";

// Pacing buckets: method + path template.
const GET_ORGS: &str = "GET /organizations";
const POST_ORGS: &str = "POST /organizations";
const GET_KEYS: &str = "GET /api-keys";
const POST_KEYS: &str = "POST /api-keys";
const DELETE_KEY: &str = "DELETE /api-keys/{id}";

impl Env0Client {
    /// A client for `cfg`. Fails with [`BackendError::Config`] on a malformed base URL
    /// (see [`super::http::parse_base_url`]), empty credentials or an empty rate limit.
    pub fn new(cfg: Env0Config) -> Result<Self, BackendError> {
        let config_error = |message: &str| BackendError::Config {
            vendor: VENDOR,
            message: message.to_string(),
        };
        if cfg.api_key_id.trim().is_empty() || cfg.api_key_secret.expose().is_empty() {
            return Err(config_error(
                "api_key_id and api_key_secret must not be empty",
            ));
        }
        if cfg.rate_limit.requests == 0 || cfg.rate_limit.window.is_zero() {
            return Err(config_error(
                "the rate limit must allow at least one request per non-empty window",
            ));
        }
        let http =
            HttpClient::new(VENDOR, &cfg.base_url, &cfg.http)?.with_error_parser(parse_env0_error);
        http.redactor()
            .add_basic(&cfg.api_key_id, cfg.api_key_secret.expose());
        Ok(Env0Client {
            http,
            auth: BasicAuth::new(VENDOR, &cfg.api_key_id, &cfg.api_key_secret)?,
            pacer: Pacer::new(cfg.rate_limit),
            keys: ListCache::default(),
            orgs: ListCache::default(),
            reconciler: Reconciler::default(),
        })
    }

    /// Replaces the retry timing (tests shorten it); reconciliation looks scale with it.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.http = self.http.with_backoff(backoff);
        self
    }

    /// Replaces the lifetime of the cached listings (default [`ListCache::DEFAULT_TTL`]).
    pub fn with_list_ttl(mut self, ttl: Duration) -> Self {
        self.keys = ListCache::new(ttl);
        self.orgs = ListCache::new(ttl);
        self
    }

    /// The HTTP client (base URL, vendor).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The pacing budget in force.
    pub fn rate_limit(&self) -> RateLimit {
        self.pacer.limit
    }

    /// Sends `req`, every attempt paced in `bucket`.
    async fn send(&self, req: Request, bucket: &'static str) -> Result<Response, SendError> {
        let auth = PacedAuth {
            inner: &self.auth,
            pacer: &self.pacer,
            bucket,
            slot: Mutex::new(None),
        };
        self.http.send(&req, &auth).await
        // `auth` drops here: its slots start their window now that the request is over.
    }

    async fn fetch_orgs(&self) -> Result<(Vec<Org>, Option<i64>), BackendError> {
        let resp = self
            .send(
                Request::get("/organizations").describe("the env0 organizations endpoint"),
                GET_ORGS,
            )
            .await
            .map_err(|e| endpoint_missing(e.error, "/organizations"))?;
        let mut pages = Pages::new(VENDOR, "GET /organizations");
        pages.add(resp.json::<Vec<OrgWire>>()?, usize::MAX, |o| o.id.as_str())?;
        Ok((
            pages
                .into_items()
                .into_iter()
                .map(OrgWire::into_org)
                .collect(),
            clock_offset(&resp),
        ))
    }

    /// The organization listing, and whether it was fetched by this call.
    async fn org_listing(&self) -> Result<(Arc<Vec<Org>>, bool), BackendError> {
        let mut fetched = false;
        let list = self
            .orgs
            .get_or_fetch(ORGS_SCOPE, || async {
                fetched = true;
                self.fetch_orgs().await.map(|(orgs, _)| orgs)
            })
            .await?;
        Ok((list, fetched))
    }

    /// Finds an organization in the listing, looking at a fresh one when a cached one
    /// lacks it.
    async fn find_org(&self, matches: impl Fn(&Org) -> bool) -> Result<Vec<Org>, BackendError> {
        let (list, fetched) = self.org_listing().await?;
        let found: Vec<Org> = list.iter().filter(|o| matches(o)).cloned().collect();
        if !found.is_empty() || fetched {
            return Ok(found);
        }
        let (fresh, _) = self.fetch_orgs().await?;
        let found = fresh.iter().filter(|o| matches(o)).cloned().collect();
        self.orgs.put(ORGS_SCOPE, fresh);
        Ok(found)
    }

    async fn fetch_keys(&self, org_id: &str) -> Result<(Vec<ApiKey>, Option<i64>), BackendError> {
        let resp = self
            .send(
                Request::get("/api-keys")
                    .query("organizationId", org_id)
                    .describe(format!("organization {org_id}")),
                GET_KEYS,
            )
            .await?;
        let mut pages = Pages::new(VENDOR, "GET /api-keys");
        pages.add(resp.json::<Vec<KeyWire>>()?, usize::MAX, |k| k.id.as_str())?;
        let keys = pages
            .into_items()
            .into_iter()
            .filter(|k| {
                k.organization_id
                    .as_deref()
                    .is_none_or(|o| o.is_empty() || o == org_id)
            })
            .map(|k| k.into_api_key(org_id))
            .collect();
        Ok((keys, clock_offset(&resp)))
    }

    async fn delete_key(&self, org_id: &str, id: &str) -> Result<(), BackendError> {
        let result = self
            .send(
                Request::delete(format!("/api-keys/{id}")).describe(format!("api key {id}")),
                DELETE_KEY,
            )
            .await;
        self.keys.invalidate(org_id);
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.error.is_not_found() => Ok(()),
            Err(e) => Err(e.error),
        }
    }
}

/// Creating one API key, for the reconcile driver.
struct KeyCreate<'a> {
    client: &'a Env0Client,
    org_id: &'a str,
    body: CreateKeyBody<'a>,
}

#[async_trait::async_trait]
impl Create for KeyCreate<'_> {
    type Output = CreatedApiKey;
    const NOUN: &'static str = "API key";
    const POLICY: LostPolicy = LostPolicy::Delete;

    fn name(&self) -> &str {
        self.body.name
    }

    fn place(&self) -> String {
        format!("env0 organization {}", self.org_id)
    }

    fn id_of(output: &CreatedApiKey) -> &str {
        &output.key.id
    }

    async fn post(&self) -> Result<CreatedApiKey, SendError> {
        let req = Request::post("/api-keys")
            .json(&self.body)?
            .retry(RetryPolicy::Create)
            .sensitive_response()
            .describe(format!("organization {}", self.org_id));
        let result = self.client.send(req, POST_KEYS).await;
        self.client.keys.invalidate(self.org_id);
        let resp = result?;
        let wire: KeyWire = resp.json().map_err(SendError::ambiguous)?;
        let bad = |message: &str| {
            SendError::ambiguous(BackendError::BadResponse {
                vendor: VENDOR,
                status: resp.status().as_u16(),
                message: message.to_string(),
            })
        };
        let Some(secret) = wire
            .api_key_secret
            .clone()
            .filter(|s| !s.expose().is_empty())
        else {
            return Err(bad("the created key came back without its apiKeySecret"));
        };
        self.client.http.remember_secret(&secret);
        if let Some(key_id) = &wire.api_key_id {
            self.client
                .http
                .redactor()
                .add_basic(key_id, secret.expose());
        }
        if wire.id.trim().is_empty() {
            return Err(bad("the created key came back without an id"));
        }
        Ok(CreatedApiKey {
            key: wire.into_api_key(self.org_id),
            secret,
        })
    }

    async fn list(&self) -> Result<Listing, BackendError> {
        let (keys, clock_offset) = self.client.fetch_keys(self.org_id).await?;
        Ok(Listing {
            objects: keys
                .iter()
                .map(|k| Seen::created_at(&k.id, &k.name, k.created_at.as_deref()))
                .collect(),
            clock_offset,
        })
    }

    async fn delete(&self, id: &str) -> Result<(), BackendError> {
        self.client.delete_key(self.org_id, id).await
    }
}

/// Creating one organization, for the reconcile driver. env0 cannot delete organizations.
struct OrgCreate<'a> {
    client: &'a Env0Client,
    body: CreateOrgBody<'a>,
}

#[async_trait::async_trait]
impl Create for OrgCreate<'_> {
    type Output = CreatedOrg;
    const NOUN: &'static str = "organization";
    const POLICY: LostPolicy = LostPolicy::Adopt;

    fn name(&self) -> &str {
        self.body.name
    }

    fn place(&self) -> String {
        "env0 (organizations cannot be deleted through the API)".to_string()
    }

    fn id_of(output: &CreatedOrg) -> &str {
        &output.org.id
    }

    async fn post(&self) -> Result<CreatedOrg, SendError> {
        let req = Request::post("/organizations")
            .json(&self.body)?
            .retry(RetryPolicy::Create)
            .describe("the env0 organizations endpoint");
        let result = self.client.send(req, POST_ORGS).await;
        self.client.orgs.invalidate(ORGS_SCOPE);
        let resp = result.map_err(|e| SendError {
            ambiguous: e.ambiguous,
            error: endpoint_missing(e.error, "/organizations"),
        })?;
        let wire: OrgWire = resp.json().map_err(SendError::ambiguous)?;
        if wire.id.trim().is_empty() {
            return Err(SendError::ambiguous(BackendError::BadResponse {
                vendor: VENDOR,
                status: resp.status().as_u16(),
                message: "the created organization came back without an id".into(),
            }));
        }
        Ok(CreatedOrg {
            org: wire.into_org(),
            ..CreatedOrg::default()
        })
    }

    async fn list(&self) -> Result<Listing, BackendError> {
        let (orgs, clock_offset) = self.client.fetch_orgs().await?;
        Ok(Listing {
            objects: orgs
                .iter()
                .map(|o| Seen::created_at(&o.id, &o.name, o.created_at.as_deref()))
                .collect(),
            clock_offset,
        })
    }

    async fn delete(&self, id: &str) -> Result<(), BackendError> {
        let _ = id;
        Err(BackendError::not_supported(
            BackendKind::Env0,
            "deleting organizations",
        ))
    }

    async fn adopt(&self, seen: &Seen) -> Result<CreatedOrg, BackendError> {
        let (orgs, _) = self.client.fetch_orgs().await?;
        let org =
            orgs.into_iter()
                .find(|o| o.id == seen.id)
                .ok_or_else(|| BackendError::NotFound {
                    what: format!("organization {}", seen.id),
                })?;
        Ok(CreatedOrg {
            org,
            ..CreatedOrg::default()
        })
    }
}

#[async_trait::async_trait]
impl Backend for Env0Client {
    fn kind(&self) -> BackendKind {
        BackendKind::Env0
    }

    async fn create_api_key(&self, new: &NewApiKey) -> Result<CreatedApiKey, BackendError> {
        let org_id = new.org_id.as_deref().unwrap_or("");
        if org_id.trim().is_empty() {
            return Err(invalid(
                VENDOR,
                "organizationId",
                "an organization id is required to create an env0 API key",
            ));
        }
        check_not_blank(VENDOR, "name", &new.name)?;
        let role = check_key_roles(new)?;
        if new.org_name.is_some() {
            return Err(invalid(
                VENDOR,
                "org_name",
                "env0 keys name their organization by id (organizationId), not by name",
            ));
        }
        let project_permissions: Vec<ProjectPermission<'_>> = new
            .project_roles
            .iter()
            .filter_map(|(project_id, roles)| {
                Some(ProjectPermission {
                    project_id,
                    project_role: roles.iter().next()?,
                })
            })
            .collect();
        let body = CreateKeyBody {
            name: &new.name,
            organization_id: org_id,
            permissions: Permissions {
                organization_role: role,
                projects_permissions: (!project_permissions.is_empty())
                    .then_some(project_permissions),
            },
        };
        let op = KeyCreate {
            client: self,
            org_id,
            body,
        };
        self.reconciler
            .create(&self.http, &format!("keys:{org_id}"), &op)
            .await
    }

    async fn get_api_key(&self, org_id: &str, id: &str) -> Result<ApiKey, BackendError> {
        check_not_blank(VENDOR, "organizationId", org_id)?;
        check_segment(VENDOR, "id", id)?;
        let mut fetched = false;
        let listing = self
            .keys
            .get_or_fetch(org_id, || async {
                fetched = true;
                self.fetch_keys(org_id).await.map(|(keys, _)| keys)
            })
            .await?;
        if let Some(key) = listing.iter().find(|k| k.id == id) {
            return Ok(key.clone());
        }
        if !fetched {
            // The cached listing may predate the key: look at a fresh one.
            let (fresh, _) = self.fetch_keys(org_id).await?;
            let found = fresh.iter().find(|k| k.id == id).cloned();
            self.keys.put(org_id, fresh);
            if let Some(key) = found {
                return Ok(key);
            }
        }
        Err(BackendError::NotFound {
            what: format!("api key {id}"),
        })
    }

    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, BackendError> {
        check_not_blank(VENDOR, "organizationId", org_id)?;
        let (keys, _) = self.fetch_keys(org_id).await?;
        self.keys.put(org_id, keys.clone());
        Ok(keys)
    }

    async fn delete_api_key(&self, org_id: &str, id: &str) -> Result<(), BackendError> {
        check_segment(VENDOR, "id", id)?;
        self.delete_key(org_id, id).await
    }

    async fn create_org(&self, new: &NewOrg) -> Result<CreatedOrg, BackendError> {
        check_not_blank(VENDOR, "name", &new.name)?;
        let unsupported = [
            ("environments", new.environments.is_some()),
            ("retention_hours", new.retention_hours.is_some()),
            ("owner_id", new.owner_id.is_some()),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(invalid(
                VENDOR,
                field,
                format!("env0 organizations have no {field}"),
            ));
        }
        let body = CreateOrgBody {
            name: &new.name,
            description: new.description.as_deref(),
            photo_url: new.photo_url.as_deref(),
        };
        let op = OrgCreate { client: self, body };
        self.reconciler.create(&self.http, "orgs", &op).await
    }

    async fn get_org(&self, id: &str) -> Result<Org, BackendError> {
        check_not_blank(VENDOR, "id", id)?;
        let found = self.find_org(|o| o.id == id).await?;
        found
            .into_iter()
            .next()
            .ok_or_else(|| BackendError::NotFound {
                what: format!("organization {id}"),
            })
    }

    async fn find_org_by_name(&self, name: &str) -> Result<Org, BackendError> {
        check_not_blank(VENDOR, "name", name)?;
        let found = self.find_org(|o| o.name == name).await?;
        match found.len() {
            0 => Err(BackendError::NotFound {
                what: format!("organization named {name:?}"),
            }),
            1 => Ok(found.into_iter().next().unwrap_or_default()),
            n => {
                let ids: Vec<&str> = found.iter().map(|o| o.id.as_str()).collect();
                Err(invalid(
                    VENDOR,
                    "name",
                    format!(
                        "{n} env0 organizations are named {name:?} ({}); look one up by id",
                        ids.join(", ")
                    ),
                ))
            }
        }
    }
}

/// The one organization role of a new key, checked with its project roles.
fn check_key_roles(new: &NewApiKey) -> Result<&str, BackendError> {
    let role = match new.roles.as_slice() {
        [role] if !role.trim().is_empty() => role.as_str(),
        _ => {
            return Err(invalid(
                VENDOR,
                "organizationRole",
                format!(
                    "an env0 API key has exactly one organization role (Admin, User or a custom role id), got {}",
                    new.roles.len()
                ),
            ))
        }
    };
    if role == "Admin" && !new.project_roles.is_empty() {
        return Err(invalid(
            VENDOR,
            "projectsPermissions",
            "project roles apply only to keys whose organization role is not Admin",
        ));
    }
    for (project, roles) in &new.project_roles {
        if project.trim().is_empty() {
            return Err(invalid(
                VENDOR,
                "projectsPermissions",
                "project ids must not be empty",
            ));
        }
        let project_role = match roles.iter().collect::<Vec<_>>().as_slice() {
            [role] => role.as_str(),
            _ => {
                return Err(invalid(
                    VENDOR,
                    "projectsPermissions",
                    format!(
                        "an env0 API key has exactly one role in a project, got {} in project {project:?}",
                        roles.len()
                    ),
                ))
            }
        };
        if !PROJECT_ROLES.contains(&project_role) {
            return Err(invalid(
                VENDOR,
                "projectsPermissions",
                format!(
                    "project role {project_role:?} of project {project:?} is not one of {}",
                    PROJECT_ROLES.join(", ")
                ),
            ));
        }
    }
    Ok(role)
}

/// A 404 from a collection endpoint means a wrong base URL, not a missing object.
fn endpoint_missing(error: BackendError, path: &str) -> BackendError {
    match error {
        BackendError::NotFound { .. } => BackendError::Http {
            vendor: VENDOR,
            status: 404,
            code: None,
            message: format!("{path} was not found; check base_url"),
        },
        other => other,
    }
}

/// env0's error bodies (undocumented): `message` as a string or a list of strings
/// (validation errors), with `error` or `code` as the code; else the generic reading.
pub fn parse_env0_error(status: u16, body: &serde_json::Value) -> Option<VendorError> {
    let _ = status;
    let obj = body.as_object()?;
    let message = match obj.get("message")? {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::trim))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
        _ => return None,
    };
    if message.is_empty() {
        return None;
    }
    let code = ["code", "error"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(|v| v.as_str()))
        .map(str::to_string)
        .filter(|c| !c.is_empty() && *c != message);
    Some(VendorError {
        code,
        message,
        field: None,
    })
}

// ----- pacing -----------------------------------------------------------------------------

/// Sliding-window pacing per bucket (method + path template). A slot is taken by every
/// attempt and counts until one window after the request it belongs to finished.
struct Pacer {
    limit: RateLimit,
    buckets: Mutex<HashMap<&'static str, Bucket>>,
    freed: Notify,
}

#[derive(Default)]
struct Bucket {
    next_slot: u64,
    in_flight: HashSet<u64>,
    /// When finished slots were freed, oldest first.
    finished: VecDeque<Instant>,
}

impl Pacer {
    fn new(limit: RateLimit) -> Self {
        Pacer {
            limit,
            buckets: Mutex::new(HashMap::new()),
            freed: Notify::new(),
        }
    }

    /// Waits for a slot in `bucket` and takes it.
    async fn acquire(&self, bucket: &'static str) -> u64 {
        let mut waited = false;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let wake_at = {
                let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                let b = buckets.entry(bucket).or_default();
                let now = Instant::now();
                while b
                    .finished
                    .front()
                    .is_some_and(|t| *t + self.limit.window <= now)
                {
                    b.finished.pop_front();
                }
                if b.in_flight.len() + b.finished.len() < self.limit.requests as usize {
                    b.next_slot += 1;
                    b.in_flight.insert(b.next_slot);
                    return b.next_slot;
                }
                b.finished.front().map(|t| *t + self.limit.window)
            };
            if !waited {
                waited = true;
                tracing::debug!(
                    vendor = VENDOR,
                    bucket,
                    limit = self.limit.requests,
                    window_ms = self.limit.window.as_millis() as u64,
                    "pacing: waiting for the rate limit"
                );
            }
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = &mut freed => {}
                    }
                }
                None => freed.await,
            }
        }
    }

    /// Starts the window of a finished slot.
    fn finish(&self, bucket: &'static str, slot: u64) {
        let first_finished = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            let b = buckets.entry(bucket).or_default();
            let first = b.finished.is_empty();
            if b.in_flight.remove(&slot) {
                b.finished.push_back(Instant::now());
            }
            first
        };
        // Waiters sleep until the oldest finished slot expires; only those that saw none
        // (every slot in flight) need to learn when that will be.
        if first_finished {
            self.freed.notify_waiters();
        }
    }
}

/// Basic auth that first takes a pacing slot for each attempt. An attempt's slot is finished
/// when the next attempt starts (the previous one is over by then) or when this drops (the
/// request is over, or was abandoned), so a request never waits on its own earlier attempt.
struct PacedAuth<'a> {
    inner: &'a BasicAuth,
    pacer: &'a Pacer,
    bucket: &'static str,
    slot: Mutex<Option<u64>>,
}

impl fmt::Debug for PacedAuth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacedAuth")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl Drop for PacedAuth<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self
            .slot
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            self.pacer.finish(self.bucket, slot);
        }
    }
}

#[async_trait::async_trait]
impl Authenticator for PacedAuth<'_> {
    async fn authorize(
        &self,
        http: &HttpClient,
        req: &AuthRequest<'_>,
    ) -> Result<Option<HeaderValue>, BackendError> {
        let previous = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(previous) = previous {
            self.pacer.finish(self.bucket, previous);
        }
        let slot = self.pacer.acquire(self.bucket).await;
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(slot);
        self.inner.authorize(http, req).await
    }
}

// ----- wire types -------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateOrgBody<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    photo_url: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateKeyBody<'a> {
    name: &'a str,
    organization_id: &'a str,
    permissions: Permissions<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Permissions<'a> {
    organization_role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    projects_permissions: Option<Vec<ProjectPermission<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectPermission<'a> {
    project_id: &'a str,
    project_role: &'a str,
}

/// The Organization object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrgWire {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    photo_url: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    max_ttl: Option<String>,
    #[serde(default)]
    default_ttl: Option<String>,
    #[serde(default)]
    project_custom_flows_policy: Option<String>,
    #[serde(default)]
    do_not_report_skipped_status_checks: Option<bool>,
    #[serde(default)]
    do_not_consider_merge_commits_for_pr_plans: Option<bool>,
    #[serde(default)]
    enable_oidc: Option<bool>,
    #[serde(default)]
    enforce_pr_commenter_permissions: Option<bool>,
    #[serde(default)]
    allow_env0_secrets: Option<bool>,
    #[serde(default)]
    require_approval_for_pr_applies: Option<bool>,
}

impl OrgWire {
    fn into_org(self) -> Org {
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
struct KeyWire {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    api_key_id: Option<String>,
    #[serde(default, deserialize_with = "secret_opt")]
    api_key_secret: Option<Secret>,
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    organization_role: Option<String>,
    #[serde(default)]
    permissions: Option<PermissionsWire>,
    #[serde(default)]
    created_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PermissionsWire {
    #[serde(default)]
    organization_role: Option<String>,
}

fn secret_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

impl KeyWire {
    fn into_api_key(self, org_id: &str) -> ApiKey {
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

#[cfg(test)]
mod tests;
