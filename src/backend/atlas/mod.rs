//! MongoDB Atlas Administration API v2 client: organizations (`/api/atlas/v2/orgs`) and
//! organization API keys (`/api/atlas/v2/orgs/{orgId}/apiKeys`).
//!
//! # Requests
//! Every request sends `Accept: application/vnd.atlas.2023-01-01+json`, and bodies are sent
//! with that media type as `Content-Type`. Ids are checked (24 hex digits) before they are
//! put in a URL path; a bad one is a [`BackendError::Invalid`] with status 0 and `field`
//! `orgId` or `apiUserId` (the API's own names; `desc` and `roles` likewise for the body).
//!
//! # Authentication (`auth`)
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
//! The private key, the client secret, every access token and every created key's private
//! key are redacted from Atlas's text ([`HttpClient::redactor`]).
//!
//! # Reads
//! [`Backend::get_api_key`] serves from one listing of the organization shared for
//! [`ListCache::DEFAULT_TTL`] (concurrent callers wait on the same fetch); a key absent from
//! it is confirmed with a real GET. Listings read every page (`itemsPerPage=500`, `pageNum`
//! from 1, `includeCount=false`) until a short or empty page, at most
//! `MAX_LISTING_ITEMS` (100,000) items. Every write invalidates the organization's
//! listing. Roles read back keep only `ORG_*` roles of the key's organization; Atlas reports no
//! creation time, so `created_at` is `None`.
//!
//! # Creates that fail ambiguously (SPEC §6)
//! A POST is retried only when Atlas provably did not act (429, no connection). After a
//! timeout, a reset, a 5xx or an undecodable 200, the client reconciles through
//! [`super::reconcile`]: a key is the lost attempt's only when it was absent from the
//! organization's listing taken before this process's first create there, has the same
//! `desc`, and has an id (a MongoDB ObjectId, which starts with its creation time in seconds
//! by Atlas's clock) minted during the attempt — one such key per lost attempt. It is deleted
//! (its secret is lost) and the key created once more; anything less certain is named in the
//! error and left alone.
//!
//! # Organizations
//! - Create: `POST /api/atlas/v2/orgs` `{name, orgOwnerId?}` → `201 {organization: {id, name,
//!   …}, …}`. The name is checked against Atlas's pattern `^[\p{L}\p{N}\-_.(),:&@+']{1,64}$`
//!   and `orgOwnerId` (required by Atlas when the caller is an API key) against 24 hex digits
//!   before sending; fields Atlas has no place for are refused. The request asks for no
//!   initial API key or service account, so its answer carries no secret. After an
//!   ambiguous failure the client therefore *adopts* rather than deletes: the organization
//!   proven (as for keys, against a listing of the caller's organizations taken before the
//!   first create) to be the lost attempt's is the result.
//! - Read: `GET /api/atlas/v2/orgs/{orgId}` (an organization reported `isDeleted` is
//!   [`BackendError::NotFound`]). Atlas reports no creation time: `created_at` is `None`.
//! - Look up by name: `GET /api/atlas/v2/orgs?name=` is a case-insensitive *prefix* search,
//!   so every page is read (`itemsPerPage=500`) and only the exact name kept.
//! - Rename: `PATCH /api/atlas/v2/orgs/{orgId}` `{name}`.
//! - Delete: `DELETE /api/atlas/v2/orgs/{orgId}` → 204; 404 = already gone. A refusal (409
//!   with projects left, 402 with unpaid invoices) is the error, with Atlas's `detail`.

mod assignments;
mod auth;
mod digest;
mod wire;

use std::fmt;
use std::time::Duration;

use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use time::OffsetDateTime;

use super::http::{
    Authenticator, Backoff, HttpClient, HttpSettings, Request, Response, RetryPolicy, SendError,
};
use super::list_cache::ListCache;
use super::reconcile::{clock_offset, Create, Listing, LostPolicy, Reconciler, Seen};
use super::support::{invalid as invalid_field, shorten, Pages};
use super::{
    ApiKey, ApiKeyUpdate, Backend, BackendError, BackendKind, CreatedApiKey, CreatedOrg, NewApiKey,
    NewOrg, Org, OrgUpdate, RoleChange, Secret,
};
pub use auth::TOKEN_PATH;
use auth::{DigestAuth, OAuthClientCredentials};
pub use wire::parse_atlas_error;
use wire::{
    CreateKeyBody, CreateOrgBody, CreateOrgResponse, KeyPage, KeyWire, OrgPage, OrgWire,
    UpdateKeyBody, UpdateOrgBody,
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

/// A MongoDB Atlas client. See the module documentation for its behaviour.
pub struct AtlasClient {
    http: HttpClient,
    auth: Box<dyn Authenticator>,
    keys: ListCache<ApiKey>,
    reconciler: Reconciler,
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
                http.redactor().add(private_key.expose());
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
                http.redactor()
                    .add_basic(&client_id, client_secret.expose());
                Box::new(OAuthClientCredentials::new(&client_id, &client_secret)?)
            }
        };
        Ok(AtlasClient {
            http,
            auth,
            keys: ListCache::default(),
            reconciler: Reconciler::default(),
        })
    }

    /// Replaces the retry timing (tests shorten it); reconciliation looks scale with it.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.http = self.http.with_backoff(backoff);
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

    /// Every page of an Atlas listing at `path` (with `extra` query parameters), with the
    /// server's clock offset when Atlas sent a `Date` header.
    async fn fetch_all<T>(
        &self,
        path: &str,
        extra: &[(&str, &str)],
        what: &str,
        page_of: impl Fn(&Response) -> Result<Vec<T>, BackendError>,
        id: impl Fn(&T) -> &str,
    ) -> Result<(Vec<T>, Option<i64>), SendError> {
        let mut pages = Pages::new(VENDOR, format!("GET {path}"));
        let mut offset = None;
        for page in 1.. {
            let mut req = Request::get(path);
            for (name, value) in extra {
                req = req.query(*name, *value);
            }
            let resp = self
                .send(
                    req.query("itemsPerPage", ITEMS_PER_PAGE.to_string())
                        .query("pageNum", page.to_string())
                        .query("includeCount", "false")
                        .describe(what),
                )
                .await?;
            if offset.is_none() {
                offset = clock_offset(&resp);
            }
            if !pages.add(page_of(&resp)?, ITEMS_PER_PAGE, &id)? {
                break;
            }
        }
        Ok((pages.into_items(), offset))
    }

    /// Every key of `org_id`, all pages, uncached, with the server's clock offset.
    async fn fetch_keys(&self, org_id: &str) -> Result<(Vec<ApiKey>, Option<i64>), BackendError> {
        let (wires, offset) = self
            .fetch_all(
                &keys_path(org_id),
                &[],
                &format!("organization {org_id}"),
                |resp| Ok(resp.json::<KeyPage>()?.results),
                |k: &KeyWire| k.id.as_str(),
            )
            .await?;
        let keys = wires.into_iter().map(|w| w.into_api_key(org_id)).collect();
        Ok((keys, offset))
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

    /// Every organization whose name starts with `prefix` (case-insensitive; all when empty),
    /// all pages, with the server's clock offset.
    async fn fetch_orgs(&self, prefix: &str) -> Result<(Vec<OrgWire>, Option<i64>), BackendError> {
        let extra: &[(&str, &str)] = if prefix.is_empty() {
            &[]
        } else {
            &[("name", prefix)]
        };
        self.fetch_all(
            ORGS_PATH,
            extra,
            "the Atlas organizations endpoint",
            |resp| Ok(resp.json::<OrgPage>()?.results),
            |o: &OrgWire| o.id.as_str(),
        )
        .await
        .map_err(|e| orgs_endpoint_missing(e.error))
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

/// The creation time (Atlas's clock) at the start of a MongoDB ObjectId.
fn object_id_time(id: &str) -> Option<OffsetDateTime> {
    if !is_object_id(id) {
        return None;
    }
    let seconds = u32::from_str_radix(&id[..8], 16).ok()?;
    OffsetDateTime::from_unix_timestamp(i64::from(seconds)).ok()
}

/// Creating one organization API key, for the reconcile driver.
struct KeyCreate<'a> {
    client: &'a AtlasClient,
    org_id: &'a str,
    body: CreateKeyBody<'a>,
}

#[async_trait::async_trait]
impl Create for KeyCreate<'_> {
    type Output = CreatedApiKey;
    fn noun(&self) -> &'static str {
        "API key"
    }
    const POLICY: LostPolicy = LostPolicy::Delete;

    fn name(&self) -> &str {
        self.body.desc
    }

    fn place(&self) -> String {
        format!("Atlas organization {}", self.org_id)
    }

    fn id_of(output: &CreatedApiKey) -> &str {
        &output.key.id
    }

    async fn post(&self) -> Result<CreatedApiKey, SendError> {
        let req = Request::post(keys_path(self.org_id))
            .json(&self.body)?
            .retry(RetryPolicy::Create)
            .sensitive_response()
            .describe(format!("organization {}", self.org_id));
        let result = self.client.send(req).await;
        self.client.keys.invalidate(self.org_id);
        let resp = result?;
        // A 2xx means the key exists: failing to read it is as ambiguous as a timeout.
        let wire: KeyWire = resp.json().map_err(SendError::ambiguous)?;
        let bad = |message: &str| {
            SendError::ambiguous(BackendError::BadResponse {
                vendor: VENDOR,
                status: resp.status().as_u16(),
                message: message.to_string(),
            })
        };
        let Some(secret) = wire.private_key.clone().filter(|s| !s.expose().is_empty()) else {
            return Err(bad("the created key came back without its privateKey"));
        };
        self.client.http.remember_secret(&secret);
        if !is_object_id(&wire.id) {
            return Err(bad("the created key came back without a valid id"));
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
                .map(|k| Seen {
                    id: k.id.clone(),
                    name: k.name.clone(),
                    created: object_id_time(&k.id),
                })
                .collect(),
            clock_offset,
        })
    }

    async fn delete(&self, id: &str) -> Result<(), BackendError> {
        self.client.delete_key(self.org_id, id).await
    }
}

/// Creating one organization, for the reconcile driver.
struct OrgCreate<'a> {
    client: &'a AtlasClient,
    body: CreateOrgBody<'a>,
}

#[async_trait::async_trait]
impl Create for OrgCreate<'_> {
    type Output = CreatedOrg;
    fn noun(&self) -> &'static str {
        "organization"
    }
    const POLICY: LostPolicy = LostPolicy::Adopt;

    fn name(&self) -> &str {
        self.body.name
    }

    fn place(&self) -> String {
        "Atlas".to_string()
    }

    fn id_of(output: &CreatedOrg) -> &str {
        &output.org.id
    }

    async fn post(&self) -> Result<CreatedOrg, SendError> {
        let req = Request::post(ORGS_PATH)
            .json(&self.body)?
            .retry(RetryPolicy::Create)
            // Never asked for here, but an answer with an apiKey would hold its private key.
            .sensitive_response()
            .describe("the Atlas organizations endpoint");
        let resp = self.client.send(req).await.map_err(|e| SendError {
            ambiguous: e.ambiguous,
            error: orgs_endpoint_missing(e.error),
        })?;
        let wire: CreateOrgResponse = resp.json().map_err(SendError::ambiguous)?;
        match wire.organization {
            Some(org) if is_object_id(&org.id) => Ok(CreatedOrg {
                org: org.into_org(),
                ..CreatedOrg::default()
            }),
            _ => Err(SendError::ambiguous(BackendError::BadResponse {
                vendor: VENDOR,
                status: resp.status().as_u16(),
                message: "the created organization came back without a valid id".into(),
            })),
        }
    }

    async fn list(&self) -> Result<Listing, BackendError> {
        let (orgs, clock_offset) = self.client.fetch_orgs("").await?;
        Ok(Listing {
            objects: orgs
                .iter()
                .filter(|o| !o.is_deleted)
                .map(|o| Seen {
                    id: o.id.clone(),
                    name: o.name.clone(),
                    created: object_id_time(&o.id),
                })
                .collect(),
            clock_offset,
        })
    }

    async fn delete(&self, id: &str) -> Result<(), BackendError> {
        self.client.delete_org_by_id(id).await
    }

    async fn adopt(&self, seen: &Seen) -> Result<CreatedOrg, BackendError> {
        Ok(CreatedOrg {
            org: self.client.get_org(&seen.id).await?,
            ..CreatedOrg::default()
        })
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
        let op = KeyCreate {
            client: self,
            org_id,
            body: CreateKeyBody {
                desc: &new.name,
                roles: &new.roles,
            },
        };
        let scope = format!("keys:{}", org_id.to_ascii_lowercase());
        self.reconciler.create(&self.http, &scope, &op).await
    }

    async fn get_api_key(&self, org_id: &str, id: &str) -> Result<ApiKey, BackendError> {
        check_id("orgId", org_id)?;
        check_id("apiUserId", id)?;
        // Atlas ids are hex, compared without regard to case.
        let listed = self
            .keys
            .find(
                org_id,
                &id.to_ascii_lowercase(),
                |k| k.id.to_ascii_lowercase(),
                || async { self.fetch_keys(org_id).await.map(|(keys, _)| keys) },
            )
            .await?;
        if let Some(key) = listed {
            return Ok(key);
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

    async fn get_access_list(&self, org_id: &str, id: &str) -> Result<Vec<String>, BackendError> {
        self.access_list(org_id, id).await
    }

    async fn add_access_list(
        &self,
        org_id: &str,
        id: &str,
        entries: &[String],
    ) -> Result<(), BackendError> {
        self.add_entries(org_id, id, entries).await
    }

    async fn remove_access_list_entry(
        &self,
        org_id: &str,
        id: &str,
        entry: &str,
    ) -> Result<(), BackendError> {
        self.remove_entry(org_id, id, entry).await
    }

    async fn set_project_roles(
        &self,
        org_id: &str,
        id: &str,
        project: &str,
        roles: &[String],
        how: RoleChange,
    ) -> Result<(), BackendError> {
        self.put_project_roles(org_id, id, project, roles, how)
            .await
    }

    async fn unassign_project(
        &self,
        org_id: &str,
        id: &str,
        project: &str,
    ) -> Result<(), BackendError> {
        self.remove_project(org_id, id, project).await
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
        let op = OrgCreate {
            client: self,
            body: CreateOrgBody {
                name: &new.name,
                org_owner_id: new.owner_id.as_deref(),
            },
        };
        self.reconciler.create(&self.http, "orgs", &op).await
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
    format!("{ORGS_PATH}/{org_id}/apiKeys")
}

fn key_path(org_id: &str, id: &str) -> String {
    format!("{ORGS_PATH}/{org_id}/apiKeys/{id}")
}

fn invalid(field: &str, message: &str) -> BackendError {
    invalid_field(VENDOR, field, message)
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
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

#[cfg(test)]
mod tests;
