//! Braintrust client: API keys (`/v1/api_key`), service tokens (`/v1/service_token`) and
//! organization lookups (`/v1/organization`).
//!
//! # What Braintrust can do
//! - API keys: create (`POST /v1/api_key` `{name, org_name?}` → `{id, created, name,
//!   preview_name, org_id, key}`, the raw `key` shown once), read (`GET /v1/api_key/{id}`),
//!   list (`GET /v1/api_key`, newest first, cursor `starting_after` + `limit`, filters
//!   `org_name` and `api_key_name`) and delete (`DELETE /v1/api_key/{id}`, which answers the
//!   deleted key; 404 = already gone). No update; keys have no roles. Braintrust removed the
//!   create from its published API in May 2026 ("API keys cannot create other API keys"): a
//!   refusal is the vendor's 403, or a 404/405 from the removed route, which keeps
//!   Braintrust's own message ([`Request::route_may_be_gone`]).
//! - Service tokens, the machine credentials of service accounts: the same operations under
//!   `/v1/service_token` with the same fields plus `service_account_id` (create body `{name,
//!   service_account_id, org_name?}`, name filter `service_token_name`). Only an
//!   organization-owner service token may create one; Braintrust refuses a user API key with
//!   403. A [`NewApiKey`] with `service_account_id` is a service token; an [`ApiKey`] with one
//!   is a service token too.
//! - Organizations: read (`GET /v1/organization/{id}`) and look up by name
//!   (`GET /v1/organization?org_name=`). No create, update or delete.
//!
//! # Requests
//! `Authorization: Bearer <api_key>` (a user API key or a service token). Error bodies are
//! `text/plain` or JSON (`error`, `message`, `details`); 429 answers carry `Retry-After`,
//! which the retries honour. Ids put in paths are checked first (letters, digits, `-_.~`).
//!
//! # Listings and reads
//! A listing reads pages of [`PAGE_LIMIT`] objects (`starting_after` = the last id of the
//! previous page) until a short or empty page; a page that brings no new id is an error
//! rather than an endless loop. An organization's keys are listed with `org_name`: when only
//! its id is known, its name is resolved once with `GET /v1/organization/{id}` and
//! remembered (lookups by id or name also fill that memory). Objects that report another
//! `org_id` are left out. [`Backend::list_api_keys`] lists both kinds: API keys, then
//! service tokens.
//!
//! An id does not say which kind it is, so the client remembers the kind of every id it has
//! seen, or that its caller says is a service token ([`Backend::known_service_token`]). [`Backend::get_api_key`] with an organization id serves from that organization's
//! listings (one per kind, each shared for [`ListCache::DEFAULT_TTL`]; the remembered kind's
//! first, else API keys, then service tokens) and confirms an id absent from both with a real
//! GET of each kind (it may be newer than the listings); without an organization id (an
//! import) it is a GET of an API key, then of a service token. [`Backend::delete_api_key`]
//! deletes as the remembered kind, else as an API key and, on 404, as a service token. Every
//! write invalidates the cached listings of its kind.
//!
//! # Creates that fail ambiguously (SPEC §6)
//! A POST is retried only when Braintrust provably did not act (429, no connection). After a
//! timeout, a reset, a 5xx or an undecodable success, the client reconciles through
//! [`super::reconcile`]: a key (or token) is the lost attempt's only when it was absent from
//! the organization's listing of that kind taken before this process's first create of that
//! kind there, has the same name, and was `created` (server clock, calibrated against the
//! `Date` header) during the attempt — one such object per lost attempt. It is deleted (its
//! secret is lost) and created once more; anything less certain is named in the error and
//! left alone.
//!
//! The API key, and every created key and token, are redacted from Braintrust's text.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use super::http::{Backoff, BearerAuth, HttpClient, HttpSettings, Request, Response, SendError};
use super::list_cache::ListCache;
use super::reconcile::Reconciler;
use super::support::{check_not_blank, check_segment, invalid, Pages};
use super::{ApiKey, Backend, BackendError, BackendKind, CreatedApiKey, NewApiKey, Org, Secret};

mod create;
mod keys;
mod wire;

use create::CredentialCreate;
use keys::Kind;
pub use wire::parse_braintrust_error;
use wire::{CreateBody, ListWire, OrgWire};

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
    /// The credential sent as a bearer token: a user API key, or a service token (only an
    /// organization-owner service token may create service tokens).
    pub api_key: Secret,
    /// Shared HTTP settings.
    pub http: HttpSettings,
}

/// A Braintrust client. See the module documentation for its behaviour.
pub struct BraintrustClient {
    http: HttpClient,
    auth: BearerAuth,
    /// API-key listings by organization id.
    keys: ListCache<ApiKey>,
    /// Service-token listings by organization id.
    tokens: ListCache<ApiKey>,
    /// Which kind each id seen is (lower-case id → kind).
    kinds: Mutex<HashMap<String, Kind>>,
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
            tokens: ListCache::default(),
            kinds: Mutex::new(HashMap::new()),
            org_names: Mutex::new(HashMap::new()),
            reconciler: Reconciler::default(),
        })
    }

    /// Replaces the retry timing (tests shorten it); reconciliation looks scale with it.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.http = self.http.with_backoff(backoff);
        self
    }

    /// Replaces the lifetime of the cached key and token listings (default
    /// [`ListCache::DEFAULT_TTL`]).
    pub fn with_list_ttl(mut self, ttl: Duration) -> Self {
        self.keys = ListCache::new(ttl);
        self.tokens = ListCache::new(ttl);
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
                "Braintrust API keys and service tokens have no roles",
            ));
        }
        if !new.project_roles.is_empty() {
            return Err(invalid(
                VENDOR,
                "project_roles",
                "Braintrust API keys and service tokens have no project roles",
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
        let org = org_name.as_deref();
        let account = new.service_account_id.as_deref();
        if let Some(account) = account {
            check_segment(VENDOR, "service_account_id", account)?;
        }
        let op = CredentialCreate {
            client: self,
            kind: if account.is_some() {
                Kind::ServiceToken
            } else {
                Kind::ApiKey
            },
            body: CreateBody {
                name: &new.name,
                service_account_id: account,
                org_name: org,
            },
        };
        self.reconciler.create(&self.http, &op.scope(), &op).await
    }

    async fn get_api_key(&self, org_id: &str, id: &str) -> Result<ApiKey, BackendError> {
        check_segment(VENDOR, "id", id)?;
        if !org_id.is_empty() {
            check_segment(VENDOR, "org_id", org_id)?;
        }
        self.lookup(org_id, id).await
    }

    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, BackendError> {
        if !org_id.is_empty() {
            check_segment(VENDOR, "org_id", org_id)?;
        }
        self.list_both(org_id).await
    }

    fn known_service_token(&self, id: &str) {
        self.remember_kind(Kind::ServiceToken, id);
    }

    async fn delete_api_key(&self, org_id: &str, id: &str) -> Result<(), BackendError> {
        let _ = org_id;
        check_segment(VENDOR, "id", id)?;
        self.delete_any(id).await
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
