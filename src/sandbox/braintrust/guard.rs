//! The guard in front of every `/v1` route: bearer authentication and the per-organization
//! rate limit.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::sandbox::digest::constant_time_eq;
use crate::sandbox::ratelimit::Limit;
use crate::sandbox::Shared;

use super::*;

/// Who made the request: the credential's organization and whose it is.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The organization of the key or token used.
    pub(super) org_id: String,
    /// Its owner.
    pub(super) principal: Principal,
}

/// The owner of a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// The sandbox user (a user API key): a member of every organization.
    User(String),
    /// A service account (a service token): a member of its organization only.
    ServiceAccount {
        /// Its id.
        id: String,
        /// Whether it has organization-owner permissions.
        org_owner: bool,
    },
}

impl Caller {
    /// True when the caller is a member of organization `org_id`.
    pub(super) fn belongs_to(&self, org_id: &str) -> bool {
        match self.principal {
            Principal::User(_) => true,
            Principal::ServiceAccount { .. } => self.org_id == org_id,
        }
    }

    /// The id that keys the caller creates belong to (`user_id`).
    // GUESS: an API key created with a service token belongs to the service account.
    pub(super) fn owner_id(&self) -> &str {
        match &self.principal {
            Principal::User(id) | Principal::ServiceAccount { id, .. } => id,
        }
    }

    /// The organization named `name` (default: the credential's), which the caller must
    /// belong to (else 403).
    pub(super) fn org_for(
        &self,
        data: &BraintrustData,
        name: Option<&str>,
    ) -> Result<String, BtError> {
        let Some(name) = name else {
            return Ok(self.org_id.clone());
        };
        data.org_named(name)
            .filter(|o| self.belongs_to(&o.id))
            .map(|o| o.id.clone())
            .ok_or_else(|| {
                let who = match self.principal {
                    Principal::User(_) => "User",
                    Principal::ServiceAccount { .. } => "Service account",
                };
                BtError::new(
                    StatusCode::FORBIDDEN,
                    format!("{who} does not belong to an organization named {name:?}"),
                )
            })
    }
}

pub(super) async fn guard(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return BtError::new(
            StatusCode::UNAUTHORIZED,
            "Missing API key: set the Authorization header to Bearer <api key>",
        )
        .into_response();
    }
    let caller = shared.read(|s| {
        let data = &s.braintrust;
        let matches = |key: &str| constant_time_eq(key.as_bytes(), token.as_bytes());
        let by_key = data
            .api_keys
            .iter()
            .find(|k| matches(&k.key))
            .map(|k| Caller {
                org_id: k.org_id.clone(),
                principal: Principal::User(k.user_id.clone()),
            });
        by_key.or_else(|| {
            let t = data.service_tokens.iter().find(|t| matches(&t.key))?;
            let account = data.service_account(&t.service_account_id)?;
            Some(Caller {
                org_id: t.org_id.clone(),
                principal: Principal::ServiceAccount {
                    id: account.id.clone(),
                    org_owner: account.org_owner,
                },
            })
        })
    });
    let Some(caller) = caller else {
        return BtError::new(StatusCode::UNAUTHORIZED, "Invalid API key").into_response();
    };
    let endpoint = family(request.method(), request.uri().path());
    let verdict = shared.braintrust_limits().check(|config| {
        Some((
            format!("{} {endpoint}", caller.org_id),
            Limit {
                limit: config.limit,
                window: Duration::from_secs(config.window_secs),
            },
        ))
    });
    if let Err(wait) = verdict {
        return throttled(wait);
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}
