//! MongoDB Atlas Administration API v2 client: organizations (`/api/atlas/v2/orgs`) and
//! organization API keys (`/api/atlas/v2/orgs/{orgId}/apiKeys`).
//!
//! # Requests
//! Every request sends `Accept: application/vnd.atlas.2023-01-01+json`, and bodies are sent
//! with that media type as `Content-Type`. Ids are checked (24 hex digits) before they are
//! put in a URL path; a bad one is a [`BackendError::Invalid`] with status 0 and `field`
//! `orgId` or `apiUserId` (the API's own names; `desc` and `roles` likewise for the body).
//!
//! # Authentication
//! - **HTTP Digest** (programmatic API key): the first request goes out without credentials
//!   and is answered 401 with a `WWW-Authenticate: Digest` challenge; it is replayed (same
//!   method, URI and body) with the answer. The challenge is kept and reused, `nc` counting
//!   up, so that afterwards every call is a single round trip. A 401 to a cached nonce gets
//!   one re-challenge; a 401 to a fresh answer is retried only when the server says
//!   `stale=true` or another request replaced the nonce meanwhile (at most 3 re-sends in
//!   all). Anything else is [`BackendError::Unauthenticated`].
//! - **OAuth2 client credentials** (service account): `POST {base}/api/oauth/token` with
//!   Basic `client_id:client_secret` and `grant_type=client_credentials`. The bearer token is
//!   reused until 10 minutes before `expires_in` runs out (half the lifetime for tokens of
//!   less than 20 minutes; 3600 s when the server does not say), like the official provider.
//!   One fetch at a time: concurrent callers wait for it and share the token. A 401 to a
//!   cached token drops it and fetches a new one once.
//!
//! # Reads
//! [`Backend::get_api_key`] serves from one listing of the organization shared for
//! [`ListCache::DEFAULT_TTL`] (concurrent callers wait on the same fetch); a key absent from
//! it is confirmed with a real GET. Listings read every page (`itemsPerPage=500`, `pageNum`
//! from 1, `includeCount=false`) until a short or empty page. Every write invalidates the
//! organization's listing. Roles read back keep only `ORG_*` roles of the key's organization;
//! Atlas reports no creation time, so `created_at` is `None`.
//!
//! # Creates that fail ambiguously (SPEC §6)
//! A POST is retried only when Atlas provably did not act (429, no connection). After a
//! timeout, a reset, a 5xx or an undecodable 200, the client reconciles: it lists the
//! organization and looks for keys with the same `desc` whose id, a MongoDB ObjectId, was
//! minted during the failed POST. Ids start with their creation time in seconds by the
//! server's clock; the client calibrates its own clock against the `Date` header of the
//! listing, and accepts ids from 3 s before the POST was sent to 3 s after it failed
//! (5 minutes either side when Atlas sends no `Date`). Keys this client created itself are
//! never candidates, and creates of the same `desc` in the same organization are fenced by a
//! read/write lock so that a sibling's create is never in flight during a reconciliation.
//! Every candidate is deleted (its secret is lost), then the key is created once more (and
//! again, up to `max_retries` times, as long as each attempt fails ambiguously and is
//! cleaned up); after the last one the error is returned, its orphans deleted too.
//! Nothing is left behind unless the listing itself fails, which the error then says.
//! This needs no listing before each POST, so creates stay one request each.
//!
//! # Organizations
//! - Create: `POST /api/atlas/v2/orgs` `{name, orgOwnerId?}` → `201 {organization: {id, name,
//!   …}, …}`. The name is checked against Atlas's pattern `^[\p{L}\p{N}\-_.(),:&@+']{1,64}$`
//!   and `orgOwnerId` (required by Atlas when the caller is an API key) against 24 hex digits
//!   before sending; fields Atlas has no place for are refused. The request asks for no
//!   initial API key or service account, so its answer carries no secret. After an
//!   ambiguous failure the client therefore *adopts* rather than deletes: it lists the
//!   organizations of that name and takes the one whose id (an ObjectId, hence a creation
//!   time) was minted during the failed POST, deleting any further ones the lost attempts
//!   made; when none is found (looking up to three times) it creates once more.
//! - Read: `GET /api/atlas/v2/orgs/{orgId}` (an organization reported `isDeleted` is
//!   [`BackendError::NotFound`]). Atlas reports no creation time: `created_at` is `None`.
//! - Look up by name: `GET /api/atlas/v2/orgs?name=` is a case-insensitive *prefix* search,
//!   so every page is read (`itemsPerPage=500`) and only the exact name kept.
//! - Rename: `PATCH /api/atlas/v2/orgs/{orgId}` `{name}`.
//! - Delete: `DELETE /api/atlas/v2/orgs/{orgId}` → 204; 404 = already gone. A refusal (409
//!   with projects left, 402 with unpaid invoices) is the error, with Atlas's `detail`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use digest_auth::{AuthContext, AuthorizationHeader, HttpMethod, WwwAuthenticateHeader};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use super::http::{
    sensitive_header, AuthRequest, Authenticator, Backoff, BasicAuth, HttpClient, HttpSettings,
    Request, Response, RetryPolicy, SendError, VendorError,
};
use super::list_cache::ListCache;
use super::support::{look_delays, CreateWindow, Fences};
use super::{
    ApiKey, ApiKeyUpdate, Backend, BackendError, BackendKind, CreatedApiKey, CreatedOrg, NewApiKey,
    NewOrg, Org, OrgUpdate, Secret,
};

const VENDOR: &str = "atlas";

/// The versioned media type of the org and API-key endpoints.
pub const MEDIA_TYPE: &str = "application/vnd.atlas.2023-01-01+json";

/// Page size of listings (the API's maximum).
pub const ITEMS_PER_PAGE: usize = 500;

/// How the client authenticates to Atlas.
#[derive(Debug, Clone)]
pub enum AtlasAuth {
    /// A programmatic API key, by HTTP Digest.
    Digest {
        /// The public key (Digest username).
        public_key: String,
        /// The private key (Digest password).
        private_key: Secret,
    },
    /// A service account, by OAuth2 client credentials.
    ServiceAccount {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
    },
}

/// Everything needed to build an [`AtlasClient`].
#[derive(Debug, Clone)]
pub struct AtlasConfig {
    /// e.g. `https://cloud.mongodb.com`.
    pub base_url: String,
    /// Credentials.
    pub auth: AtlasAuth,
    /// Shared HTTP settings.
    pub http: HttpSettings,
}

/// Creates of one (orgId, desc) hold it shared; a reconciliation holds it exclusively.
type Fence = Arc<tokio::sync::RwLock<()>>;

/// A MongoDB Atlas client. See the module documentation for its behaviour.
pub struct AtlasClient {
    http: HttpClient,
    auth: Box<dyn Authenticator>,
    keys: ListCache<ApiKey>,
    /// Ids of keys this client created: never reconciliation candidates.
    created: Mutex<HashSet<String>>,
    /// (orgId, desc) → fence between creates (read) and reconciliations (write).
    create_fences: Mutex<HashMap<(String, String), Fence>>,
    /// Organization name → fence between creates and a reconciliation.
    org_fences: Fences,
    /// Base of the waits between looks at a listing while reconciling an organization.
    look_base: Duration,
}

impl fmt::Debug for AtlasClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtlasClient")
            .field("base_url", &self.http.base_url().as_str())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl AtlasClient {
    /// A client for `cfg`. Fails with [`BackendError::Config`] on a malformed base URL
    /// (see [`super::http::parse_base_url`]) or empty credentials.
    pub fn new(cfg: AtlasConfig) -> Result<Self, BackendError> {
        let http =
            HttpClient::new(VENDOR, &cfg.base_url, &cfg.http)?.with_error_parser(parse_atlas_error);
        let config_error = |message: &str| BackendError::Config {
            vendor: VENDOR,
            message: message.to_string(),
        };
        let auth: Box<dyn Authenticator> = match cfg.auth {
            AtlasAuth::Digest {
                public_key,
                private_key,
            } => {
                if public_key.trim().is_empty() || private_key.expose().is_empty() {
                    return Err(config_error("public_key and private_key must not be empty"));
                }
                Box::new(DigestAuth::new(public_key, private_key))
            }
            AtlasAuth::ServiceAccount {
                client_id,
                client_secret,
            } => {
                if client_id.trim().is_empty() || client_secret.expose().is_empty() {
                    return Err(config_error(
                        "client_id and client_secret must not be empty",
                    ));
                }
                Box::new(OAuthClientCredentials::new(&client_id, &client_secret)?)
            }
        };
        Ok(AtlasClient {
            http,
            auth,
            keys: ListCache::default(),
            created: Mutex::new(HashSet::new()),
            create_fences: Mutex::new(HashMap::new()),
            org_fences: Fences::default(),
            look_base: Backoff::default().initial,
        })
    }

    /// Replaces the retry timing (tests shorten it).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.http = self.http.with_backoff(backoff);
        self.look_base = backoff.initial;
        self
    }

    /// Replaces the lifetime of the per-organization key listing (default
    /// [`ListCache::DEFAULT_TTL`]).
    pub fn with_list_ttl(mut self, ttl: Duration) -> Self {
        self.keys = ListCache::new(ttl);
        self
    }

    /// The HTTP client (base URL, vendor).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Sends an Atlas request: adds the versioned `Accept` (and `Content-Type` for bodies).
    async fn send(&self, req: Request) -> Result<Response, SendError> {
        let media = HeaderValue::from_static(MEDIA_TYPE);
        let mut req = req.header(ACCEPT, media.clone());
        if req.body_bytes().is_some() {
            req = req.header(CONTENT_TYPE, media);
        }
        self.http.send(&req, self.auth.as_ref()).await
    }

    /// Every key of `org_id`, all pages, uncached, with the server's clock offset (server
    /// minus local, in seconds) when Atlas sent a `Date` header.
    async fn fetch_keys(&self, org_id: &str) -> Result<(Vec<ApiKey>, Option<i64>), BackendError> {
        let path = keys_path(org_id);
        let mut keys: Vec<ApiKey> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut offset = None;
        for page in 1.. {
            let resp = self
                .send(
                    Request::get(&path)
                        .query("itemsPerPage", ITEMS_PER_PAGE.to_string())
                        .query("pageNum", page.to_string())
                        .query("includeCount", "false")
                        .describe(format!("organization {org_id}")),
                )
                .await?;
            if offset.is_none() {
                offset = resp
                    .server_date()
                    .map(|server| (server - OffsetDateTime::now_utc()).whole_seconds());
            }
            let body: KeyPage = resp.json()?;
            let count = body.results.len();
            let mut new_ids = 0;
            for wire in body.results {
                if seen.insert(wire.id.clone()) {
                    new_ids += 1;
                    keys.push(wire.into_api_key(org_id));
                }
            }
            if count < ITEMS_PER_PAGE {
                break;
            }
            if new_ids == 0 {
                return Err(BackendError::BadResponse {
                    vendor: VENDOR,
                    status: resp.status().as_u16(),
                    message: format!("page {page} of the key listing repeats earlier keys; pagination does not advance"),
                });
            }
        }
        Ok((keys, offset))
    }

    fn fence(&self, org_id: &str, desc: &str) -> Fence {
        let mut fences = self.create_fences.lock().unwrap_or_else(|e| e.into_inner());
        // Drop fences nobody holds any more, so the map stays small.
        fences.retain(|_, f| Arc::strong_count(f) > 1);
        Arc::clone(
            fences
                .entry((org_id.to_ascii_lowercase(), desc.to_string()))
                .or_default(),
        )
    }

    fn remember_created(&self, id: &str) {
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_ascii_lowercase());
    }

    fn is_own(&self, id: &str) -> bool {
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id.to_ascii_lowercase())
    }

    /// One POST of a key. `Err` with `ambiguous` when Atlas may have created it anyway.
    async fn post_key(
        &self,
        org_id: &str,
        body: &CreateKeyBody<'_>,
    ) -> Result<CreatedApiKey, SendError> {
        let req = Request::post(keys_path(org_id))
            .json(body)?
            .retry(RetryPolicy::Create)
            .sensitive_response()
            .describe(format!("organization {org_id}"));
        let resp = self.send(req).await?;
        // A 2xx means the key exists: failing to read it is as ambiguous as a timeout.
        let ambiguous = |error: BackendError| SendError {
            error,
            ambiguous: true,
        };
        let wire: KeyWire = resp.json().map_err(ambiguous)?;
        let Some(secret) = wire.private_key.clone().filter(|s| !s.expose().is_empty()) else {
            return Err(ambiguous(BackendError::BadResponse {
                vendor: VENDOR,
                status: resp.status().as_u16(),
                message: "the created key came back without its privateKey".into(),
            }));
        };
        if !is_object_id(&wire.id) {
            return Err(ambiguous(BackendError::BadResponse {
                vendor: VENDOR,
                status: resp.status().as_u16(),
                message: "the created key came back without a valid id".into(),
            }));
        }
        self.remember_created(&wire.id);
        Ok(CreatedApiKey {
            key: wire.into_api_key(org_id),
            secret,
        })
    }

    /// Finds and deletes keys named `desc` that a failed POST (sent at `sent`, failed at
    /// `failed`, local clock) may have created. Returns the ids deleted.
    async fn reconcile(
        &self,
        org_id: &str,
        desc: &str,
        sent: OffsetDateTime,
        failed: OffsetDateTime,
    ) -> Result<Vec<String>, BackendError> {
        let mut candidates = Vec::new();
        for look in 0..2 {
            if look > 0 {
                // Nothing found: give an eventually consistent listing a moment, once.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let (keys, offset) = self.fetch_keys(org_id).await?;
            let (offset, margin) = match offset {
                Some(o) => (o, 3),
                None => (0, 300),
            };
            let from = sent.unix_timestamp() + offset - margin;
            let to = failed.unix_timestamp() + offset + margin;
            candidates = keys
                .into_iter()
                .filter(|k| k.name == desc && !self.is_own(&k.id))
                .filter(|k| object_id_seconds(&k.id).is_some_and(|t| (from..=to).contains(&t)))
                .map(|k| k.id)
                .collect();
            if !candidates.is_empty() {
                break;
            }
        }
        for id in &candidates {
            tracing::warn!(
                vendor = VENDOR,
                org_id,
                key_id = %id,
                "deleting an API key created by a create request whose outcome was lost (its secret is unknown)"
            );
            self.delete_key(org_id, id).await?;
        }
        Ok(candidates)
    }

    async fn delete_key(&self, org_id: &str, id: &str) -> Result<(), BackendError> {
        let result = self
            .send(Request::delete(key_path(org_id, id)).describe(format!("api key {id}")))
            .await;
        self.keys.invalidate(org_id);
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.error.is_not_found() => Ok(()),
            Err(e) => Err(e.error),
        }
    }
}

/// Organizations.
impl AtlasClient {
    /// Every organization whose name starts with `prefix` (case-insensitive), all pages,
    /// with the server's clock offset when Atlas sent a `Date` header.
    async fn fetch_orgs(&self, prefix: &str) -> Result<(Vec<OrgWire>, Option<i64>), BackendError> {
        let mut orgs: Vec<OrgWire> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut offset = None;
        for page in 1.. {
            let resp = self
                .send(
                    Request::get(ORGS_PATH)
                        .query("name", prefix)
                        .query("itemsPerPage", ITEMS_PER_PAGE.to_string())
                        .query("pageNum", page.to_string())
                        .query("includeCount", "false")
                        .describe("the Atlas organizations endpoint"),
                )
                .await
                .map_err(|e| orgs_endpoint_missing(e.error))?;
            if offset.is_none() {
                offset = resp
                    .server_date()
                    .map(|server| (server - OffsetDateTime::now_utc()).whole_seconds());
            }
            let body: OrgPage = resp.json()?;
            let count = body.results.len();
            let mut new_ids = 0;
            for wire in body.results {
                if seen.insert(wire.id.to_ascii_lowercase()) {
                    new_ids += 1;
                    orgs.push(wire);
                }
            }
            if count < ITEMS_PER_PAGE {
                break;
            }
            if new_ids == 0 {
                return Err(BackendError::BadResponse {
                    vendor: VENDOR,
                    status: resp.status().as_u16(),
                    message: format!("page {page} of the organization listing repeats earlier organizations; pagination does not advance"),
                });
            }
        }
        Ok((orgs, offset))
    }

    /// One POST of an organization. `Err` with `ambiguous` when Atlas may have created it.
    async fn post_org(&self, body: &CreateOrgBody<'_>) -> Result<Org, SendError> {
        let req = Request::post(ORGS_PATH)
            .json(body)?
            .retry(RetryPolicy::Create)
            // Never asked for here, but an answer with an apiKey would hold its private key.
            .sensitive_response()
            .describe("the Atlas organizations endpoint");
        let resp = self.send(req).await.map_err(|e| SendError {
            ambiguous: e.ambiguous,
            error: orgs_endpoint_missing(e.error),
        })?;
        let ambiguous = |error: BackendError| SendError {
            error,
            ambiguous: true,
        };
        let wire: CreateOrgResponse = resp.json().map_err(ambiguous)?;
        match wire.organization {
            Some(org) if is_object_id(&org.id) => {
                self.remember_created(&org.id);
                Ok(org.into_org())
            }
            _ => Err(ambiguous(BackendError::BadResponse {
                vendor: VENDOR,
                status: resp.status().as_u16(),
                message: "the created organization came back without a valid id".into(),
            })),
        }
    }

    /// Organizations named `name` that a lost create in `window` may have made, oldest
    /// first.
    async fn lost_orgs(&self, name: &str, window: CreateWindow) -> Result<Vec<Org>, BackendError> {
        let mut candidates: Vec<Org> = Vec::new();
        for delay in look_delays(self.look_base) {
            tokio::time::sleep(delay).await;
            let (orgs, offset) = self.fetch_orgs(name).await?;
            candidates = orgs
                .into_iter()
                .filter(|o| o.name == name && !o.is_deleted && !self.is_own(&o.id))
                .filter(|o| object_id_seconds(&o.id).is_some_and(|t| window.contains(t, offset)))
                .map(OrgWire::into_org)
                .collect();
            if !candidates.is_empty() {
                break;
            }
        }
        candidates.sort_by_key(|o| o.id.to_ascii_lowercase());
        Ok(candidates)
    }

    async fn delete_org_by_id(&self, id: &str) -> Result<(), BackendError> {
        match self
            .send(Request::delete(org_path(id)).describe(format!("organization {id}")))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.error.is_not_found() => Ok(()),
            Err(e) => Err(e.error),
        }
    }
}

#[async_trait::async_trait]
impl Backend for AtlasClient {
    fn kind(&self) -> BackendKind {
        BackendKind::Atlas
    }

    async fn create_api_key(&self, new: &NewApiKey) -> Result<CreatedApiKey, BackendError> {
        let org_id = new.org_id.as_deref().ok_or_else(|| {
            invalid(
                "orgId",
                "an organization id is required to create an Atlas API key",
            )
        })?;
        check_id("orgId", org_id)?;
        check_desc(&new.name)?;
        check_roles(&new.roles)?;
        let body = CreateKeyBody {
            desc: &new.name,
            roles: &new.roles,
        };
        let fence = self.fence(org_id, &new.name);
        let mut reconciled: Vec<String> = Vec::new();
        // Each lost create is cleaned up before the next, so trying again is safe: once more
        // at least, up to `max_retries` times.
        let max_rounds = self.http.max_retries().max(1) + 1;
        let mut round = 0;
        loop {
            round += 1;
            let sent = OffsetDateTime::now_utc();
            let result = {
                let _create = fence.read().await;
                self.post_key(org_id, &body).await
            };
            self.keys.invalidate(org_id);
            let error = match result {
                Ok(created) => {
                    if !reconciled.is_empty() {
                        tracing::info!(
                            vendor = VENDOR,
                            org_id,
                            deleted = reconciled.len(),
                            "API key created after cleaning up a lost create"
                        );
                    }
                    return Ok(created);
                }
                Err(SendError {
                    error,
                    ambiguous: false,
                }) => return Err(error),
                Err(SendError { error, .. }) => error,
            };
            let failed = OffsetDateTime::now_utc();
            tracing::warn!(
                vendor = VENDOR,
                org_id,
                round,
                error = %error,
                "creating an API key failed without a clear outcome; reconciling"
            );
            let _reconcile = fence.write().await;
            match self.reconcile(org_id, &new.name, sent, failed).await {
                Ok(deleted) => reconciled.extend(deleted),
                Err(check) => {
                    return Err(annotate(
                        error,
                        &format!(
                            "; checking whether the key was created anyway also failed ({check}): \
                             an API key described {:?} may exist in organization {org_id} without its secret",
                            new.name
                        ),
                    ))
                }
            }
            if round >= max_rounds {
                let note = if reconciled.is_empty() {
                    "; no key was left behind".to_string()
                } else {
                    format!(
                        "; the {} key(s) it may have created were found and deleted",
                        reconciled.len()
                    )
                };
                return Err(annotate(error, &note));
            }
        }
    }

    async fn get_api_key(&self, org_id: &str, id: &str) -> Result<ApiKey, BackendError> {
        check_id("orgId", org_id)?;
        check_id("apiUserId", id)?;
        let listing = self
            .keys
            .get_or_fetch(org_id, || async {
                self.fetch_keys(org_id).await.map(|(keys, _)| keys)
            })
            .await?;
        if let Some(key) = listing.iter().find(|k| k.id.eq_ignore_ascii_case(id)) {
            return Ok(key.clone());
        }
        // Not in the listing: it may be newer than the listing. Ask for it directly.
        let resp = self
            .send(Request::get(key_path(org_id, id)).describe(format!("api key {id}")))
            .await?;
        let wire: KeyWire = resp.json()?;
        Ok(wire.into_api_key(org_id))
    }

    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, BackendError> {
        check_id("orgId", org_id)?;
        let (keys, _) = self.fetch_keys(org_id).await?;
        self.keys.put(org_id, keys.clone());
        Ok(keys)
    }

    async fn update_api_key(
        &self,
        org_id: &str,
        id: &str,
        update: &ApiKeyUpdate,
    ) -> Result<ApiKey, BackendError> {
        check_id("orgId", org_id)?;
        check_id("apiUserId", id)?;
        if let Some(desc) = &update.name {
            check_desc(desc)?;
        }
        if let Some(roles) = &update.roles {
            check_roles(roles)?;
        }
        if update.name.is_none() && update.roles.is_none() {
            return self.get_api_key(org_id, id).await;
        }
        let body = UpdateKeyBody {
            desc: update.name.as_deref(),
            roles: update.roles.as_deref(),
        };
        let req = Request::patch(key_path(org_id, id))
            .json(&body)?
            .describe(format!("api key {id}"));
        let result = self.send(req).await;
        self.keys.invalidate(org_id);
        let wire: KeyWire = result?.json()?;
        Ok(wire.into_api_key(org_id))
    }

    async fn delete_api_key(&self, org_id: &str, id: &str) -> Result<(), BackendError> {
        check_id("orgId", org_id)?;
        check_id("apiUserId", id)?;
        self.delete_key(org_id, id).await
    }

    async fn create_org(&self, new: &NewOrg) -> Result<CreatedOrg, BackendError> {
        check_org_name(&new.name)?;
        if let Some(owner) = &new.owner_id {
            check_id("orgOwnerId", owner)?;
        }
        let unsupported = [
            ("description", new.description.is_some()),
            ("photo_url", new.photo_url.is_some()),
            ("environments", new.environments.is_some()),
            ("retention_hours", new.retention_hours.is_some()),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(invalid(
                field,
                &format!("Atlas organizations have no {field}"),
            ));
        }
        let body = CreateOrgBody {
            name: &new.name,
            org_owner_id: new.owner_id.as_deref(),
        };
        let fence = self.org_fences.get(new.name.clone());
        let max_rounds = self.http.max_retries().max(1) + 1;
        let mut round = 0;
        loop {
            round += 1;
            let sent = OffsetDateTime::now_utc();
            let result = {
                let _create = fence.read().await;
                self.post_org(&body).await
            };
            let error = match result {
                Ok(org) => {
                    return Ok(CreatedOrg {
                        org,
                        ..CreatedOrg::default()
                    })
                }
                Err(SendError {
                    error,
                    ambiguous: false,
                }) => return Err(error),
                Err(SendError { error, .. }) => error,
            };
            let window = CreateWindow {
                sent,
                failed: OffsetDateTime::now_utc(),
            };
            tracing::warn!(
                vendor = VENDOR,
                round,
                error = %error,
                "creating an organization failed without a clear outcome; reconciling"
            );
            let _reconcile = fence.write().await;
            let found = match self.lost_orgs(&new.name, window).await {
                Ok(found) => found,
                Err(check) => {
                    return Err(annotate(
                        error,
                        &format!(
                            "; checking whether the organization was created anyway also failed \
                             ({check}): an organization named {:?} may exist",
                            new.name
                        ),
                    ))
                }
            };
            if let Some((keep, extra)) = found.split_first() {
                for org in extra {
                    tracing::warn!(
                        vendor = VENDOR,
                        org_id = %org.id,
                        "deleting a duplicate organization made by a create request whose outcome was lost"
                    );
                    if let Err(e) = self.delete_org_by_id(&org.id).await {
                        let ids: Vec<&str> = found.iter().map(|o| o.id.as_str()).collect();
                        return Err(annotate(
                            error,
                            &format!(
                                "; the lost creates made {} organizations named {:?} ({}) and \
                                 deleting the extra ones failed ({e}): import one and delete the others",
                                found.len(),
                                new.name,
                                ids.join(", ")
                            ),
                        ));
                    }
                }
                tracing::info!(
                    vendor = VENDOR,
                    org_id = %keep.id,
                    "the lost organization create took effect; using the organization it made"
                );
                self.remember_created(&keep.id);
                return Ok(CreatedOrg {
                    org: keep.clone(),
                    ..CreatedOrg::default()
                });
            }
            if round >= max_rounds {
                return Err(annotate(
                    error,
                    "; no organization made by these attempts was found",
                ));
            }
        }
    }

    async fn get_org(&self, id: &str) -> Result<Org, BackendError> {
        check_id("orgId", id)?;
        let resp = self
            .send(Request::get(org_path(id)).describe(format!("organization {id}")))
            .await?;
        let wire: OrgWire = resp.json()?;
        if wire.is_deleted {
            return Err(BackendError::NotFound {
                what: format!("organization {id}"),
            });
        }
        Ok(wire.into_org())
    }

    async fn find_org_by_name(&self, name: &str) -> Result<Org, BackendError> {
        if name.is_empty() {
            return Err(invalid("name", "the organization name must not be empty"));
        }
        let (orgs, _) = self.fetch_orgs(name).await?;
        let mut found: Vec<Org> = orgs
            .into_iter()
            .filter(|o| o.name == name && !o.is_deleted)
            .map(OrgWire::into_org)
            .collect();
        match found.len() {
            0 => Err(BackendError::NotFound {
                what: format!("organization named {name:?}"),
            }),
            1 => Ok(found.remove(0)),
            n => {
                let ids: Vec<&str> = found.iter().map(|o| o.id.as_str()).collect();
                Err(invalid(
                    "name",
                    &format!(
                        "{n} Atlas organizations are named {name:?} ({}); look one up by id",
                        ids.join(", ")
                    ),
                ))
            }
        }
    }

    async fn update_org(&self, id: &str, update: &OrgUpdate) -> Result<Org, BackendError> {
        check_id("orgId", id)?;
        check_org_name(&update.name)?;
        let req = Request::patch(org_path(id))
            .json(&UpdateOrgBody { name: &update.name })?
            .describe(format!("organization {id}"));
        let wire: OrgWire = self.send(req).await?.json()?;
        Ok(wire.into_org())
    }

    async fn delete_org(&self, id: &str) -> Result<(), BackendError> {
        check_id("orgId", id)?;
        self.delete_org_by_id(id).await
    }
}

/// The organizations collection.
pub const ORGS_PATH: &str = "/api/atlas/v2/orgs";

fn org_path(org_id: &str) -> String {
    format!("{ORGS_PATH}/{org_id}")
}

/// A 404 from the organizations collection means a wrong base URL, not a missing object.
fn orgs_endpoint_missing(error: BackendError) -> BackendError {
    match error {
        BackendError::NotFound { .. } => BackendError::Http {
            vendor: VENDOR,
            status: 404,
            code: None,
            message: format!("{ORGS_PATH} was not found; check base_url"),
        },
        other => other,
    }
}

/// Whether `name` matches Atlas's `^[\p{L}\p{N}\-_.(),:&@+']{1,64}$`. Letters and numbers
/// are judged by Rust's `char::is_alphabetic`/`is_numeric` (Unicode Alphabetic and Numeric),
/// which also admit a few combining marks that `\p{L}` does not; Atlas has the last word
/// on those.
pub fn is_valid_org_name(name: &str) -> bool {
    let len = name.chars().count();
    (1..=64).contains(&len)
        && name
            .chars()
            .all(|c| c.is_alphabetic() || c.is_numeric() || "-_.(),:&@+'".contains(c))
}

fn check_org_name(name: &str) -> Result<(), BackendError> {
    if is_valid_org_name(name) {
        Ok(())
    } else {
        Err(invalid(
            "name",
            &format!(
                "an Atlas organization name is 1 to 64 letters, digits and -_.(),:&@+' (no spaces), got {:?}",
                shorten(name, 80)
            ),
        ))
    }
}

fn keys_path(org_id: &str) -> String {
    format!("/api/atlas/v2/orgs/{org_id}/apiKeys")
}

fn key_path(org_id: &str, id: &str) -> String {
    format!("/api/atlas/v2/orgs/{org_id}/apiKeys/{id}")
}

fn invalid(field: &str, message: &str) -> BackendError {
    BackendError::Invalid {
        vendor: VENDOR,
        status: 0,
        code: None,
        message: message.to_string(),
        field: Some(field.to_string()),
    }
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The creation time (Unix seconds) at the start of a MongoDB ObjectId.
fn object_id_seconds(id: &str) -> Option<i64> {
    if !is_object_id(id) {
        return None;
    }
    u32::from_str_radix(&id[..8], 16).ok().map(i64::from)
}

fn check_id(field: &str, value: &str) -> Result<(), BackendError> {
    if is_object_id(value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            &format!(
                "{field} must be 24 hexadecimal digits, got {:?}",
                shorten(value, 40)
            ),
        ))
    }
}

fn check_desc(desc: &str) -> Result<(), BackendError> {
    let len = desc.chars().count();
    if (1..=250).contains(&len) {
        Ok(())
    } else {
        Err(invalid(
            "desc",
            &format!("the description must be 1 to 250 characters long, got {len}"),
        ))
    }
}

fn check_roles(roles: &[String]) -> Result<(), BackendError> {
    if roles.is_empty() {
        return Err(invalid("roles", "at least one role is required"));
    }
    if let Some(bad) = roles.iter().find(|r| r.trim().is_empty()) {
        return Err(invalid("roles", &format!("invalid role {bad:?}")));
    }
    Ok(())
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// Appends `note` to the message of `error`.
fn annotate(error: BackendError, note: &str) -> BackendError {
    match error {
        BackendError::Transport { vendor, message } => BackendError::Transport {
            vendor,
            message: message + note,
        },
        BackendError::Http {
            vendor,
            status,
            code,
            message,
        } => BackendError::Http {
            vendor,
            status,
            code,
            message: message + note,
        },
        BackendError::BadResponse {
            vendor,
            status,
            message,
        } => BackendError::BadResponse {
            vendor,
            status,
            message: message + note,
        },
        other => other,
    }
}

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
struct CreateKeyBody<'a> {
    desc: &'a str,
    roles: &'a [String],
}

#[derive(Serialize)]
struct UpdateKeyBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    desc: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a [String]>,
}

#[derive(Deserialize)]
struct KeyPage {
    #[serde(default)]
    results: Vec<KeyWire>,
}

/// `ApiKeyUserDetails`. No `Debug`: it may hold the one-time private key.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyWire {
    id: String,
    #[serde(default)]
    desc: String,
    #[serde(default)]
    public_key: Option<String>,
    #[serde(default, deserialize_with = "secret_opt")]
    private_key: Option<Secret>,
    #[serde(default)]
    roles: Vec<RoleWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleWire {
    #[serde(default)]
    org_id: Option<String>,
    #[serde(default)]
    role_name: String,
}

fn secret_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

impl KeyWire {
    fn into_api_key(self, org_id: &str) -> ApiKey {
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
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateOrgBody<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_owner_id: Option<&'a str>,
}

#[derive(Serialize)]
struct UpdateOrgBody<'a> {
    name: &'a str,
}

/// `CreateOrganizationResponse`, only the part used. No `Debug`: it could hold an API key.
#[derive(Deserialize)]
struct CreateOrgResponse {
    #[serde(default)]
    organization: Option<OrgWire>,
}

#[derive(Deserialize)]
struct OrgPage {
    #[serde(default)]
    results: Vec<OrgWire>,
}

/// `AtlasOrganization`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrgWire {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    is_deleted: bool,
}

impl OrgWire {
    fn into_org(self) -> Org {
        Org {
            id: self.id,
            name: self.name,
            ..Org::default()
        }
    }
}

/// HTTP Digest with a cached challenge (see the module documentation).
struct DigestAuth {
    username: String,
    password: Secret,
    challenge: Mutex<Option<WwwAuthenticateHeader>>,
}

impl fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestAuth")
    }
}

impl DigestAuth {
    fn new(username: String, password: Secret) -> Self {
        DigestAuth {
            username,
            password,
            challenge: Mutex::new(None),
        }
    }
}

/// The Digest challenge among the `WWW-Authenticate` headers, parsed.
fn digest_challenge(headers: &HeaderMap) -> Option<WwwAuthenticateHeader> {
    headers.get_all(WWW_AUTHENTICATE).iter().find_map(|v| {
        let v = v.to_str().ok()?.trim();
        let (scheme, rest) = v.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        WwwAuthenticateHeader::parse(rest).ok()
    })
}

#[async_trait::async_trait]
impl Authenticator for DigestAuth {
    async fn authorize(
        &self,
        _http: &HttpClient,
        req: &AuthRequest<'_>,
    ) -> Result<Option<HeaderValue>, BackendError> {
        let mut guard = self.challenge.lock().unwrap_or_else(|e| e.into_inner());
        let Some(challenge) = guard.as_mut() else {
            return Ok(None);
        };
        let context = AuthContext::new_with_method(
            self.username.as_str(),
            self.password.expose(),
            req.uri,
            req.body,
            HttpMethod::from(req.method.as_str()),
        );
        match challenge.respond(&context) {
            Ok(answer) => Ok(Some(sensitive_header(VENDOR, &answer.to_header_string())?)),
            Err(_) => {
                // A challenge we cannot answer: forget it and let the server challenge again.
                *guard = None;
                Ok(None)
            }
        }
    }

    async fn on_unauthorized(
        &self,
        _req: &AuthRequest<'_>,
        sent: Option<&HeaderValue>,
        response_headers: &HeaderMap,
        round: u32,
    ) -> bool {
        let Some(challenge) = digest_challenge(response_headers) else {
            return false;
        };
        let sent_nonce = sent
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Digest "))
            .and_then(|v| AuthorizationHeader::parse(v).ok())
            .map(|h| h.nonce);
        let mut cached = self.challenge.lock().unwrap_or_else(|e| e.into_inner());
        // Another request replaced the challenge while this one was in flight: the refusal
        // may be a race on the nonce count rather than bad credentials.
        let raced = match (&sent_nonce, cached.as_ref()) {
            (Some(sent), Some(current)) => *sent != current.nonce,
            _ => false,
        };
        // Round 0: no cached challenge yet, or the cached nonce was refused: answer the new
        // one. Later rounds: the fresh answer was refused; only a stale nonce (or a race)
        // deserves another try.
        let retry = round == 0 || challenge.stale || raced;
        *cached = Some(challenge);
        retry
    }
}

/// OAuth2 client credentials with a shared, cached bearer token.
struct OAuthClientCredentials {
    basic: BasicAuth,
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

struct CachedToken {
    header: HeaderValue,
    renew_at: Instant,
}

impl fmt::Debug for OAuthClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OAuthClientCredentials")
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(deserialize_with = "secret_req")]
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    token_type: Option<String>,
}

fn secret_req<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    Ok(Secret::new(String::deserialize(d)?))
}

/// The path of the token endpoint, below the base URL.
pub const TOKEN_PATH: &str = "/api/oauth/token";

impl OAuthClientCredentials {
    fn new(client_id: &str, client_secret: &Secret) -> Result<Self, BackendError> {
        Ok(OAuthClientCredentials {
            basic: BasicAuth::new(VENDOR, client_id, client_secret)?,
            token: tokio::sync::Mutex::new(None),
        })
    }

    async fn fetch(&self, http: &HttpClient) -> Result<CachedToken, BackendError> {
        let started = Instant::now();
        let req = Request::post(TOKEN_PATH)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .body(
                HeaderValue::from_static("application/x-www-form-urlencoded"),
                "grant_type=client_credentials",
            )
            // Minting a token twice is harmless.
            .retry(RetryPolicy::Idempotent)
            .sensitive_response()
            .describe("the OAuth token endpoint");
        let resp = http
            .send(&req, &self.basic)
            .await
            .map_err(|e| match e.error {
                // Never let an auth failure read as "the object is gone" or "bad input".
                BackendError::NotFound { .. } => BackendError::Http {
                    vendor: VENDOR,
                    status: 404,
                    code: None,
                    message: format!(
                        "the OAuth token endpoint {TOKEN_PATH} was not found; check base_url"
                    ),
                },
                BackendError::Invalid {
                    status, message, ..
                } => BackendError::Unauthenticated {
                    vendor: VENDOR,
                    status,
                    message,
                },
                other => other,
            })?;
        let token: TokenResponse = resp.json()?;
        if let Some(kind) = &token.token_type {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(BackendError::BadResponse {
                    vendor: VENDOR,
                    status: resp.status().as_u16(),
                    message: format!(
                        "the token endpoint issued a {kind:?} token, not a bearer token"
                    ),
                });
            }
        }
        let lifetime = token.expires_in.unwrap_or(3600).max(1);
        let margin = (lifetime / 2).min(600);
        tracing::debug!(
            vendor = VENDOR,
            lifetime_s = lifetime,
            "fetched an OAuth access token"
        );
        Ok(CachedToken {
            header: sensitive_header(VENDOR, &format!("Bearer {}", token.access_token.expose()))?,
            renew_at: started + Duration::from_secs(lifetime - margin),
        })
    }
}

#[async_trait::async_trait]
impl Authenticator for OAuthClientCredentials {
    async fn authorize(
        &self,
        http: &HttpClient,
        _req: &AuthRequest<'_>,
    ) -> Result<Option<HeaderValue>, BackendError> {
        // Held across the fetch: one fetch at a time, waiters get its token.
        let mut guard = self.token.lock().await;
        if let Some(token) = guard.as_ref() {
            if Instant::now() < token.renew_at {
                return Ok(Some(token.header.clone()));
            }
        }
        let token = self.fetch(http).await?;
        let header = token.header.clone();
        *guard = Some(token);
        Ok(Some(header))
    }

    async fn on_unauthorized(
        &self,
        _req: &AuthRequest<'_>,
        sent: Option<&HeaderValue>,
        _response_headers: &HeaderMap,
        round: u32,
    ) -> bool {
        if round > 0 {
            return false;
        }
        let mut guard = self.token.lock().await;
        if guard.as_ref().map(|t| &t.header) == sent {
            *guard = None;
        }
        true
    }
}

#[cfg(test)]
mod tests;
