//! Creating API keys (`POST /v1/api_key`) and service tokens (`POST /v1/service_token`)
//! through the reconcile driver ([`crate::backend::reconcile`]): one [`Create`] op for both
//! kinds, each kind with its own baseline (the organization's listing of that kind).
//!
//! `PUT /v1/service_token` (create or replace by name) is never used: it would replace a
//! same-named token another run or a person holds.

use super::keys::Kind;
use super::wire::{CreateBody, KeyWire};
use super::{BraintrustClient, VENDOR};
use crate::backend::http::{Request, RetryPolicy, SendError};
use crate::backend::reconcile::{Create, Listing, LostPolicy, Seen};
use crate::backend::{BackendError, CreatedApiKey};

/// Where a create happens, for messages.
fn place(org_name: Option<&str>) -> String {
    match org_name {
        Some(org) => format!("Braintrust organization {org:?}"),
        None => "Braintrust".to_string(),
    }
}

/// The listing of `kind` (filtered by `name` when given) as the driver sees it.
async fn listing(
    client: &BraintrustClient,
    kind: Kind,
    org_name: Option<&str>,
    name: Option<&str>,
) -> Result<Listing, BackendError> {
    let (keys, clock_offset) = client.fetch(kind, org_name, name).await?;
    Ok(Listing {
        objects: keys
            .iter()
            .map(|k| Seen::created_at(&k.id, &k.name, k.created_at.as_deref()))
            .collect(),
        clock_offset,
    })
}

/// Sends one create of `kind`: the created object with its one-time `key`, registered with
/// the redactor. A success whose answer cannot be read is ambiguous.
async fn post(
    client: &BraintrustClient,
    kind: Kind,
    req: Request,
) -> Result<CreatedApiKey, SendError> {
    let req = req
        .retry(RetryPolicy::Create)
        .sensitive_response()
        .describe(kind.endpoint());
    let result = client.send(req).await;
    client.cache(kind).clear();
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
        return Err(bad(&format!(
            "the created {} came back without its key",
            kind.noun()
        )));
    };
    client.http.remember_secret(&secret);
    if wire.id.trim().is_empty() {
        return Err(bad(&format!(
            "the created {} came back without an id",
            kind.noun()
        )));
    }
    Ok(CreatedApiKey {
        key: client.read_wire(kind, wire),
        secret,
    })
}

/// Creating one API key or one service token (`kind`).
pub(super) struct CredentialCreate<'a> {
    pub(super) client: &'a BraintrustClient,
    pub(super) kind: Kind,
    pub(super) body: CreateBody<'a>,
}

impl CredentialCreate<'_> {
    /// The reconcile scope: the organization's objects of this kind.
    pub(super) fn scope(&self) -> String {
        let prefix = match self.kind {
            Kind::ApiKey => "keys",
            Kind::ServiceToken => "tokens",
        };
        format!("{prefix}:{}", self.body.org_name.unwrap_or(""))
    }
}

#[async_trait::async_trait]
impl Create for CredentialCreate<'_> {
    type Output = CreatedApiKey;
    const POLICY: LostPolicy = LostPolicy::Delete;

    fn noun(&self) -> &'static str {
        match self.kind {
            Kind::ApiKey => "API key",
            Kind::ServiceToken => "service token",
        }
    }

    fn name(&self) -> &str {
        self.body.name
    }

    fn place(&self) -> String {
        place(self.body.org_name)
    }

    fn id_of(output: &CreatedApiKey) -> &str {
        &output.key.id
    }

    async fn post(&self) -> Result<CreatedApiKey, SendError> {
        // Braintrust removed `POST /v1/api_key` from its published API (2026-05): a 404 or
        // 405 says so, with Braintrust's own words kept for the user.
        let req = Request::post(self.kind.path())
            .json(&self.body)?
            .route_may_be_gone();
        let mut created = post(self.client, self.kind, req).await?;
        if let Some(account) = self.body.service_account_id {
            // GUESS: the answer documents `service_account_id` as nullable; when it leaves it
            // out, the token belongs to the service account asked for.
            created
                .key
                .service_account_id
                .get_or_insert_with(|| account.to_string());
        }
        Ok(created)
    }

    async fn list(&self) -> Result<Listing, BackendError> {
        listing(self.client, self.kind, self.body.org_name, None).await
    }

    async fn list_named(&self) -> Result<Listing, BackendError> {
        listing(
            self.client,
            self.kind,
            self.body.org_name,
            Some(self.body.name),
        )
        .await
    }

    async fn delete(&self, id: &str) -> Result<(), BackendError> {
        self.client.delete_kind(self.kind, id).await
    }
}
