//! The two creates of env0 (API keys, organizations) as the reconcile driver runs them: the
//! POST, the listing that finds candidates, and what a proven candidate becomes.

use super::*;

/// Creating one API key, for the reconcile driver.
pub(super) struct KeyCreate<'a> {
    pub(super) client: &'a Env0Client,
    pub(super) org_id: &'a str,
    pub(super) body: CreateKeyBody<'a>,
}

#[async_trait::async_trait]
impl Create for KeyCreate<'_> {
    type Output = CreatedApiKey;
    fn noun(&self) -> &'static str {
        "API key"
    }
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
pub(super) struct OrgCreate<'a> {
    pub(super) client: &'a Env0Client,
    pub(super) body: CreateOrgBody<'a>,
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
