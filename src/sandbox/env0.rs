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

use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::connections::Connection;
use super::digest::constant_time_eq;
use super::faults::Fault;
use super::ratelimit::{parse_config, Limit, LimitConfig};
use super::store::{
    now_rfc3339, random_alphanumeric, random_lowercase_alphanumeric, rfc3339_at, unix_now, uuid_v4,
    Env0Credentials, IdGen,
};
use super::{control_error, created_of, form_pairs, vendor_layers, Shared};

/// Roles a project permission can grant.
const PROJECT_ROLES: [&str; 4] = ["Planner", "Viewer", "Deployer", "Admin"];

/// How long a new organization's trial lasts.
const TRIAL_SECS: i64 = 14 * 24 * 3600;

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// Every env0 object the sandbox holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Env0Data {
    /// Organizations, in creation order, each with its projects, roles and API keys.
    #[serde(default)]
    pub orgs: Vec<Org>,
    /// What the seeded objects were, to restore them on reset (`None` in a state file written
    /// before env0 was emulated).
    #[serde(default)]
    pub seed: Option<Seed>,
}

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Org {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `photoUrl`.
    pub photo_url: Option<String>,
    /// `createdBy`: a user id, or the id of the API key that created it.
    pub created_by: String,
    /// `createdAt`.
    pub created_at: String,
    /// `mode`: `paying`, `trial` or `free`.
    pub mode: String,
    /// `trialEnd` (trial organizations).
    pub trial_end: Option<String>,
    /// Projects (only their existence matters: project permissions name them).
    #[serde(default)]
    pub projects: Vec<Named>,
    /// Custom roles (an API key's `organizationRole` may be one's id).
    #[serde(default)]
    pub custom_roles: Vec<Named>,
    /// API keys, in creation order.
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
}

/// A project or a custom role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Named {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
}

/// An organization API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ApiKey {
    /// `id` (UUID).
    pub id: String,
    /// `name`.
    pub name: String,
    /// `apiKeyId`: the Basic username.
    pub api_key_id: String,
    /// `apiKeySecret`: the Basic password.
    pub api_key_secret: String,
    /// `organizationRole`: `Admin`, `User` or a custom role id.
    pub organization_role: String,
    /// `projectsPermissions`.
    #[serde(default)]
    pub projects_permissions: Vec<ProjectPermission>,
    /// `createdAt`.
    pub created_at: String,
    /// `createdBy`.
    pub created_by: String,
    /// `lastUsedAt`: when it last authenticated.
    #[serde(default)]
    pub last_used_at: Option<String>,
}

/// A role of an API key in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProjectPermission {
    /// The project.
    pub project_id: String,
    /// `Planner`, `Viewer`, `Deployer` or `Admin`.
    pub project_role: String,
}

/// The seeded objects' identities.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Seed {
    /// The seeded organization's id (the credentials' `organization_id`).
    pub org_id: String,
    /// The seeded organization's name.
    pub org_name: String,
    /// Its creator (a user id).
    pub org_created_by: String,
    /// Its creation time.
    pub org_created_at: String,
    /// The seeded key's `id`.
    pub api_key_id: String,
    /// Its seeded project.
    pub project: Named,
    /// Its seeded custom role.
    pub custom_role: Named,
}

impl Env0Data {
    /// The objects the seeded credentials belong to: a paying organization holding the
    /// seeded `Admin` key, one project and one custom role.
    pub(crate) fn seeded(credentials: &Env0Credentials, ids: &IdGen) -> Env0Data {
        let mut data = Env0Data {
            orgs: Vec::new(),
            seed: Some(Seed {
                org_id: credentials.organization_id.clone(),
                org_name: "keysmith-sandbox".to_owned(),
                org_created_by: format!("auth0|{}", ids.object_id()),
                org_created_at: now_rfc3339(),
                api_key_id: uuid_v4(),
                project: Named {
                    id: uuid_v4(),
                    name: "keysmith-sandbox project".to_owned(),
                },
                custom_role: Named {
                    id: uuid_v4(),
                    name: "keysmith-sandbox custom role".to_owned(),
                },
            }),
        };
        data.reset(credentials);
        data
    }

    /// Removes every object but the seeded organization, key, project and role, restored as
    /// seeded. Seeds a state file written before env0 was emulated.
    pub(crate) fn reset(&mut self, credentials: &Env0Credentials) {
        let Some(seed) = &self.seed else {
            *self = Env0Data::seeded(credentials, &IdGen::new());
            return;
        };
        self.orgs = vec![Org {
            id: credentials.organization_id.clone(),
            name: seed.org_name.clone(),
            description: None,
            photo_url: None,
            created_by: seed.org_created_by.clone(),
            created_at: seed.org_created_at.clone(),
            mode: "paying".to_owned(),
            trial_end: None,
            projects: vec![seed.project.clone()],
            custom_roles: vec![seed.custom_role.clone()],
            api_keys: vec![ApiKey {
                id: seed.api_key_id.clone(),
                name: "keysmith-sandbox seeded key".to_owned(),
                api_key_id: credentials.api_key_id.clone(),
                api_key_secret: credentials.api_key_secret.clone(),
                organization_role: "Admin".to_owned(),
                projects_permissions: Vec::new(),
                created_at: seed.org_created_at.clone(),
                created_by: seed.org_created_by.clone(),
                last_used_at: None,
            }],
        }];
    }

    /// The `env0` part of `GET /_sandbox/state`: no API key secret.
    pub(crate) fn state_view(&self, rate_limit: RateLimit) -> Value {
        let seed_org = self.seed.as_ref().map(|s| s.org_id.as_str());
        let seed_key = self.seed.as_ref().map(|s| s.api_key_id.as_str());
        let orgs: Vec<Value> = self
            .orgs
            .iter()
            .map(|o| {
                let keys: Vec<Value> = o
                    .api_keys
                    .iter()
                    .map(|k| {
                        json!({
                            "id": k.id,
                            "name": k.name,
                            "api_key_id": k.api_key_id,
                            "organization_role": k.organization_role,
                            "projects_permissions": k.projects_permissions,
                            "created_at": k.created_at,
                            "created_by": k.created_by,
                            "last_used_at": k.last_used_at,
                            "seeded": Some(k.id.as_str()) == seed_key,
                        })
                    })
                    .collect();
                json!({
                    "id": o.id,
                    "name": o.name,
                    "description": o.description,
                    "photo_url": o.photo_url,
                    "mode": o.mode,
                    "created_by": o.created_by,
                    "created_at": o.created_at,
                    "seeded": Some(o.id.as_str()) == seed_org,
                    "projects": o.projects,
                    "custom_roles": o.custom_roles,
                    "api_keys": keys,
                })
            })
            .collect();
        json!({ "orgs": orgs, "rate_limit": rate_limit })
    }

    fn org(&self, id: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.id == id)
    }

    fn org_mut(&mut self, id: &str) -> Option<&mut Org> {
        self.orgs.iter_mut().find(|o| o.id == id)
    }

    /// The role of `caller` in `org`, if it belongs to it.
    fn role_in<'a>(caller: &'a Caller, org: &Org) -> Option<&'a str> {
        if org.id == caller.org_id {
            Some(&caller.role)
        } else if org.created_by == caller.key_id {
            Some("Admin")
        } else {
            None
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// An error of env0's backend: a status and a plain-text message.
#[derive(Debug, Clone)]
pub(crate) struct Env0Error {
    status: StatusCode,
    message: String,
}

impl Env0Error {
    fn new(status: StatusCode, message: impl Into<String>) -> Env0Error {
        Env0Error {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Env0Error {
        Env0Error::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Env0Error {
        Env0Error::new(StatusCode::NOT_FOUND, message)
    }

    fn forbidden() -> Env0Error {
        Env0Error::new(
            StatusCode::FORBIDDEN,
            "You do not have permission to perform this action",
        )
    }

    fn internal(why: impl std::fmt::Display) -> Env0Error {
        tracing::error!("env0: {why}");
        Env0Error::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
}

impl IntoResponse for Env0Error {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.message,
        )
            .into_response()
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limit and authentication
// ---------------------------------------------------------------------------------------------

async fn rate_limit(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<Connection>>()
        .map(|c| c.0.peer().ip().to_string())
        .unwrap_or_else(|| "-".to_owned());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let verdict = shared.env0_limits().check(|config| {
        let uri = match config.per {
            Per::Path => path.clone(),
            Per::Template => family(&method, &path).to_owned(),
        };
        let limit = Limit {
            limit: config.limit,
            window: std::time::Duration::from_secs(config.window_secs),
        };
        Some((format!("{ip} {method} {uri}"), limit))
    });
    match verdict {
        Ok(()) => next.run(request).await,
        Err(_) => too_many_requests(),
    }
}

/// Who made the request: an API key, its organization and its role there.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    key_id: String,
    org_id: String,
    role: String,
}

/// `(username, password)` of a Basic `Authorization` header.
fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

async fn guard(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    let Some((user, password)) = basic_credentials(&request) else {
        return gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let now = now_rfc3339();
    // Records `lastUsedAt` without writing the state file now: the next write (or the
    // shutdown) carries it.
    let caller = shared.try_mutate(|s| {
        for org in &mut s.env0.orgs {
            let org_id = org.id.clone();
            if let Some(key) = org.api_keys.iter_mut().find(|k| {
                k.api_key_id == user
                    && constant_time_eq(k.api_key_secret.as_bytes(), password.as_bytes())
            }) {
                key.last_used_at = Some(now.clone());
                return Ok(Caller {
                    key_id: key.id.clone(),
                    org_id,
                    role: key.organization_role.clone(),
                });
            }
        }
        Err(())
    });
    match caller {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(()) => gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized"),
    }
}

// ---------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------

/// The JSON object body, its attributes all among `allowed` (errors name it `at`).
fn object_at(value: &Value, at: &str, allowed: &[&str]) -> Result<Map<String, Value>, Env0Error> {
    let Value::Object(object) = value else {
        return Err(Env0Error::bad_request(format!("{at} must be object")));
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Env0Error::bad_request(format!(
            "{at} must NOT have additional properties ('{unknown}')"
        )));
    }
    Ok(object.clone())
}

fn body_object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Env0Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Env0Error::bad_request(format!("Body is not valid JSON: {e}")))?;
    object_at(&value, "/body", allowed)
}

/// A string attribute: `Ok(None)` when absent; non-empty when `required`.
fn string_at(
    object: &Map<String, Value>,
    at: &str,
    name: &str,
    required: bool,
) -> Result<Option<String>, Env0Error> {
    match object.get(name) {
        None if required => Err(Env0Error::bad_request(format!(
            "{at} must have required property '{name}'"
        ))),
        None => Ok(None),
        Some(Value::String(s)) if required && s.is_empty() => Err(Env0Error::bad_request(format!(
            "{at}/{name} must NOT have fewer than 1 characters"
        ))),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Env0Error::bad_request(format!(
            "{at}/{name} must be string"
        ))),
    }
}

/// The path's `{id}`; a malformed one names nothing (404).
fn path_id(path: Result<Path<String>, PathRejection>, what: &str) -> Result<String, Env0Error> {
    path.map(|Path(id)| id)
        .map_err(|_| Env0Error::not_found(format!("{what} not found")))
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    form_pairs(uri.query().unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

// ---------------------------------------------------------------------------------------------
// Organizations
// ---------------------------------------------------------------------------------------------

fn org_json(org: &Org, role: Option<&str>) -> Value {
    let mut body = json!({
        "id": org.id,
        "name": org.name,
        "description": org.description,
        "photoUrl": org.photo_url,
        "createdBy": org.created_by,
        "createdAt": org.created_at,
        "updatedAt": org.created_at,
        "mode": org.mode,
        "maxTtl": null,
        "defaultTtl": null,
        "doNotReportSkippedStatusChecks": false,
        "doNotConsiderMergeCommitsForPrPlans": false,
        "enableOidc": false,
        "enforcePrCommenterPermissions": false,
        "allowEnv0Secrets": true,
        "requireApprovalForPrApplies": false,
        "allowMergeableBypassForPrApply": false,
        "projectCustomFlowsPolicy": "MERGE_WITH_TEMPLATES",
        "isSelfHostedK8s": false,
    });
    if let Some(end) = &org.trial_end {
        body["trialEnd"] = json!(end);
    }
    if let Some(role) = role {
        body["role"] = json!(role);
    }
    body
}

async fn create_org(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Env0Error> {
    let object = body_object(&body, &["name", "description", "photoUrl"])?;
    let name = string_at(&object, "/body", "name", true)?.unwrap_or_default();
    let description = string_at(&object, "/body", "description", false)?;
    let photo_url = string_at(&object, "/body", "photoUrl", false)?;
    let org = shared.try_mutate(|s| {
        let org = Org {
            id: uuid_v4(),
            name,
            description,
            photo_url,
            created_by: caller.key_id.clone(),
            created_at: now_rfc3339(),
            mode: "trial".to_owned(),
            trial_end: Some(rfc3339_at(unix_now() + TRIAL_SECS)),
            projects: Vec::new(),
            custom_roles: Vec::new(),
            api_keys: Vec::new(),
        };
        s.env0.orgs.push(org.clone());
        Ok::<_, Env0Error>(org)
    })?;
    shared.persist().await.map_err(Env0Error::internal)?;
    Ok(Json(org_json(&org, None)).into_response())
}

async fn list_orgs(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let orgs: Vec<Value> = shared.read(|s| {
        s.env0
            .orgs
            .iter()
            .filter_map(|o| Env0Data::role_in(&caller, o).map(|role| org_json(o, Some(role))))
            .collect()
    });
    Json(Value::Array(orgs)).into_response()
}

async fn get_org(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Env0Error> {
    let id = path_id(path, "Organization")?;
    shared
        .read(|s| {
            let org = s.env0.org(&id)?;
            Env0Data::role_in(&caller, org).map(|role| org_json(org, Some(role)))
        })
        .map(|org| Json(org).into_response())
        .ok_or_else(|| Env0Error::not_found(format!("Organization {id} not found")))
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

fn key_json(org_id: &str, key: &ApiKey, reveal: bool) -> Value {
    let mut body = json!({
        "id": key.id,
        "name": key.name,
        "apiKeyId": key.api_key_id,
        "organizationId": org_id,
        "organizationRole": key.organization_role,
        "createdAt": key.created_at,
        "createdBy": key.created_by,
        "lastUsedAt": key.last_used_at,
    });
    if reveal {
        body["apiKeySecret"] = json!(key.api_key_secret);
    }
    body
}

/// The organization `org_id` (default: the caller's), which the caller must administer.
fn admin_org<'a>(
    data: &'a Env0Data,
    caller: &Caller,
    org_id: Option<&str>,
) -> Result<&'a Org, Env0Error> {
    let org_id = org_id.unwrap_or(&caller.org_id);
    let org = data
        .org(org_id)
        .ok_or_else(|| Env0Error::not_found(format!("Organization {org_id} not found")))?;
    match Env0Data::role_in(caller, org) {
        Some("Admin") => Ok(org),
        _ => Err(Env0Error::forbidden()),
    }
}

/// A validated `permissions` object.
fn parse_permissions(
    org: &Org,
    value: Option<&Value>,
) -> Result<(String, Vec<ProjectPermission>), Env0Error> {
    let at = "/body/permissions";
    let Some(value) = value else {
        return Err(Env0Error::bad_request(
            "/body must have required property 'permissions'",
        ));
    };
    let object = object_at(value, at, &["organizationRole", "projectsPermissions"])?;
    let role = string_at(&object, at, "organizationRole", true)?.unwrap_or_default();
    if !matches!(role.as_str(), "Admin" | "User") && !org.custom_roles.iter().any(|r| r.id == role)
    {
        return Err(Env0Error::bad_request(format!(
            "{at}/organizationRole must be Admin, User or the id of a custom role of organization {}",
            org.id
        )));
    }
    let items = match object.get("projectsPermissions") {
        None | Some(Value::Null) => return Ok((role, Vec::new())),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Env0Error::bad_request(format!(
                "{at}/projectsPermissions must be array"
            )))
        }
    };
    if role == "Admin" && !items.is_empty() {
        return Err(Env0Error::bad_request(format!(
            "{at}/projectsPermissions can only be set with a non-Admin organizationRole"
        )));
    }
    let mut permissions: Vec<ProjectPermission> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{at}/projectsPermissions/{i}");
        let item = object_at(item, &at, &["projectId", "projectRole"])?;
        let project_id = string_at(&item, &at, "projectId", true)?.unwrap_or_default();
        let project_role = string_at(&item, &at, "projectRole", true)?.unwrap_or_default();
        if !PROJECT_ROLES.contains(&project_role.as_str()) {
            return Err(Env0Error::bad_request(format!(
                "{at}/projectRole must be equal to one of the allowed values ({})",
                PROJECT_ROLES.join(", ")
            )));
        }
        if !org.projects.iter().any(|p| p.id == project_id) {
            return Err(Env0Error::bad_request(format!(
                "{at}/projectId: project {project_id} not found in organization {}",
                org.id
            )));
        }
        if permissions.iter().any(|p| p.project_id == project_id) {
            return Err(Env0Error::bad_request(format!(
                "{at}/projectId: project {project_id} is listed twice"
            )));
        }
        permissions.push(ProjectPermission {
            project_id,
            project_role,
        });
    }
    Ok((role, permissions))
}

async fn create_key(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Env0Error> {
    let object = body_object(&body, &["name", "organizationId", "permissions"])?;
    let name = string_at(&object, "/body", "name", true)?.unwrap_or_default();
    let org_id = string_at(&object, "/body", "organizationId", false)?;
    let (org_id, key) = shared.try_mutate(|s| {
        let org = admin_org(&s.env0, &caller, org_id.as_deref())?;
        let (role, permissions) = parse_permissions(org, object.get("permissions"))?;
        let org_id = org.id.clone();
        let mut api_key_id = random_lowercase_alphanumeric(16);
        while s
            .env0
            .orgs
            .iter()
            .flat_map(|o| &o.api_keys)
            .any(|k| k.api_key_id == api_key_id)
        {
            api_key_id = random_lowercase_alphanumeric(16);
        }
        let key = ApiKey {
            id: uuid_v4(),
            name,
            api_key_id,
            api_key_secret: random_alphanumeric(32),
            organization_role: role,
            projects_permissions: permissions,
            created_at: now_rfc3339(),
            created_by: caller.key_id.clone(),
            last_used_at: None,
        };
        s.env0
            .org_mut(&org_id)
            .ok_or_else(|| Env0Error::internal("organization vanished"))?
            .api_keys
            .push(key.clone());
        Ok::<_, Env0Error>((org_id, key))
    })?;
    shared.persist().await.map_err(Env0Error::internal)?;
    Ok(Json(key_json(&org_id, &key, true)).into_response())
}

async fn list_keys(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, Env0Error> {
    let org_id = query_param(&uri, "organizationId").filter(|v| !v.is_empty());
    let keys = shared.read(|s| {
        let org = admin_org(&s.env0, &caller, org_id.as_deref())?;
        Ok::<_, Env0Error>(
            org.api_keys
                .iter()
                .map(|k| key_json(&org.id, k, false))
                .collect::<Vec<_>>(),
        )
    })?;
    Ok(Json(Value::Array(keys)).into_response())
}

async fn delete_key(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Env0Error> {
    let id = path_id(path, "API Key")?;
    shared.try_mutate(|s| {
        let org = s
            .env0
            .orgs
            .iter_mut()
            .filter(|o| Env0Data::role_in(&caller, o) == Some("Admin"))
            .find(|o| o.api_keys.iter().any(|k| k.id == id))
            .ok_or_else(|| Env0Error::not_found(format!("API Key {id} not found")))?;
        org.api_keys.retain(|k| k.id != id);
        Ok::<_, Env0Error>(())
    })?;
    shared.persist().await.map_err(Env0Error::internal)?;
    Ok(StatusCode::OK.into_response())
}

// ---------------------------------------------------------------------------------------------
// Sandbox-only helpers
// ---------------------------------------------------------------------------------------------

async fn get_rate_limit(State(shared): State<Arc<Shared>>) -> Json<RateLimit> {
    Json(shared.env0_limits().config())
}

async fn set_rate_limit(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match parse_config::<RateLimit>(&body) {
        Ok(config) => {
            shared.env0_limits().set_config(config);
            Json(config).into_response()
        }
        Err(e) => control_error(StatusCode::BAD_REQUEST, &e),
    }
}

/// The optional `{"name"}` of a helper's body; `Err` when the body is not a JSON object.
fn helper_name(body: &[u8]) -> Result<Option<String>, ()> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o.get("name").and_then(Value::as_str).map(str::to_owned)),
        _ => Err(()),
    }
}

async fn add_named(shared: &Shared, org_id: String, body: &[u8], roles: bool) -> Response {
    let Ok(name) = helper_name(body) else {
        return control_error(StatusCode::BAD_REQUEST, "body must be a JSON object");
    };
    let added: Result<Named, ()> = shared.try_mutate(|s| {
        let org = s.env0.org_mut(&org_id).ok_or(())?;
        let list = if roles {
            &mut org.custom_roles
        } else {
            &mut org.projects
        };
        let kind = if roles { "role" } else { "project" };
        let named = Named {
            id: uuid_v4(),
            name: name.unwrap_or_else(|| format!("{kind}-{}", list.len() + 1)),
        };
        list.push(named.clone());
        Ok(named)
    });
    let Ok(named) = added else {
        return control_error(StatusCode::NOT_FOUND, "no such organization");
    };
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    (
        StatusCode::CREATED,
        Json(json!({ "id": named.id, "name": named.name, "organizationId": org_id })),
    )
        .into_response()
}

async fn add_project(
    State(shared): State<Arc<Shared>>,
    Path(org_id): Path<String>,
    body: Bytes,
) -> Response {
    add_named(&shared, org_id, &body, false).await
}

async fn add_role(
    State(shared): State<Arc<Shared>>,
    Path(org_id): Path<String>,
    body: Bytes,
) -> Response {
    add_named(&shared, org_id, &body, true).await
}

/// `POST /_sandbox/env0/api_keys/{id}/created`: the key's `createdAt` becomes the given time.
async fn set_created(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let created = match created_of(&body) {
        Ok(created) => created,
        Err(why) => return control_error(StatusCode::BAD_REQUEST, &why),
    };
    let updated = shared.try_mutate(|s| {
        s.env0
            .orgs
            .iter_mut()
            .find_map(|o| {
                let org_id = o.id.clone();
                o.api_keys
                    .iter_mut()
                    .find(|k| k.id == id)
                    .map(|k| (org_id, k))
            })
            .map(|(org_id, key)| {
                key.created_at = created;
                key_json(&org_id, key, false)
            })
            .ok_or(())
    });
    let Ok(key) = updated else {
        return control_error(StatusCode::NOT_FOUND, "no such API key");
    };
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    Json(key).into_response()
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
