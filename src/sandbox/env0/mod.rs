//! env0's API as far as keysmith uses it: organizations and organization API keys, HTTP Basic
//! authentication and the per-method+URI rate limit.
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `POST /organizations` | 200 Organization (`mode` `trial`) |
//! | `GET /organizations` | 200 array of the organizations the key belongs to, each with `role` |
//! | `GET /organizations/{id}` | 200 Organization with `role`; 404 when not one of them |
//! | `POST /api-keys` | 200 ApiKey with `apiKeySecret` (the only time it is shown) |
//! | `GET /api-keys?organizationId=` | 200 array of ApiKey without secret (unpaginated) |
//! | `DELETE /api-keys/{id}` | 200, empty body; 404 when unknown |
//!
//! Authentication: `Authorization: Basic base64(apiKeyId:apiKeySecret)` of any key the sandbox
//! holds (the seeded one or any created through it; a deleted key stops authenticating at
//! once). A key belongs to its own organization with its role and is `Admin` of every
//! organization it created; `organizationId` defaults to the key's own organization. Managing
//! keys needs `Admin` in the organization.
//!
//! `POST /organizations` takes `name` (required, non-empty), `description`, `photoUrl`.
//! `POST /api-keys` takes `name` (required), `organizationId`, `permissions`
//! `{organizationRole, projectsPermissions?}` with `organizationRole` `Admin`, `User` or the id
//! of one of the organization's custom roles, and `projectsPermissions` a list of
//! `{projectId, projectRole}` (`Planner`, `Viewer`, `Deployer`, `Admin`; a project of the
//! organization, once each) allowed only with a non-`Admin` role. Both bodies are checked
//! strictly: an unknown attribute is refused (it catches `projectPermissions` for
//! `projectsPermissions`).
//!
//! Errors: validation and lookup errors come from env0's backend as plain text (what the
//! official provider shows after the status, e.g. `/body must have required property 'name'`):
//! 400, 403, 404. The gateway answers 401 `{"message":"Unauthorized"}`, 429
//! `{"message":"Too Many Requests"}` (no `Retry-After`: env0 documents none). A path under
//! `/organizations` or `/api-keys` the sandbox does not emulate gets a plain-text 404, another
//! method on an emulated path 405.
//!
//! # Files
//!
//! `data` (the objects, seed, reset, state view), `guard` (rate limit, authentication),
//! `error`, `wire` (request parsing), one file per route family (`orgs`, `api_keys`) and
//! `helpers` (the `/_sandbox/env0/` routes); this file holds the router, request families,
//! fault answers and the rate-limit configuration.
//!
//! Rate limit: 1,000 requests per 60 s per client IP, HTTP method and URI path (the query is
//! not part of it), counted before authentication; the next one gets 429 until the oldest
//! leaves the window. Sandbox-only control (no auth, no faults):
//!
//! - `GET /_sandbox/env0/rate_limit`: `{"limit", "window_secs", "per"}`;
//! - `POST /_sandbox/env0/rate_limit` with any of those (missing ones take their defaults
//!   1000, 60, `"path"`; `limit` 0 disables; `per` `"template"` counts `DELETE
//!   /api-keys/a` and `DELETE /api-keys/b` together): sets the limit and empties the windows;
//! - `POST /_sandbox/env0/organizations/{id}/projects` and `…/roles` (body optional
//!   `{"name"}`): add a project or a custom role to an organization, 201 `{"id", "name",
//!   "organizationId"}`;
//! - `POST /_sandbox/env0/api_keys/{id}/created` (`{"created": "9999-12-31T23:00:00Z"}`, any
//!   RFC 3339 date-time): the key's `createdAt` from now on, reported verbatim (a test hook for
//!   far-future or odd vendor dates); 200 the key as listed, 404 for an unknown `id`.

use std::sync::Arc;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::faults::Fault;
use super::ratelimit::LimitConfig;
use super::{vendor_layers, Shared};

mod api_keys;
mod data;
mod error;
mod guard;
mod helpers;
mod orgs;
mod wire;

pub(crate) use data::Env0Data;

use api_keys::*;
use data::*;
use error::*;
use guard::*;
use helpers::*;
use orgs::*;
use wire::*;

/// Roles a project permission can grant.
const PROJECT_ROLES: [&str; 4] = ["Planner", "Viewer", "Deployer", "Admin"];

/// How long a new organization's trial lasts.
const TRIAL_SECS: i64 = 14 * 24 * 3600;

// ---------------------------------------------------------------------------------------------
// Rate limit configuration
// ---------------------------------------------------------------------------------------------

/// env0's rate limit as configured in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RateLimit {
    /// Requests per window; 0 disables the limit.
    pub limit: u32,
    /// The window, in seconds.
    pub window_secs: u64,
    /// What counts as the same URI.
    pub per: Per,
}

/// How requests are grouped by URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Per {
    /// The concrete path, as env0's WAF counts.
    Path,
    /// The route template (`/api-keys/{id}`).
    Template,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            limit: 1000,
            window_secs: 60,
            per: Per::Path,
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

/// env0's routes (authenticated, rate limited, counted, subject to faults) and the
/// sandbox-only helpers.
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/organizations", get(list_orgs).post(create_org))
        .route("/organizations/{id}", get(get_org))
        .route("/api-keys", get(list_keys).post(create_key))
        .route("/api-keys/{id}", delete(delete_key))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            rate_limit,
        ));
    vendor_layers(api, shared, family, fault_response)
        .route(
            "/_sandbox/env0/rate_limit",
            get(get_rate_limit).post(set_rate_limit),
        )
        .route(
            "/_sandbox/env0/organizations/{id}/projects",
            post(add_project),
        )
        .route("/_sandbox/env0/organizations/{id}/roles", post(add_role))
        .route("/_sandbox/env0/api_keys/{id}/created", post(set_created))
}

/// The request-counter family of an env0 request, e.g. `env0.api_keys.create`.
pub(crate) fn family(method: &Method, path: &str) -> &'static str {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["organizations"]) => "env0.orgs.create",
        ("GET", ["organizations"]) => "env0.orgs.list",
        ("GET", ["organizations", _]) => "env0.orgs.get",
        ("POST", ["api-keys"]) => "env0.api_keys.create",
        ("GET", ["api-keys"]) => "env0.api_keys.list",
        ("DELETE", ["api-keys", _]) => "env0.api_keys.delete",
        _ => "env0.other",
    }
}

/// env0's answer to an injected fault.
pub(crate) fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Unavailable => {
            gateway_message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Fault::Throttled => {
            let mut response = too_many_requests();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// 404 (plain text) for a path under env0's prefixes that the sandbox does not emulate.
pub(crate) fn not_found(path: &str) -> Option<Response> {
    let ours = ["/organizations", "/api-keys"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    ours.then(|| {
        Env0Error::not_found(format!(
            "Not Found: keysmith-sandbox has no env0 route {path}"
        ))
        .into_response()
    })
}

fn gateway_message(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

fn too_many_requests() -> Response {
    gateway_message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(family(&Method::POST, "/organizations"), "env0.orgs.create");
        assert_eq!(family(&Method::GET, "/organizations/"), "env0.orgs.list");
        assert_eq!(family(&Method::GET, "/organizations/x"), "env0.orgs.get");
        assert_eq!(family(&Method::POST, "/api-keys"), "env0.api_keys.create");
        assert_eq!(family(&Method::GET, "/api-keys"), "env0.api_keys.list");
        assert_eq!(
            family(&Method::DELETE, "/api-keys/abc"),
            "env0.api_keys.delete"
        );
        assert_eq!(family(&Method::PUT, "/organizations/x"), "env0.other");
    }

    #[test]
    fn rate_limit_config_parses_with_defaults() {
        let c: RateLimit = serde_json::from_str(r#"{"limit": 5}"#).unwrap();
        assert_eq!((c.limit, c.window_secs, c.per), (5, 60, Per::Path));
        let c: RateLimit = serde_json::from_str(r#"{"per": "template"}"#).unwrap();
        assert_eq!((c.limit, c.per), (1000, Per::Template));
        assert!(serde_json::from_str::<RateLimit>(r#"{"bogus": 1}"#).is_err());
        assert!(serde_json::from_str::<RateLimit>(r#"{"per": "ip"}"#).is_err());
    }

    #[test]
    fn not_found_covers_only_env0_prefixes() {
        assert!(not_found("/organizations/x/users").is_some());
        assert!(not_found("/api-keys/a/b").is_some());
        assert!(not_found("/organizationsx").is_none());
        assert!(not_found("/v1/api_key").is_none());
    }
}
