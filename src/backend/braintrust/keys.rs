//! API keys and service tokens, read and deleted the same way through their two endpoints
//! (`/v1/api_key`, `/v1/service_token`): listings, reads by id, deletes, and the memory of
//! which id is which kind.

use super::wire::{KeyWire, ListWire};
use super::{BraintrustClient, PAGE_LIMIT, VENDOR};
use crate::backend::http::Request;
use crate::backend::list_cache::ListCache;
use crate::backend::reconcile::clock_offset;
use crate::backend::support::Pages;
use crate::backend::{ApiKey, BackendError};

/// The two kinds of Braintrust credential keysmith manages as `keysmith_api_key`. Their ids
/// are UUIDs from one space (a GUESS: Braintrust never says so, but UUIDs do not collide), so
/// an id names at most one object of either kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    /// A user's API key (`/v1/api_key`).
    ApiKey,
    /// A service account's service token (`/v1/service_token`).
    ServiceToken,
}

impl Kind {
    /// Both kinds, API keys first (the import order of SPEC §3).
    pub(super) const ALL: [Kind; 2] = [Kind::ApiKey, Kind::ServiceToken];

    /// The collection's path.
    pub(super) fn path(self) -> &'static str {
        match self {
            Kind::ApiKey => "/v1/api_key",
            Kind::ServiceToken => "/v1/service_token",
        }
    }

    /// The listing's exact-name filter.
    fn name_param(self) -> &'static str {
        match self {
            Kind::ApiKey => "api_key_name",
            Kind::ServiceToken => "service_token_name",
        }
    }

    /// For messages: `api key`, `service token`.
    pub(super) fn noun(self) -> &'static str {
        match self {
            Kind::ApiKey => "api key",
            Kind::ServiceToken => "service token",
        }
    }

    /// For messages about the collection.
    pub(super) fn endpoint(self) -> &'static str {
        match self {
            Kind::ApiKey => "the Braintrust api_key endpoint",
            Kind::ServiceToken => "the Braintrust service_token endpoint",
        }
    }

    /// The other kind.
    fn other(self) -> Kind {
        match self {
            Kind::ApiKey => Kind::ServiceToken,
            Kind::ServiceToken => Kind::ApiKey,
        }
    }
}

impl BraintrustClient {
    /// The cached listings of `kind`, by organization id.
    pub(super) fn cache(&self, kind: Kind) -> &ListCache<ApiKey> {
        match kind {
            Kind::ApiKey => &self.keys,
            Kind::ServiceToken => &self.tokens,
        }
    }

    /// Remembers which kind `id` is.
    pub(super) fn remember_kind(&self, kind: Kind, id: &str) {
        self.kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_ascii_lowercase(), kind);
    }

    /// Which kind `id` is, when this process has seen it.
    pub(super) fn kind_of(&self, id: &str) -> Option<Kind> {
        self.kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id.to_ascii_lowercase())
            .copied()
    }

    /// `wire` as an [`ApiKey`] of `kind`, remembered as that kind.
    pub(super) fn read_wire(&self, kind: Kind, wire: KeyWire) -> ApiKey {
        let key = wire.into_api_key(kind);
        self.remember_kind(kind, &key.id);
        key
    }

    /// Every object of `kind` matching the filters, all pages, with the server clock offset.
    pub(super) async fn fetch(
        &self,
        kind: Kind,
        org_name: Option<&str>,
        name: Option<&str>,
    ) -> Result<(Vec<ApiKey>, Option<i64>), BackendError> {
        let mut pages: Pages<ApiKey> = Pages::new(VENDOR, format!("GET {}", kind.path()));
        let mut offset = None;
        loop {
            let mut req = Request::get(kind.path()).query("limit", PAGE_LIMIT.to_string());
            if let Some(after) = pages.last() {
                req = req.query("starting_after", after.id.clone());
            }
            if let Some(org) = org_name {
                req = req.query("org_name", org);
            }
            if let Some(name) = name {
                req = req.query(kind.name_param(), name);
            }
            let resp = self.send(req.describe(kind.endpoint())).await?;
            if offset.is_none() {
                offset = clock_offset(&resp);
            }
            let page: ListWire<KeyWire> = resp.json()?;
            let keys = page
                .objects
                .into_iter()
                .map(|w| self.read_wire(kind, w))
                .collect();
            if !pages.add(keys, PAGE_LIMIT, |k: &ApiKey| k.id.as_str())? {
                break;
            }
        }
        Ok((pages.into_items(), offset))
    }

    /// The objects of `kind` in organization `org_id` (all the caller sees when empty).
    pub(super) async fn fetch_org(
        &self,
        kind: Kind,
        org_id: &str,
    ) -> Result<Vec<ApiKey>, BackendError> {
        if org_id.is_empty() {
            return Ok(self.fetch(kind, None, None).await?.0);
        }
        let name = self.org_name_of(org_id).await?;
        let (keys, _) = self.fetch(kind, Some(&name), None).await?;
        Ok(keys
            .into_iter()
            .filter(|k| k.org_id.as_deref().is_none_or(|o| o == org_id))
            .collect())
    }

    /// Both kinds of organization `org_id`, fetched afresh and cached: API keys, then
    /// service tokens. A service-token listing the caller may not read (403) lists none, as
    /// in [`Self::lookup`] (a GUESS: Braintrust documents which credentials may read service
    /// tokens only for their creation); an API-key listing refused is an error.
    pub(super) async fn list_both(&self, org_id: &str) -> Result<Vec<ApiKey>, BackendError> {
        let mut all = Vec::new();
        for kind in Kind::ALL {
            let listed = match self.fetch_org(kind, org_id).await {
                Ok(listed) => listed,
                Err(e @ BackendError::PermissionDenied { .. }) if kind == Kind::ServiceToken => {
                    tracing::warn!(error = %e, "service tokens cannot be listed with this credential; listing API keys only");
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.cache(kind).put(org_id, listed.clone());
            all.extend(listed);
        }
        Ok(all)
    }

    /// One object of `kind` by id.
    async fn get_direct(&self, kind: Kind, id: &str) -> Result<ApiKey, BackendError> {
        let resp = self
            .send(
                Request::get(format!("{}/{id}", kind.path()))
                    .describe(format!("{} {id}", kind.noun())),
            )
            .await?;
        let wire: KeyWire = resp.json()?;
        Ok(self.read_wire(kind, wire))
    }

    /// The key or token `id` of organization `org_id` (SPEC §6: one listing per organization
    /// and kind, shared through the cache; a GET only for an id absent from the listings).
    /// The kind this process last saw `id` as is looked at first; else API keys, then service
    /// tokens. A listing the caller may not read (403) is passed over, and so are reads of
    /// that kind by id (a GUESS: Braintrust documents which credentials may read service
    /// tokens only for their creation).
    pub(super) async fn lookup(&self, org_id: &str, id: &str) -> Result<ApiKey, BackendError> {
        let first = self.kind_of(id).unwrap_or(Kind::ApiKey);
        let order = [first, first.other()];
        if org_id.is_empty() {
            return self.get_by_id(&order, id).await;
        }
        let mut readable = Vec::with_capacity(2);
        let mut refused = None;
        for kind in order {
            let listing = self
                .cache(kind)
                .get_or_fetch(org_id, || self.fetch_org(kind, org_id))
                .await;
            match listing {
                Ok(list) => {
                    if let Some(key) = list.iter().find(|k| k.id.eq_ignore_ascii_case(id)) {
                        return Ok(key.clone());
                    }
                    readable.push(kind);
                }
                // The organization itself is unknown: the key may still be readable by id.
                Err(e) if e.is_not_found() => readable.push(kind),
                Err(e @ BackendError::PermissionDenied { .. }) => {
                    tracing::debug!(kind = kind.noun(), error = %e, "listing refused; passing over");
                    refused.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        match (readable.is_empty(), refused) {
            (true, Some(e)) => Err(e),
            _ => self.get_by_id(&readable, id).await,
        }
    }

    /// `id` read by id as each kind of `kinds` in turn; `NotFound` when none has it.
    async fn get_by_id(&self, kinds: &[Kind], id: &str) -> Result<ApiKey, BackendError> {
        for &kind in kinds {
            match self.get_direct(kind, id).await {
                Err(e) if e.is_not_found() => continue,
                result => return result,
            }
        }
        Err(BackendError::NotFound {
            what: format!("api key or service token {id}"),
        })
    }

    /// Deletes `id` as `kind`: `Ok(false)` when Braintrust has no such object (404).
    async fn delete_as(&self, kind: Kind, id: &str) -> Result<bool, BackendError> {
        let result = self
            .send(
                Request::delete(format!("{}/{id}", kind.path()))
                    .describe(format!("{} {id}", kind.noun())),
            )
            .await;
        self.cache(kind).clear();
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.error.is_not_found() => Ok(false),
            Err(e) => Err(e.error),
        }
    }

    /// Deletes `id` of `kind` (already gone = success).
    pub(super) async fn delete_kind(&self, kind: Kind, id: &str) -> Result<(), BackendError> {
        self.delete_as(kind, id).await.map(|_| ())
    }

    /// Deletes the key or token `id`: as the kind this process saw it as, else as an API key
    /// and, when there is none, as a service token (already gone = success).
    pub(super) async fn delete_any(&self, id: &str) -> Result<(), BackendError> {
        if let Some(kind) = self.kind_of(id) {
            return self.delete_kind(kind, id).await;
        }
        if self.delete_as(Kind::ApiKey, id).await? {
            return Ok(());
        }
        self.delete_kind(Kind::ServiceToken, id).await
    }
}
