//! Braintrust client: API keys (`/v1/api_key`) and organization lookups
//! (`/v1/organization`).
//!
//! # What Braintrust can do
//! - API keys: create (`POST /v1/api_key` `{name, org_name?}` → `{id, created, name,
//!   preview_name, org_id, key}`, the raw `key` shown once), read (`GET /v1/api_key/{id}`),
//!   list (`GET /v1/api_key`, newest first, cursor `starting_after` + `limit`, filters
//!   `org_name` and `api_key_name`) and delete (`DELETE /v1/api_key/{id}`, which answers the
//!   deleted key; 404 = already gone). No update; keys have no roles.
//! - Organizations: read (`GET /v1/organization/{id}`) and look up by name
//!   (`GET /v1/organization?org_name=`). No create, update or delete.
//!
//! # Requests
//! `Authorization: Bearer <api_key>`. Error bodies are `text/plain` or JSON (`error`,
//! `message`, `details`); 429 answers carry `Retry-After`, which the retries honour. Ids put
//! in paths are checked first (letters, digits, `-_.~`).
//!
//! # Listings and reads
//! A listing reads pages of [`PAGE_LIMIT`] keys (`starting_after` = the last id of the
//! previous page) until a short or empty page; a page that brings no new id is an error
//! rather than an endless loop. An organization's keys are listed with `org_name`: when only
//! its id is known, its name is resolved once with `GET /v1/organization/{id}` and
//! remembered (lookups by id or name also fill that memory). Keys that report another
//! `org_id` are left out.
//!
//! [`Backend::get_api_key`] with an organization id serves from that organization's listing,
//! shared for [`ListCache::DEFAULT_TTL`], and confirms an id absent from it with a real GET
//! (it may be newer than the listing); without an organization id (after an import) it is a
//! GET. Every write invalidates the cached listings.
//!
//! # Creates that fail ambiguously (SPEC §6)
//! A POST is retried only when Braintrust provably did not act (429, no connection). After a
//! timeout, a reset, a 5xx or an undecodable success, the client reconciles through
//! [`super::reconcile`]: a key is the lost attempt's only when it was absent from the
//! organization's listing taken before this process's first create there, has the same name,
//! and was `created` (server clock, calibrated against the `Date` header) during the
//! attempt — one such key per lost attempt. It is deleted (its secret is lost) and the key
//! created once more; anything less certain is named in the error and left alone.
//!
//! The API key, and every created key, are redacted from Braintrust's text.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use super::http::{
    Backoff, BearerAuth, HttpClient, HttpSettings, Request, Response, RetryPolicy, SendError,
};
use super::list_cache::ListCache;
use super::reconcile::{clock_offset, Create, Listing, LostPolicy, Reconciler, Seen};
use super::support::{check_not_blank, check_segment, invalid, Pages};
use super::{ApiKey, Backend, BackendError, BackendKind, CreatedApiKey, NewApiKey, Org, Secret};

mod wire;

pub use wire::parse_braintrust_error;
use wire::{CreateKeyBody, KeyWire, ListWire, OrgWire};

const VENDOR: &str = "braintrust";

/// Braintrust's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.braintrust.dev";

/// Page size of listings.
pub const PAGE_LIMIT: usize = 1000;

/// Everything needed to build a [`BraintrustClient`].
#[derive(Debug, Clone)]
pub struct BraintrustConfig {
    /// e.g. [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// The API key sent as a bearer token.
    pub api_key: Secret,
    /// Shared HTTP settings.
    pub http: HttpSettings,
}

/// A Braintrust client. See the module documentation for its behaviour.
pub struct BraintrustClient {
    http: HttpClient,
    auth: BearerAuth,
    /// Key listings by organization id.
    keys: ListCache<ApiKey>,
    /// Organization id → name.
    org_names: Mutex<HashMap<String, String>>,
    reconciler: Reconciler,
}

impl fmt::Debug for BraintrustClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BraintrustClient")
            .field("base_url", &self.http.base_url().as_str())
            .finish_non_exhaustive()
    }
}

impl BraintrustClient {
    /// A client for `cfg`. Fails with [`BackendError::Config`] on a malformed base URL
    /// (see [`super::http::parse_base_url`]) or an empty API key.
    pub fn new(cfg: BraintrustConfig) -> Result<Self, BackendError> {
        if cfg.api_key.expose().trim().is_empty() {
            return Err(BackendError::Config {
                vendor: VENDOR,
                message: "api_key must not be empty".into(),
            });
        }
        let http = HttpClient::new(VENDOR, &cfg.base_url, &cfg.http)?
            .with_error_parser(parse_braintrust_error);
        http.redactor().add(cfg.api_key.expose());
        Ok(BraintrustClient {
            http,
            auth: BearerAuth::new(VENDOR, &cfg.api_key)?,
            keys: ListCache::default(),
            org_names: Mutex::new(HashMap::new()),
            reconciler: Reconciler::default(),
        })
    }

    /// Replaces the retry timing (tests shorten it); reconciliation looks scale with it.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.http = self.http.with_backoff(backoff);
        self
    }

    /// Replaces the lifetime of the cached key listings (default
    /// [`ListCache::DEFAULT_TTL`]).
    pub fn with_list_ttl(mut self, ttl: Duration) -> Self {
        self.keys = ListCache::new(ttl);
        self
    }

    /// The HTTP client (base URL, vendor).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    async fn send(&self, req: Request) -> Result<Response, SendError> {
        self.http.send(&req, &self.auth).await
    }

    fn remember_org(&self, org: &Org) {
        self.org_names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(org.id.clone(), org.name.clone());
    }

    /// The name of organization `org_id`, resolved once.
    async fn org_name_of(&self, org_id: &str) -> Result<String, BackendError> {
        let known = self
            .org_names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(org_id)
            .cloned();
        match known {
            Some(name) => Ok(name),
            None => Ok(self.get_org(org_id).await?.name),
        }
    }

    /// Every key matching the filters, all pages, with the server clock offset.
    async fn fetch_keys(
        &self,
        org_name: Option<&str>,
        key_name: Option<&str>,
    ) -> Result<(Vec<ApiKey>, Option<i64>), BackendError> {
        let mut pages: Pages<ApiKey> = Pages::new(VENDOR, "GET /v1/api_key");
        let mut offset = None;
        loop {
            let mut req = Request::get("/v1/api_key").query("limit", PAGE_LIMIT.to_string());
            if let Some(after) = pages.last() {
                req = req.query("starting_after", after.id.clone());
            }
            if let Some(org) = org_name {
                req = req.query("org_name", org);
            }
            if let Some(name) = key_name {
                req = req.query("api_key_name", name);
            }
            let resp = self
                .send(req.describe("the Braintrust api_key endpoint"))
                .await?;
            if offset.is_none() {
                offset = clock_offset(&resp);
            }
            let page: ListWire<KeyWire> = resp.json()?;
            let keys = page
                .objects
                .into_iter()
                .map(KeyWire::into_api_key)
                .collect();
            if !pages.add(keys, PAGE_LIMIT, |k: &ApiKey| k.id.as_str())? {
                break;
            }
        }
        Ok((pages.into_items(), offset))
    }

    /// The keys of organization `org_id` (every key the caller sees when empty).
    async fn fetch_org_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, BackendError> {
        if org_id.is_empty() {
            return Ok(self.fetch_keys(None, None).await?.0);
        }
        let name = self.org_name_of(org_id).await?;
        let (keys, _) = self.fetch_keys(Some(&name), None).await?;
        Ok(keys
            .into_iter()
            .filter(|k| k.org_id.as_deref().is_none_or(|o| o == org_id))
            .collect())
    }

    async fn get_key_direct(&self, id: &str) -> Result<ApiKey, BackendError> {
        let resp = self
            .send(Request::get(format!("/v1/api_key/{id}")).describe(format!("api key {id}")))
            .await?;
        let wire: KeyWire = resp.json()?;
        Ok(wire.into_api_key())
    }

    async fn delete_key(&self, id: &str) -> Result<(), BackendError> {
        let result = self
            .send(Request::delete(format!("/v1/api_key/{id}")).describe(format!("api key {id}")))
            .await;
        self.keys.clear();
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.error.is_not_found() => Ok(()),
            Err(e) => Err(e.error),
        }
    }
}

/// Creating one API key, for the reconcile driver.
struct KeyCreate<'a> {
    client: &'a BraintrustClient,
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
        match self.body.org_name {
            Some(org) => format!("Braintrust organization {org:?}"),
            None => "Braintrust".to_string(),
        }
    }

    fn id_of(output: &CreatedApiKey) -> &str {
        &output.key.id
    }

    async fn post(&self) -> Result<CreatedApiKey, SendError> {
        let req = Request::post("/v1/api_key")
            .json(&self.body)?
            .retry(RetryPolicy::Create)
            .sensitive_response()
            .describe("the Braintrust api_key endpoint");
        let result = self.client.send(req).await;
        self.client.keys.clear();
        let resp = result?;
        let wire: KeyWire = resp.json().map_err(SendError::ambiguous)?;
        let bad = |message: &str| {
            SendError::ambiguous(BackendError::BadResponse {
                vendor: VENDOR,
                status: resp.status().as_u16(),
                message: message.to_string(),
            })
        };
        let Some(secret) = wire.key.clone().filter(|s| !s.expose().is_empty()) else {
            return Err(bad("the created key came back without its key"));
        };
        self.client.http.remember_secret(&secret);
        if wire.id.trim().is_empty() {
            return Err(bad("the created key came back without an id"));
        }
        Ok(CreatedApiKey {
            key: wire.into_api_key(),
            secret,
        })
    }

    async fn list(&self) -> Result<Listing, BackendError> {
        let (keys, clock_offset) = self.client.fetch_keys(self.body.org_name, None).await?;
        Ok(Listing {
            objects: keys
                .iter()
                .map(|k| Seen::created_at(&k.id, &k.name, k.created_at.as_deref()))
                .collect(),
            clock_offset,
        })
    }

    async fn list_named(&self) -> Result<Listing, BackendError> {
        let (keys, clock_offset) = self
            .client
            .fetch_keys(self.body.org_name, Some(self.body.name))
            .await?;
        Ok(Listing {
            objects: keys
                .iter()
                .map(|k| Seen::created_at(&k.id, &k.name, k.created_at.as_deref()))
                .collect(),
            clock_offset,
        })
    }

    async fn delete(&self, id: &str) -> Result<(), BackendError> {
        self.client.delete_key(id).await
    }
}

#[async_trait::async_trait]
impl Backend for BraintrustClient {
    fn kind(&self) -> BackendKind {
        BackendKind::Braintrust
    }

    async fn create_api_key(&self, new: &NewApiKey) -> Result<CreatedApiKey, BackendError> {
        check_not_blank(VENDOR, "name", &new.name)?;
        if !new.roles.is_empty() {
            return Err(invalid(
                VENDOR,
                "roles",
                "Braintrust API keys have no roles",
            ));
        }
        if !new.project_roles.is_empty() {
            return Err(invalid(
                VENDOR,
                "project_roles",
                "Braintrust API keys have no project roles",
            ));
        }
        let org_name = match (&new.org_name, &new.org_id) {
            (Some(name), _) => {
                check_not_blank(VENDOR, "org_name", name)?;
                Some(name.clone())
            }
            (None, Some(id)) if !id.is_empty() => {
                check_segment(VENDOR, "org_id", id)?;
                Some(self.org_name_of(id).await?)
            }
            _ => None,
        };
        let scope = format!("keys:{}", org_name.as_deref().unwrap_or(""));
        let op = KeyCreate {
            client: self,
            body: CreateKeyBody {
                name: &new.name,
                org_name: org_name.as_deref(),
            },
        };
        self.reconciler.create(&self.http, &scope, &op).await
    }

    async fn get_api_key(&self, org_id: &str, id: &str) -> Result<ApiKey, BackendError> {
        check_segment(VENDOR, "id", id)?;
        if org_id.is_empty() {
            return self.get_key_direct(id).await;
        }
        check_segment(VENDOR, "org_id", org_id)?;
        let listing = self
            .keys
            .get_or_fetch(org_id, || self.fetch_org_keys(org_id))
            .await;
        match listing {
            Ok(list) => {
                if let Some(key) = list.iter().find(|k| k.id == id) {
                    return Ok(key.clone());
                }
            }
            // The organization itself is unknown: the key may still be readable by id.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        self.get_key_direct(id).await
    }

    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, BackendError> {
        if !org_id.is_empty() {
            check_segment(VENDOR, "org_id", org_id)?;
        }
        let keys = self.fetch_org_keys(org_id).await?;
        self.keys.put(org_id, keys.clone());
        Ok(keys)
    }

    async fn delete_api_key(&self, org_id: &str, id: &str) -> Result<(), BackendError> {
        let _ = org_id;
        check_segment(VENDOR, "id", id)?;
        self.delete_key(id).await
    }

    async fn get_org(&self, id: &str) -> Result<Org, BackendError> {
        check_segment(VENDOR, "id", id)?;
        let resp = self
            .send(
                Request::get(format!("/v1/organization/{id}"))
                    .describe(format!("organization {id}")),
            )
            .await?;
        let wire: OrgWire = resp.json()?;
        let org = wire.into_org();
        self.remember_org(&org);
        Ok(org)
    }

    async fn find_org_by_name(&self, name: &str) -> Result<Org, BackendError> {
        check_not_blank(VENDOR, "name", name)?;
        let mut pages: Pages<Org> = Pages::new(VENDOR, "GET /v1/organization");
        loop {
            let mut req = Request::get("/v1/organization")
                .query("org_name", name)
                .query("limit", PAGE_LIMIT.to_string());
            if let Some(after) = pages.last() {
                req = req.query("starting_after", after.id.clone());
            }
            let resp = self
                .send(req.describe(format!("organization named {name:?}")))
                .await?;
            let page: ListWire<OrgWire> = resp.json()?;
            let orgs = page.objects.into_iter().map(OrgWire::into_org).collect();
            if !pages.add(orgs, PAGE_LIMIT, |o: &Org| o.id.as_str())? {
                break;
            }
        }
        let mut found: Vec<Org> = Vec::new();
        for org in pages.into_items() {
            self.remember_org(&org);
            if org.name == name {
                found.push(org);
            }
        }
        match found.len() {
            0 => Err(BackendError::NotFound {
                what: format!("organization named {name:?}"),
            }),
            1 => Ok(found.remove(0)),
            n => {
                let ids: Vec<&str> = found.iter().map(|o| o.id.as_str()).collect();
                Err(invalid(
                    VENDOR,
                    "name",
                    format!(
                        "{n} Braintrust organizations are named {name:?} ({}); look one up by id",
                        ids.join(", ")
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;
