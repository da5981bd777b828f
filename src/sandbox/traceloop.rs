//! Traceloop's public API as far as keysmith uses it: `POST /v2/organizations`, which creates
//! an organization and returns one API key per environment. Traceloop publishes no read,
//! update or delete route for organizations, and none for keys, so the sandbox has none either.
//!
//! # Route
//!
//! | route | answer |
//! |---|---|
//! | `POST /v2/organizations` | 201 `{"org_id": "<uuid>", "environments": [{"slug", "api_key"}]}` |
//!
//! Request body (`request.CreateOrganizationRequest`): `org_name` (required, a non-blank
//! string), `envs` (optional, a non-empty list of distinct slugs: lowercase letters, digits,
//! `-` and `_`, starting with a letter or digit, at most 63 characters; default `dev`, `stg`,
//! `prd`), `retention_hours` (optional integer 1–720, default 720). Unknown attributes are
//! ignored, as Go's JSON decoding does.
//!
//! Authentication: `Authorization: Bearer <api_key>` with the seeded key. A key issued for an
//! environment by this route is a valid Traceloop key that may not create organizations:
//! 403 `Not allowed to create organizations`. Anything else: 401.
//!
//! Errors are `application/json` `response.ErrorResponse` bodies, `{"error": "<message>"}`:
//! 400 (malformed JSON, missing `org_name`, bad `envs` or `retention_hours`), 401, 403, and
//! 503/429 when faults are injected. An unknown path under `/v2/`, or another method on
//! `/v2/organizations`, gets the Go router's `404 page not found` (text/plain).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::digest::constant_time_eq;
use super::faults::Fault;
use super::store::{now_rfc3339, random_bytes, uuid_v4};
use super::{vendor_layers, Shared};

/// The environments created when the request names none.
const DEFAULT_ENVS: [&str; 3] = ["dev", "stg", "prd"];

/// Data retention when the request gives none, and the most allowed (hours).
const MAX_RETENTION_HOURS: i64 = 720;

/// The longest environment slug accepted.
const MAX_SLUG_LEN: usize = 63;

/// The content type of every JSON answer (as Go's gin writes it).
const JSON_UTF8: &str = "application/json; charset=utf-8";

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// Every Traceloop object the sandbox holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TraceloopData {
    /// Organizations created through the API, in creation order.
    #[serde(default)]
    pub orgs: Vec<Org>,
}

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Org {
    /// `org_id`: a UUID.
    pub id: String,
    /// `org_name`.
    pub name: String,
    /// Its environments, in the order created, each with its API key.
    pub environments: Vec<Environment>,
    /// Data retention in hours.
    pub retention_hours: u32,
    /// Creation time, RFC 3339 (not reported by the API).
    pub created: String,
}

/// An environment of an organization and its API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Environment {
    /// The slug, e.g. `dev`.
    pub slug: String,
    /// The environment's API key (secret; only in the create answer and the state file).
    pub api_key: String,
}

impl TraceloopData {
    /// Removes every organization (the seeded key is a credential, not an object).
    pub(crate) fn reset(&mut self) {
        self.orgs.clear();
    }

    /// The `traceloop` part of `GET /_sandbox/state`: no API key.
    pub(crate) fn state_view(&self) -> Value {
        let orgs: Vec<Value> = self
            .orgs
            .iter()
            .map(|o| {
                let envs: Vec<&str> = o.environments.iter().map(|e| e.slug.as_str()).collect();
                json!({
                    "id": o.id,
                    "name": o.name,
                    "envs": envs,
                    "retention_hours": o.retention_hours,
                    "created": o.created,
                })
            })
            .collect();
        json!({ "orgs": orgs })
    }

    fn is_environment_key(&self, key: &str) -> bool {
        self.orgs
            .iter()
            .flat_map(|o| &o.environments)
            .any(|e| constant_time_eq(e.api_key.as_bytes(), key.as_bytes()))
    }
}

/// A new environment API key: `tl_` and 32 hex digits.
fn new_api_key() -> String {
    format!("tl_{}", hex::encode(random_bytes::<16>()))
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// Traceloop's route, authenticated, counted and subject to faults.
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route(
            "/v2/organizations",
            post(create_org).fallback(|| async { page_not_found() }),
        )
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), guard));
    vendor_layers(api, shared, family, fault_response)
}

/// The request-counter family of a Traceloop request.
pub(crate) fn family(method: &Method, path: &str) -> &'static str {
    match (method.as_str(), path.trim_end_matches('/')) {
        ("POST", "/v2/organizations") => "traceloop.orgs.create",
        _ => "traceloop.other",
    }
}

/// Traceloop's answer to an injected fault.
pub(crate) fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Unavailable => {
            TraceloopError::new(StatusCode::SERVICE_UNAVAILABLE, "service unavailable")
                .into_response()
        }
        Fault::Throttled => {
            let mut response =
                TraceloopError::new(StatusCode::TOO_MANY_REQUESTS, "too many requests")
                    .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// The Go router's 404 for an unknown path under `/v2/`.
pub(crate) fn not_found(path: &str) -> Option<Response> {
    (path == "/v2" || path.starts_with("/v2/")).then(page_not_found)
}

fn page_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain")],
        "404 page not found",
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A Traceloop `response.ErrorResponse` answer: `{"error": message}`.
#[derive(Debug, Clone)]
pub(crate) struct TraceloopError {
    status: StatusCode,
    message: String,
}

impl TraceloopError {
    fn new(status: StatusCode, message: impl Into<String>) -> TraceloopError {
        TraceloopError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> TraceloopError {
        TraceloopError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for TraceloopError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, JSON_UTF8)],
            json!({ "error": self.message }).to_string(),
        )
            .into_response()
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return TraceloopError::new(
            StatusCode::UNAUTHORIZED,
            "missing API key: send Authorization: Bearer <api key>",
        )
        .into_response();
    }
    let (seeded, environment) = shared.read(|s| {
        let seeded = constant_time_eq(s.credentials.traceloop.api_key.as_bytes(), token.as_bytes());
        (seeded, !seeded && s.traceloop.is_environment_key(token))
    });
    if seeded {
        next.run(request).await
    } else if environment {
        TraceloopError::new(StatusCode::FORBIDDEN, "Not allowed to create organizations")
            .into_response()
    } else {
        TraceloopError::new(StatusCode::UNAUTHORIZED, "invalid API key").into_response()
    }
}

// ---------------------------------------------------------------------------------------------
// Organizations
// ---------------------------------------------------------------------------------------------

/// A validated `request.CreateOrganizationRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NewOrg {
    name: String,
    envs: Vec<String>,
    retention_hours: u32,
}

fn is_slug(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.len() <= MAX_SLUG_LEN
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn parse_new_org(body: &[u8]) -> Result<NewOrg, TraceloopError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| TraceloopError::bad_request(format!("invalid request body: {e}")))?;
    let Value::Object(object) = value else {
        return Err(TraceloopError::bad_request(
            "invalid request body: expected a JSON object",
        ));
    };
    let name = match object.get("org_name") {
        None | Some(Value::Null) => {
            return Err(TraceloopError::bad_request("org_name is required"))
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(TraceloopError::bad_request("org_name is required"))
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(TraceloopError::bad_request("org_name must be a string")),
    };
    let envs = parse_envs(&object)?;
    let retention_hours = match object.get("retention_hours") {
        None | Some(Value::Null) => MAX_RETENTION_HOURS,
        Some(v) => v
            .as_i64()
            .filter(|h| (1..=MAX_RETENTION_HOURS).contains(h))
            .ok_or_else(|| {
                TraceloopError::bad_request("retention_hours must be an integer between 1 and 720")
            })?,
    };
    Ok(NewOrg {
        name,
        envs,
        retention_hours: u32::try_from(retention_hours).unwrap_or(720),
    })
}

fn parse_envs(object: &Map<String, Value>) -> Result<Vec<String>, TraceloopError> {
    let items = match object.get("envs") {
        None | Some(Value::Null) => return Ok(DEFAULT_ENVS.map(str::to_owned).to_vec()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(TraceloopError::bad_request(
                "envs must be an array of environment slugs",
            ))
        }
    };
    if items.is_empty() {
        return Err(TraceloopError::bad_request(
            "envs must contain at least one environment",
        ));
    }
    let mut envs: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(slug) = item else {
            return Err(TraceloopError::bad_request(
                "envs must be an array of environment slugs",
            ));
        };
        if !is_slug(slug) {
            return Err(TraceloopError::bad_request(format!(
                "invalid environment slug {slug:?}: use lowercase letters, digits, '-' and '_' (at most {MAX_SLUG_LEN})"
            )));
        }
        if envs.contains(slug) {
            return Err(TraceloopError::bad_request(format!(
                "duplicate environment slug {slug:?}"
            )));
        }
        envs.push(slug.clone());
    }
    Ok(envs)
}

async fn create_org(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, TraceloopError> {
    let request = parse_new_org(&body)?;
    let org = shared.try_mutate(|s| {
        let org = Org {
            id: uuid_v4(),
            name: request.name,
            environments: request
                .envs
                .into_iter()
                .map(|slug| Environment {
                    slug,
                    api_key: new_api_key(),
                })
                .collect(),
            retention_hours: request.retention_hours,
            created: now_rfc3339(),
        };
        s.traceloop.orgs.push(org.clone());
        Ok::<_, TraceloopError>(org)
    })?;
    if let Err(e) = shared.persist().await {
        tracing::error!("traceloop: {e}");
        return Err(TraceloopError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error",
        ));
    }
    let environments: Vec<Value> = org
        .environments
        .iter()
        .map(|e| json!({ "slug": e.slug, "api_key": e.api_key }))
        .collect();
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, JSON_UTF8)],
        json!({ "org_id": org.id, "environments": environments }).to_string(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(
            family(&Method::POST, "/v2/organizations"),
            "traceloop.orgs.create"
        );
        assert_eq!(
            family(&Method::POST, "/v2/organizations/"),
            "traceloop.orgs.create"
        );
        assert_eq!(family(&Method::GET, "/v2/organizations"), "traceloop.other");
    }

    #[test]
    fn parses_requests() {
        let r = parse_new_org(br#"{"org_name": "acme"}"#).unwrap();
        assert_eq!(r.envs, ["dev", "stg", "prd"]);
        assert_eq!(r.retention_hours, 720);
        let r = parse_new_org(
            br#"{"org_name": "acme", "envs": ["qa", "prod-eu_1"], "retention_hours": 1, "x": 1}"#,
        )
        .unwrap();
        assert_eq!(r.envs, ["qa", "prod-eu_1"]);
        assert_eq!(r.retention_hours, 1);
        for bad in [
            &b""[..],
            b"[]",
            b"{",
            br#"{"org_name": ""}"#,
            br#"{"org_name": "  "}"#,
            br#"{"org_name": 7}"#,
            br#"{"envs": ["dev"]}"#,
            br#"{"org_name": "a", "envs": []}"#,
            br#"{"org_name": "a", "envs": "dev"}"#,
            br#"{"org_name": "a", "envs": ["Dev"]}"#,
            br#"{"org_name": "a", "envs": ["-x"]}"#,
            br#"{"org_name": "a", "envs": ["a", "a"]}"#,
            br#"{"org_name": "a", "envs": [1]}"#,
            br#"{"org_name": "a", "retention_hours": 0}"#,
            br#"{"org_name": "a", "retention_hours": 721}"#,
            br#"{"org_name": "a", "retention_hours": 1.5}"#,
            br#"{"org_name": "a", "retention_hours": "24"}"#,
        ] {
            let e = parse_new_org(bad).unwrap_err();
            assert_eq!(
                e.status,
                StatusCode::BAD_REQUEST,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn slugs() {
        assert!(is_slug("dev"));
        assert!(is_slug("0a-b_c"));
        assert!(!is_slug(""));
        assert!(!is_slug("_a"));
        assert!(!is_slug("a b"));
        assert!(!is_slug(&"a".repeat(64)));
    }
}
