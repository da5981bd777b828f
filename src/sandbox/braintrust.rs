//! Braintrust's REST API as far as keysmith uses it: API keys (create, list, get, delete) and
//! organizations (list, get), with bearer authentication and cursor pagination.
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/api_key` | 200 `CreateApiKeyOutput`, with the raw `key` (the only time) |
//! | `GET /v1/api_key` | 200 `{"objects": [ApiKey]}`, newest first |
//! | `GET /v1/api_key/{api_key_id}` | 200 `ApiKey` |
//! | `DELETE /v1/api_key/{api_key_id}` | 200 the deleted `ApiKey` |
//! | `GET /v1/organization` | 200 `{"objects": [Organization]}`, newest first |
//! | `GET /v1/organization/{organization_id}` | 200 `Organization` |
//!
//! Authentication: `Authorization: Bearer <key>` with any key the sandbox holds (the seeded one
//! or one created through it; a deleted key stops authenticating). Every key belongs to the one
//! sandbox user, who is a member of every organization; a key also belongs to one organization,
//! the default for keys it creates (`org_name` picks another of the user's organizations; an
//! unknown one is 403).
//!
//! Lists take `limit` (integer ≥ 0; default: everything), `starting_after` or `ending_before`
//! (an object id: the page after or before it in the newest-first order; not both),
//! `ids` (repeatable), `org_name`, and for keys `api_key_name` (exact). There is no `has_more`:
//! a client pages until a short or empty page. A cursor naming no existing object is a 400.
//!
//! Errors: 401 and 429 are `text/plain`; 400, 403, 404 (unknown id), 500 and 503 are
//! `application/json` `{"error": "<message>"}`. A 429 carries `Retry-After` (seconds). Unknown
//! paths under `/v1/` get a JSON 404.
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
//!   (a test hook for far-future or odd vendor dates); 200 the key, 404 for an unknown `id`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::digest::constant_time_eq;
use super::faults::Fault;
use super::ratelimit::{parse_config, retry_after_secs, Limit, LimitConfig};
use super::store::{random_alphanumeric, uuid_v4, BraintrustCredentials};
use super::{control_error, created_of, form_pairs, vendor_layers, Shared};

/// Values of `image_rendering_mode` besides null.
const IMAGE_RENDERING_MODES: [&str; 3] = ["auto", "click_to_load", "blocked"];

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// Every Braintrust object the sandbox holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct BraintrustData {
    /// Organizations, in creation order.
    #[serde(default)]
    pub orgs: Vec<Org>,
    /// API keys, in creation order.
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    /// The seeded objects (`None` in a state file written before Braintrust was emulated).
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
    /// Creation time.
    pub created: String,
    /// `api_url`.
    pub api_url: Option<String>,
    /// `is_universal_api`.
    pub is_universal_api: Option<bool>,
    /// `is_dataplane_private`.
    pub is_dataplane_private: Option<bool>,
    /// `proxy_url`.
    pub proxy_url: Option<String>,
    /// `realtime_url`.
    pub realtime_url: Option<String>,
    /// `image_rendering_mode`.
    pub image_rendering_mode: Option<String>,
}

/// An API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ApiKey {
    /// UUID.
    pub id: String,
    /// Name (not unique).
    pub name: String,
    /// The raw key, `sk-…` (secret).
    pub key: String,
    /// Its organization.
    pub org_id: String,
    /// Its user.
    pub user_id: String,
    /// Creation time.
    pub created: String,
}

/// The sandbox's one user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct User {
    /// UUID.
    pub id: String,
    /// Email.
    pub email: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
}

/// The seeded objects' identities.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Seed {
    /// The user every key belongs to.
    pub user: User,
    /// The seeded organization's id (the credentials' `org_id`).
    pub org_id: String,
    /// The seeded organization's creation time.
    pub org_created: String,
    /// The seeded key's id.
    pub api_key_id: String,
}

impl BraintrustData {
    /// The objects the seeded credentials belong to: the user, its organization and its key.
    pub(crate) fn seeded(credentials: &BraintrustCredentials) -> BraintrustData {
        let mut data = BraintrustData {
            seed: Some(Seed {
                user: User {
                    id: uuid_v4(),
                    email: "sandbox@keysmith.invalid".to_owned(),
                    given_name: "Keysmith".to_owned(),
                    family_name: "Sandbox".to_owned(),
                },
                org_id: credentials.org_id.clone(),
                org_created: now_millis(),
                api_key_id: uuid_v4(),
            }),
            ..BraintrustData::default()
        };
        data.reset(credentials);
        data
    }

    /// Removes every object but the seeded organization and key, restored as seeded. Seeds a
    /// state file written before Braintrust was emulated.
    pub(crate) fn reset(&mut self, credentials: &BraintrustCredentials) {
        let Some(seed) = &self.seed else {
            *self = BraintrustData::seeded(credentials);
            return;
        };
        self.orgs = vec![Org {
            id: credentials.org_id.clone(),
            name: credentials.org_name.clone(),
            created: seed.org_created.clone(),
            api_url: None,
            is_universal_api: Some(true),
            is_dataplane_private: Some(false),
            proxy_url: None,
            realtime_url: None,
            image_rendering_mode: Some("auto".to_owned()),
        }];
        self.api_keys = vec![ApiKey {
            id: seed.api_key_id.clone(),
            name: "keysmith-sandbox seeded key".to_owned(),
            key: credentials.api_key.clone(),
            org_id: credentials.org_id.clone(),
            user_id: seed.user.id.clone(),
            created: seed.org_created.clone(),
        }];
    }

    /// The `braintrust` part of `GET /_sandbox/state`: no raw key.
    pub(crate) fn state_view(&self, rate_limit: RateLimit) -> Value {
        let seed_key = self.seed.as_ref().map(|s| s.api_key_id.as_str());
        let seed_org = self.seed.as_ref().map(|s| s.org_id.as_str());
        let orgs: Vec<Value> = self
            .orgs
            .iter()
            .map(|o| {
                let mut view = org_json(o);
                view["seeded"] = json!(Some(o.id.as_str()) == seed_org);
                view
            })
            .collect();
        let keys: Vec<Value> = self
            .api_keys
            .iter()
            .map(|k| {
                json!({
                    "id": k.id,
                    "name": k.name,
                    "preview_name": preview(&k.key),
                    "org_id": k.org_id,
                    "user_id": k.user_id,
                    "created": k.created,
                    "seeded": Some(k.id.as_str()) == seed_key,
                })
            })
            .collect();
        let users: Vec<&User> = self.seed.iter().map(|s| &s.user).collect();
        json!({ "orgs": orgs, "users": users, "api_keys": keys, "rate_limit": rate_limit })
    }

    fn user(&self) -> Option<&User> {
        self.seed.as_ref().map(|s| &s.user)
    }
}

/// The current time as RFC 3339 with milliseconds, as Braintrust reports times.
fn now_millis() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

/// `sk-****` and the key's last four characters.
fn preview(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("sk-****{tail}")
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

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
        .route("/v1/api_key", get(list_keys).post(create_key))
        .route("/v1/api_key/{api_key_id}", get(get_key).delete(delete_key))
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

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A Braintrust error: plain text for 401 and 429, `{"error": message}` otherwise.
#[derive(Debug, Clone)]
pub(crate) struct BtError {
    status: StatusCode,
    message: String,
}

impl BtError {
    fn new(status: StatusCode, message: impl Into<String>) -> BtError {
        BtError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> BtError {
        BtError::new(StatusCode::BAD_REQUEST, message)
    }

    fn internal(why: impl std::fmt::Display) -> BtError {
        tracing::error!("braintrust: {why}");
        BtError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}

impl IntoResponse for BtError {
    fn into_response(self) -> Response {
        if matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
        ) {
            (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                self.message,
            )
                .into_response()
        } else {
            (
                self.status,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                json!({ "error": self.message }).to_string(),
            )
                .into_response()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication and rate limit
// ---------------------------------------------------------------------------------------------

/// Who made the request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    user_id: String,
    org_id: String,
}

async fn guard(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
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
        s.braintrust
            .api_keys
            .iter()
            .find(|k| constant_time_eq(k.key.as_bytes(), token.as_bytes()))
            .map(|k| Caller {
                user_id: k.user_id.clone(),
                org_id: k.org_id.clone(),
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

// ---------------------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------------------

/// The query of a list route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ListQuery {
    limit: Option<usize>,
    starting_after: Option<String>,
    ending_before: Option<String>,
    ids: Vec<String>,
    org_name: Option<String>,
    api_key_name: Option<String>,
}

impl ListQuery {
    fn parse(query: Option<&str>) -> Result<ListQuery, BtError> {
        let mut q = ListQuery::default();
        let uuid = |name: &str, value: String| {
            if is_uuid(&value) {
                Ok(value.to_ascii_lowercase())
            } else {
                Err(BtError::bad_request(format!(
                    "Invalid {name}: {value:?} is not a UUID"
                )))
            }
        };
        for (key, value) in form_pairs(query.unwrap_or("")) {
            match key.as_str() {
                "limit" if value.is_empty() || value == "null" => {}
                "limit" => {
                    q.limit = Some(value.parse::<usize>().map_err(|_| {
                        BtError::bad_request(format!(
                            "Invalid limit: {value:?} is not a non-negative integer"
                        ))
                    })?)
                }
                "starting_after" => q.starting_after = Some(uuid("starting_after", value)?),
                "ending_before" => q.ending_before = Some(uuid("ending_before", value)?),
                "ids" | "ids[]" => q.ids.push(uuid("ids", value)?),
                "org_name" => q.org_name = Some(value),
                "api_key_name" => q.api_key_name = Some(value),
                _ => {}
            }
        }
        if q.starting_after.is_some() && q.ending_before.is_some() {
            return Err(BtError::bad_request(
                "Only one of starting_after and ending_before may be specified",
            ));
        }
        Ok(q)
    }

    /// The page of `items` (in creation order) that match `keep`, newest first.
    fn page<'a, T>(
        &self,
        items: &'a [T],
        id_of: impl Fn(&T) -> &str,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<&'a T>, BtError> {
        let limit = self.limit.unwrap_or(usize::MAX);
        let keep =
            |t: &&T| (self.ids.is_empty() || self.ids.iter().any(|i| i == id_of(t))) && keep(t);
        let position = |cursor: &str, name: &str| {
            items
                .iter()
                .position(|t| id_of(t) == cursor)
                .ok_or_else(|| {
                    BtError::bad_request(format!("Invalid {name}: no object with id {cursor}"))
                })
        };
        if let Some(cursor) = &self.starting_after {
            let at = position(cursor, "starting_after")?;
            Ok(items[..at].iter().rev().filter(keep).take(limit).collect())
        } else if let Some(cursor) = &self.ending_before {
            let at = position(cursor, "ending_before")?;
            let mut page: Vec<&T> = items[at + 1..].iter().filter(keep).take(limit).collect();
            page.reverse();
            Ok(page)
        } else {
            Ok(items.iter().rev().filter(keep).take(limit).collect())
        }
    }
}

fn objects(items: Vec<Value>) -> Response {
    Json(json!({ "objects": items })).into_response()
}

// ---------------------------------------------------------------------------------------------
// Organizations
// ---------------------------------------------------------------------------------------------

fn org_json(org: &Org) -> Value {
    json!({
        "id": org.id,
        "name": org.name,
        "api_url": org.api_url,
        "is_universal_api": org.is_universal_api,
        "is_dataplane_private": org.is_dataplane_private,
        "proxy_url": org.proxy_url,
        "realtime_url": org.realtime_url,
        "created": org.created,
        "image_rendering_mode": org.image_rendering_mode,
    })
}

async fn list_orgs(State(shared): State<Arc<Shared>>, uri: Uri) -> Result<Response, BtError> {
    let q = ListQuery::parse(uri.query())?;
    let page = shared.read(|s| {
        q.page(
            &s.braintrust.orgs,
            |o| &o.id,
            |o| q.org_name.as_ref().is_none_or(|n| *n == o.name),
        )
        .map(|page| page.into_iter().map(org_json).collect::<Vec<_>>())
    })?;
    Ok(objects(page))
}

/// The path's id, which must be a UUID (lowercased).
fn checked_id(path: Result<Path<String>, PathRejection>, what: &str) -> Result<String, BtError> {
    match path {
        Ok(Path(id)) if is_uuid(&id) => Ok(id.to_ascii_lowercase()),
        Ok(Path(id)) => Err(BtError::bad_request(format!(
            "Invalid {what}: {id:?} is not a UUID"
        ))),
        Err(_) => Err(BtError::bad_request(format!("Invalid {what}"))),
    }
}

async fn get_org(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, BtError> {
    let id = checked_id(path, "organization_id")?;
    shared
        .read(|s| s.braintrust.orgs.iter().find(|o| o.id == id).map(org_json))
        .map(|org| Json(org).into_response())
        .ok_or_else(|| {
            BtError::new(
                StatusCode::NOT_FOUND,
                format!("Organization {id} not found"),
            )
        })
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

fn key_json(data: &BraintrustData, key: &ApiKey, reveal: bool) -> Value {
    let user = data.user().filter(|u| u.id == key.user_id);
    let mut body = json!({
        "id": key.id,
        "created": key.created,
        "name": key.name,
        "preview_name": preview(&key.key),
        "user_id": key.user_id,
        "user_email": user.map(|u| &u.email),
        "user_given_name": user.map(|u| &u.given_name),
        "user_family_name": user.map(|u| &u.family_name),
        "org_id": key.org_id,
    });
    if reveal {
        body["key"] = json!(key.key);
    }
    body
}

/// `name` and `org_name` of a create request.
fn parse_new_key(body: &[u8]) -> Result<(String, Option<String>), BtError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| BtError::bad_request(format!("Invalid JSON body: {e}")))?
    };
    let Value::Object(object) = value else {
        return Err(BtError::bad_request(
            "The request body must be a JSON object",
        ));
    };
    let name = match object.get("name") {
        None | Some(Value::Null) => return Err(BtError::bad_request("name: Required")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(BtError::bad_request("name: must not be empty"))
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(BtError::bad_request("name: Expected string")),
    };
    let org_name = match object.get("org_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(BtError::bad_request("org_name: Expected string")),
    };
    Ok((name, org_name))
}

async fn create_key(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, BtError> {
    let (name, org_name) = parse_new_key(&body)?;
    let created = shared.try_mutate(|s| {
        let data = &mut s.braintrust;
        let org_id = match &org_name {
            None => caller.org_id.clone(),
            Some(n) => data
                .orgs
                .iter()
                .find(|o| o.name == *n)
                .map(|o| o.id.clone())
                .ok_or_else(|| {
                    BtError::new(
                        StatusCode::FORBIDDEN,
                        format!("User does not belong to an organization named {n:?}"),
                    )
                })?,
        };
        let key = ApiKey {
            id: uuid_v4(),
            name,
            key: format!("sk-{}", random_alphanumeric(48)),
            org_id,
            user_id: caller.user_id.clone(),
            created: now_millis(),
        };
        data.api_keys.push(key.clone());
        Ok::<_, BtError>(key_json(data, &key, true))
    })?;
    shared.persist().await.map_err(BtError::internal)?;
    Ok(Json(created).into_response())
}

async fn list_keys(State(shared): State<Arc<Shared>>, uri: Uri) -> Result<Response, BtError> {
    let q = ListQuery::parse(uri.query())?;
    let page = shared.read(|s| {
        let data = &s.braintrust;
        let org_id = match &q.org_name {
            Some(n) => match data.orgs.iter().find(|o| o.name == *n) {
                Some(o) => Some(o.id.as_str()),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        q.page(
            &data.api_keys,
            |k| &k.id,
            |k| {
                org_id.is_none_or(|o| o == k.org_id)
                    && q.api_key_name.as_ref().is_none_or(|n| *n == k.name)
            },
        )
        .map(|page| {
            page.into_iter()
                .map(|k| key_json(data, k, false))
                .collect::<Vec<_>>()
        })
    })?;
    Ok(objects(page))
}

async fn get_key(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, BtError> {
    let id = checked_id(path, "api_key_id")?;
    shared
        .read(|s| {
            let data = &s.braintrust;
            data.api_keys
                .iter()
                .find(|k| k.id == id)
                .map(|k| key_json(data, k, false))
        })
        .map(|key| Json(key).into_response())
        .ok_or_else(|| BtError::new(StatusCode::NOT_FOUND, format!("ApiKey {id} not found")))
}

async fn delete_key(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, BtError> {
    let id = checked_id(path, "api_key_id")?;
    let deleted = shared.try_mutate(|s| {
        let data = &mut s.braintrust;
        let at = data
            .api_keys
            .iter()
            .position(|k| k.id == id)
            .ok_or_else(|| BtError::new(StatusCode::NOT_FOUND, format!("ApiKey {id} not found")))?;
        let key = data.api_keys.remove(at);
        Ok::<_, BtError>(key_json(data, &key, false))
    })?;
    shared.persist().await.map_err(BtError::internal)?;
    Ok(Json(deleted).into_response())
}

// ---------------------------------------------------------------------------------------------
// Sandbox-only helpers
// ---------------------------------------------------------------------------------------------

async fn get_rate_limit(State(shared): State<Arc<Shared>>) -> Json<RateLimit> {
    Json(shared.braintrust_limits().config())
}

async fn set_rate_limit(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match parse_config::<RateLimit>(&body) {
        Ok(config) => {
            shared.braintrust_limits().set_config(config);
            Json(config).into_response()
        }
        Err(e) => control_error(StatusCode::BAD_REQUEST, &e),
    }
}

/// The body of `POST /_sandbox/braintrust/organizations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrg {
    name: String,
    #[serde(default)]
    api_url: Option<String>,
    #[serde(default)]
    is_universal_api: Option<bool>,
    #[serde(default)]
    is_dataplane_private: Option<bool>,
    #[serde(default)]
    proxy_url: Option<String>,
    #[serde(default)]
    realtime_url: Option<String>,
    #[serde(default)]
    image_rendering_mode: Option<String>,
}

async fn add_org(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = match serde_json::from_slice::<NewOrg>(&body) {
        Ok(r) if r.name.trim().is_empty() => {
            return control_error(StatusCode::BAD_REQUEST, "name must not be empty")
        }
        Ok(r) => r,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if let Some(mode) = &request.image_rendering_mode {
        if !IMAGE_RENDERING_MODES.contains(&mode.as_str()) {
            return control_error(
                StatusCode::BAD_REQUEST,
                "image_rendering_mode must be auto, click_to_load or blocked",
            );
        }
    }
    let added = shared.try_mutate(|s| {
        if s.braintrust.orgs.iter().any(|o| o.name == request.name) {
            return Err("an organization with this name exists");
        }
        let org = Org {
            id: uuid_v4(),
            name: request.name,
            created: now_millis(),
            api_url: request.api_url,
            is_universal_api: request.is_universal_api,
            is_dataplane_private: request.is_dataplane_private,
            proxy_url: request.proxy_url,
            realtime_url: request.realtime_url,
            image_rendering_mode: request.image_rendering_mode,
        };
        s.braintrust.orgs.push(org.clone());
        Ok(org)
    });
    let org = match added {
        Ok(org) => org,
        Err(why) => return control_error(StatusCode::CONFLICT, why),
    };
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    (StatusCode::CREATED, Json(org_json(&org))).into_response()
}

/// `POST /_sandbox/braintrust/api_keys/{id}/created`: the key's `created` becomes the given
/// time.
async fn set_created(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let created = match created_of(&body) {
        Ok(created) => created,
        Err(why) => return control_error(StatusCode::BAD_REQUEST, &why),
    };
    let id = id.to_ascii_lowercase();
    let updated = shared.try_mutate(|s| {
        let data = &mut s.braintrust;
        let key = data.api_keys.iter_mut().find(|k| k.id == id).ok_or(())?;
        key.created = created;
        let key = key.clone();
        Ok::<_, ()>(key_json(data, &key, false))
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
    }

    #[test]
    fn previews_and_uuids() {
        assert_eq!(preview("sk-abcdefgh1234"), "sk-****1234");
        assert!(is_uuid("0123abcd-0123-4abc-8def-0123456789AB"));
        assert!(!is_uuid("0123abcd-0123-4abc-8def-0123456789"));
        assert!(!is_uuid("0123abcd01234abc8def0123456789ab"));
        assert!(now_millis().ends_with('Z'));
        assert_eq!(now_millis().len(), 24);
    }

    #[test]
    fn list_queries() {
        let id = "0123abcd-0123-4abc-8def-0123456789ab";
        let q = ListQuery::parse(Some(&format!(
            "limit=2&starting_after={id}&ids={id}&ids={id}&api_key_name=a+b&org_name=o"
        )))
        .unwrap();
        assert_eq!(q.limit, Some(2));
        assert_eq!(q.ids.len(), 2);
        assert_eq!(q.api_key_name.as_deref(), Some("a b"));
        for bad in [
            "limit=-1",
            "limit=x",
            "starting_after=nope",
            "ids=1",
            &format!("starting_after={id}&ending_before={id}"),
        ] {
            assert!(ListQuery::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_are_newest_first_around_cursors() {
        let items: Vec<String> = (0..6).map(|i| format!("{i}")).collect();
        let q = |limit: Option<usize>, after: Option<&str>, before: Option<&str>| ListQuery {
            limit,
            starting_after: after.map(str::to_owned),
            ending_before: before.map(str::to_owned),
            ..ListQuery::default()
        };
        let ids = |q: ListQuery| -> Vec<String> {
            q.page(&items, |s| s, |_| true)
                .unwrap()
                .into_iter()
                .cloned()
                .collect()
        };
        assert_eq!(ids(q(Some(2), None, None)), ["5", "4"]);
        assert_eq!(ids(q(Some(2), Some("4"), None)), ["3", "2"]);
        assert_eq!(ids(q(None, Some("1"), None)), ["0"]);
        assert_eq!(ids(q(Some(2), None, Some("1"))), ["3", "2"]);
        assert_eq!(ids(q(None, None, Some("3"))), ["5", "4"]);
        assert!(ids(q(Some(0), None, None)).is_empty());
        assert!(q(None, Some("9"), None)
            .page(&items, |s| s, |_| true)
            .is_err());
    }
}
