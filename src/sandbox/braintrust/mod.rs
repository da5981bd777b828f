//! Braintrust's REST API as far as keysmith uses it: API keys and service tokens (create, list,
//! get, delete) and organizations (list, get), with bearer authentication and cursor
//! pagination.
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/api_key` | 200 `CreateApiKeyOutput`, with the raw `key` (the only time) |
//! | `GET /v1/api_key` | 200 `{"objects": [ApiKey]}`, newest first |
//! | `GET /v1/api_key/{api_key_id}` | 200 `ApiKey` |
//! | `DELETE /v1/api_key/{api_key_id}` | 200 the deleted `ApiKey` |
//! | `POST /v1/service_token` | 200 `CreateServiceTokenOutput` (`{name, service_account_id, org_name?}`), raw `key` only here; 403 unless the caller is an organization-owner service token |
//! | `PUT /v1/service_token` | the same, replacing the newest token of that name in the organization |
//! | `GET /v1/service_token` | 200 `{"objects": [ServiceToken]}`, newest first |
//! | `GET /v1/service_token/{service_token_id}` | 200 `ServiceToken` |
//! | `DELETE /v1/service_token/{service_token_id}` | 200 the deleted `ServiceToken` (also `DELETE /v1/service_token` with `{"id"}`) |
//! | `GET /v1/organization` | 200 `{"objects": [Organization]}`, newest first |
//! | `GET /v1/organization/{organization_id}` | 200 `Organization` |
//!
//! Authentication: `Authorization: Bearer <key>` with any API key or service token the sandbox
//! holds (the seeded ones or any created through them; a deleted one stops authenticating).
//! API keys belong to the one sandbox user, who is a member of every organization; service
//! tokens belong to a service account, a member of its own organization only (and of its
//! organization's owners when seeded so). A credential also belongs to one organization, the
//! default for what it creates (`org_name` picks another one the caller belongs to; any other
//! name is 403); reads see only the caller's organizations. An API key created with a service
//! token belongs to its service account (`user_id`).
//!
//! Lists take `limit` (integer ≥ 0; default: everything), `starting_after` or `ending_before`
//! (an object id: the page after or before it in the newest-first order; not both),
//! `ids` (repeatable), `org_name`, for keys `api_key_name` and for tokens `service_token_name`
//! (exact). There is no `has_more`:
//! a client pages until a short or empty page. A cursor naming no existing object is a 400.
//!
//! Errors: 401 and 429 are `text/plain`; 400, 403, 404 (unknown id), 500 and 503 are
//! `application/json` `{"error": "<message>"}`. A 429 carries `Retry-After` (seconds). Unknown
//! paths under `/v1/` get a JSON 404.
//!
//! # Files
//!
//! `data` (the objects, seed, reset, state view), `guard` (authentication, rate limit), `error`,
//! `wire` (list queries and cursor pagination), one file per route family (`orgs`,
//! `api_keys`, `service_tokens`; `credentials` holds what the last two share: list, get and
//! delete) and `helpers` (the `/_sandbox/braintrust/` routes); this file holds the router,
//! request families, fault answers and the rate-limit configuration.
//!
//! Rate limit: per organization and endpoint, off unless set. Sandbox-only helpers (no auth,
//! no faults):
//!
//! - `GET /_sandbox/braintrust/rate_limit`, `POST` with `{"limit", "window_secs"}` (defaults
//!   0 = off, 60): the limit per window per organization and endpoint (the request-counter
//!   family), answered 429 with `Retry-After` until the window frees up;
//! - `POST /_sandbox/braintrust/organizations` (`{"name", "api_url"?, "is_universal_api"?,
//!   "is_dataplane_private"?, "proxy_url"?, "realtime_url"?, "image_rendering_mode"?}`): adds an
//!   organization the sandbox user belongs to; 201 `Organization`;
//! - `POST /_sandbox/braintrust/api_keys/{id}/created` (`{"created": "9999-12-31T23:00:00Z"}`,
//!   any RFC 3339 date-time): the key's `created` from now on, reported verbatim by every route
//!   (a test hook for far-future or odd vendor dates); 200 the key, 404 for an unknown `id`;
//!   `POST /_sandbox/braintrust/service_tokens/{id}/created` does the same for a service token;
//! - `POST /_sandbox/braintrust/service_accounts` (`{"name", "org_name"?, "org_owner"?}`,
//!   defaults: the seeded organization, not an owner): adds a service account (tokens for it
//!   are then created through the API); 201 `{"id", "name", "email", "org_id", "org_owner",
//!   "created"}`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};

use super::faults::Fault;
use super::ratelimit::{retry_after_secs, LimitConfig};
use super::{vendor_layers, Shared};

mod api_keys;
mod credentials;
mod data;
mod error;
mod guard;
mod helpers;
mod orgs;
mod service_tokens;
mod wire;

pub(crate) use data::BraintrustData;

use api_keys::*;
use credentials::*;
use data::*;
use error::*;
use guard::*;
use helpers::*;
use orgs::*;
use service_tokens::*;
use wire::*;

/// Values of `image_rendering_mode` besides null.
const IMAGE_RENDERING_MODES: [&str; 3] = ["auto", "click_to_load", "blocked"];

// ---------------------------------------------------------------------------------------------
// Rate limit configuration
// ---------------------------------------------------------------------------------------------

/// Braintrust's rate limit as configured in the sandbox (off by default: Braintrust publishes
/// no numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RateLimit {
    /// Requests per window per organization and endpoint; 0 disables the limit.
    pub limit: u32,
    /// The window, in seconds.
    pub window_secs: u64,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            limit: 0,
            window_secs: 60,
        }
    }
}

impl LimitConfig for RateLimit {
    fn limit(&self) -> u32 {
        self.limit
    }

    fn window_secs(&self) -> u64 {
        self.window_secs
    }
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// Braintrust's routes (authenticated, rate limited, counted, subject to faults) and the
/// sandbox-only helpers.
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/v1/organization", get(list_orgs))
        .route("/v1/organization/{organization_id}", get(get_org))
        .route("/v1/api_key", get(list::<ApiKey>).post(create_key))
        .route(
            "/v1/api_key/{api_key_id}",
            get(get_one::<ApiKey>).delete(delete_one::<ApiKey>),
        )
        .route(
            "/v1/service_token",
            get(list::<ServiceToken>)
                .post(create_token)
                .put(replace_token)
                .delete(delete_token_by_body),
        )
        .route(
            "/v1/service_token/{service_token_id}",
            get(get_one::<ServiceToken>).delete(delete_one::<ServiceToken>),
        )
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), guard));
    vendor_layers(api, shared, family, fault_response)
        .route(
            "/_sandbox/braintrust/rate_limit",
            get(get_rate_limit).post(set_rate_limit),
        )
        .route("/_sandbox/braintrust/organizations", post(add_org))
        .route(
            "/_sandbox/braintrust/api_keys/{id}/created",
            post(set_created),
        )
        .route(
            "/_sandbox/braintrust/service_accounts",
            post(add_service_account),
        )
        .route(
            "/_sandbox/braintrust/service_tokens/{id}/created",
            post(set_token_created),
        )
}

/// The request-counter family of a Braintrust request, e.g. `braintrust.api_keys.list`.
pub(crate) fn family(method: &Method, path: &str) -> &'static str {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "organization"]) => "braintrust.orgs.list",
        ("GET", ["v1", "organization", _]) => "braintrust.orgs.get",
        ("POST", ["v1", "api_key"]) => "braintrust.api_keys.create",
        ("GET", ["v1", "api_key"]) => "braintrust.api_keys.list",
        ("GET", ["v1", "api_key", _]) => "braintrust.api_keys.get",
        ("DELETE", ["v1", "api_key", _]) => "braintrust.api_keys.delete",
        ("POST", ["v1", "service_token"]) => "braintrust.service_tokens.create",
        ("PUT", ["v1", "service_token"]) => "braintrust.service_tokens.replace",
        ("GET", ["v1", "service_token"]) => "braintrust.service_tokens.list",
        ("GET", ["v1", "service_token", _]) => "braintrust.service_tokens.get",
        ("DELETE", ["v1", "service_token", ..]) => "braintrust.service_tokens.delete",
        _ => "braintrust.other",
    }
}

/// Braintrust's answer to an injected fault.
pub(crate) fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Unavailable => BtError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable",
        )
        .into_response(),
        Fault::Throttled => throttled(Duration::from_secs(1)),
    }
}

/// A JSON 404 for an unknown path under `/v1/`.
pub(crate) fn not_found(path: &str) -> Option<Response> {
    path.starts_with("/v1/")
        .then(|| BtError::new(StatusCode::NOT_FOUND, format!("Not found: {path}")).into_response())
}

fn throttled(wait: Duration) -> Response {
    let secs = retry_after_secs(wait).to_string();
    let mut response = BtError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests, please retry later",
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&secs) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(
            family(&Method::GET, "/v1/organization"),
            "braintrust.orgs.list"
        );
        assert_eq!(
            family(&Method::GET, "/v1/organization/x"),
            "braintrust.orgs.get"
        );
        assert_eq!(
            family(&Method::POST, "/v1/api_key"),
            "braintrust.api_keys.create"
        );
        assert_eq!(
            family(&Method::DELETE, "/v1/api_key/x"),
            "braintrust.api_keys.delete"
        );
        assert_eq!(family(&Method::PATCH, "/v1/api_key/x"), "braintrust.other");
        assert_eq!(
            family(&Method::PUT, "/v1/service_token"),
            "braintrust.service_tokens.replace"
        );
        assert_eq!(
            family(&Method::DELETE, "/v1/service_token"),
            "braintrust.service_tokens.delete"
        );
        assert_eq!(
            family(&Method::DELETE, "/v1/service_token/x"),
            "braintrust.service_tokens.delete"
        );
        assert_eq!(
            family(&Method::GET, "/v1/service_token"),
            "braintrust.service_tokens.list"
        );
    }
}
