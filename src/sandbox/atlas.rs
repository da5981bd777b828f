//! MongoDB Atlas Administration API v2, as far as keysmith uses it: organizations and their
//! programmatic API keys, HTTP Digest and OAuth2 client-credentials authentication.
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/atlas/v2/orgs` | 200 `PaginatedOrganizationView` (`pageNum`, `itemsPerPage` ≤ 500, `includeCount`, `name` prefix) |
//! | `POST /api/atlas/v2/orgs` | 201 `CreateOrganizationResponse` |
//! | `GET /api/atlas/v2/orgs/{orgId}` | 200 `AtlasOrganization` |
//! | `PATCH /api/atlas/v2/orgs/{orgId}` | 200 `AtlasOrganization` (`name` required) |
//! | `DELETE /api/atlas/v2/orgs/{orgId}` | 204, or 409 while the org has projects |
//! | `GET /api/atlas/v2/orgs/{orgId}/apiKeys` | 200 `PaginatedApiApiUserView` |
//! | `POST /api/atlas/v2/orgs/{orgId}/apiKeys` | 200 `ApiKeyUserDetails`, `privateKey` unredacted |
//! | `GET /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}` | 200 `ApiKeyUserDetails`, `privateKey` redacted |
//! | `PATCH /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}` | 200 (`desc` and/or `roles`) |
//! | `DELETE /api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}` | 204 |
//! | `POST /api/oauth/token` | 200 `{"access_token","expires_in","token_type":"Bearer"}` |
//! | `POST /api/oauth/revoke` | 200 |
//!
//! Every `/api/atlas/v2` route needs `Authorization: Digest` (public key : private key of any
//! API key the sandbox holds, the seeded one or any created through it) or `Authorization:
//! Bearer` (a token from `/api/oauth/token`, valid `token_ttl`); otherwise 401 with
//! `WWW-Authenticate: Digest realm="MMS Public API", …`. Then `Accept` must name a version,
//! `application/vnd.atlas.YYYY-MM-DD+json` with a date from 2023-01-01 on (the newest
//! resource version not after the date is served: 2023-01-01 for all of these), else 406
//! `INVALID_VERSION_DATE`. Successes are `application/vnd.atlas.2023-01-01+json`, errors
//! `application/json` `ApiError`s. `pretty=true` pretty-prints; `envelope=true` answers 200
//! with `{"status", "content"}` (lists: the page plus `"status"`).
//!
//! Sandbox-only helpers (no auth, no faults):
//! - `POST /_sandbox/atlas/orgs/{orgId}/projects` (body optional `{"name"}`): adds a project,
//!   so `DELETE` of the org answers 409; `DELETE` of the same path removes them all;
//! - `POST /_sandbox/atlas/orgs/{orgId}/apiKeys/{apiUserId}/projectRoles`
//!   (`{"groupId", "roleName"}`): assigns a project role, which reads then report in `roles`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::digest::{self, ATLAS_REALM};
use super::faults::Fault;
use super::store::{
    now_rfc3339, random_alphanumeric, random_lowercase, rfc3339_at, unix_now, uuid_v4,
    AtlasCredentials, IdGen, Store,
};
use super::{control_error, form_pairs, vendor_layers, Shared};

/// The media type of every success response (the only resource version of these routes).
const ATLAS_JSON: &str = "application/vnd.atlas.2023-01-01+json;charset=utf-8";

/// The oldest version date Atlas serves these resources for.
const OLDEST_VERSION: (i32, u8, u8) = (2023, 1, 1);

/// The organization roles an organization API key can hold.
const ORG_ROLES: [&str; 7] = [
    "ORG_OWNER",
    "ORG_MEMBER",
    "ORG_GROUP_CREATOR",
    "ORG_BILLING_ADMIN",
    "ORG_BILLING_READ_ONLY",
    "ORG_STREAM_PROCESSING_ADMIN",
    "ORG_READ_ONLY",
];

/// Items per page when `itemsPerPage` is not given, and the most allowed.
const DEFAULT_ITEMS_PER_PAGE: usize = 100;
const MAX_ITEMS_PER_PAGE: usize = 500;

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// Every Atlas object the sandbox holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct AtlasData {
    /// Organizations, in creation order, each with its keys and service accounts.
    pub orgs: Vec<Org>,
    /// OAuth access tokens issued and not yet expired or revoked.
    #[serde(default)]
    pub tokens: Vec<Token>,
    /// How many tokens were ever issued.
    #[serde(default)]
    pub tokens_issued: u64,
    /// What the seeded objects were, to restore them on reset.
    pub seed: Seed,
}

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Org {
    /// 24-hex id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time, RFC 3339 (not reported by the API).
    pub created: String,
    /// `skipDefaultAlertsSettings`.
    #[serde(default)]
    pub skip_default_alerts_settings: bool,
    /// `orgOwnerId` given at create (not reported by reads).
    #[serde(default)]
    pub org_owner_id: Option<String>,
    /// `federationSettingsId` given at create.
    #[serde(default)]
    pub federation_settings_id: Option<String>,
    /// Projects (sandbox-only: an org with projects cannot be deleted).
    #[serde(default)]
    pub projects: Vec<Project>,
    /// Programmatic API keys, in creation order.
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    /// Service accounts.
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccount>,
}

/// A project of an organization (only its existence matters here).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Project {
    /// 24-hex id (a `groupId`).
    pub id: String,
    /// Name.
    pub name: String,
}

/// A programmatic API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ApiKey {
    /// 24-hex id (`apiUserId`).
    pub id: String,
    /// Description.
    pub desc: String,
    /// Public key: 8 lowercase letters; the Digest username.
    pub public_key: String,
    /// Private key: a UUID; the Digest password.
    pub private_key: String,
    /// Organization roles (`ORG_…`), in the org that holds the key.
    pub roles: Vec<String>,
    /// Project roles.
    #[serde(default)]
    pub project_roles: Vec<ProjectRole>,
    /// Creation time, RFC 3339 (not reported by the API).
    pub created: String,
}

/// A role of an API key in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProjectRole {
    /// The project.
    pub group_id: String,
    /// e.g. `GROUP_READ_ONLY`.
    pub role_name: String,
}

/// A service account (OAuth client) of an organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceAccount {
    /// `mdb_sa_id_<24 hex>`.
    pub client_id: String,
    /// `mdb_sa_sk_…`.
    pub client_secret: String,
    /// 24-hex id of the secret.
    pub secret_id: String,
    /// When the secret expires (Unix seconds).
    pub secret_expires_at: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Organization roles.
    pub roles: Vec<String>,
    /// Creation time, RFC 3339.
    pub created: String,
}

/// An OAuth access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Token {
    /// The bearer token.
    pub access_token: String,
    /// The service account it was issued to.
    pub client_id: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// The seeded objects' identities.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Seed {
    /// The seeded org's id.
    pub org_id: String,
    /// The seeded org's name.
    pub org_name: String,
    /// The seeded org's creation time.
    pub org_created: String,
    /// The seeded API key's id.
    pub api_key_id: String,
    /// The seeded API key's description.
    pub api_key_desc: String,
    /// The seeded service account's secret id.
    pub secret_id: String,
}

/// The seeded service account's secret never expires in practice (100 years).
const SEED_SECRET_LIFETIME: i64 = 100 * 365 * 24 * 3600;

impl AtlasData {
    /// New credentials and the objects they belong to: an org holding an `ORG_OWNER` API key
    /// and an `ORG_OWNER` service account.
    pub(crate) fn seeded(ids: &IdGen) -> (AtlasCredentials, AtlasData) {
        let credentials = AtlasCredentials {
            public_key: random_lowercase(8),
            private_key: uuid_v4(),
            client_id: format!("mdb_sa_id_{}", ids.object_id()),
            client_secret: new_client_secret(),
            org_id: ids.object_id(),
        };
        let mut data = AtlasData {
            seed: Seed {
                org_id: credentials.org_id.clone(),
                org_name: "keysmith-sandbox".to_owned(),
                org_created: now_rfc3339(),
                api_key_id: ids.object_id(),
                api_key_desc: "keysmith-sandbox seeded key".to_owned(),
                secret_id: ids.object_id(),
            },
            ..AtlasData::default()
        };
        data.reset(&credentials);
        (credentials, data)
    }

    /// Removes every object but the seeded org, key and service account, which are restored
    /// as seeded (tokens of the seeded service account stay valid).
    pub(crate) fn reset(&mut self, credentials: &AtlasCredentials) {
        let seed = &self.seed;
        let org = Org {
            id: seed.org_id.clone(),
            name: seed.org_name.clone(),
            created: seed.org_created.clone(),
            skip_default_alerts_settings: false,
            org_owner_id: None,
            federation_settings_id: None,
            projects: Vec::new(),
            api_keys: vec![ApiKey {
                id: seed.api_key_id.clone(),
                desc: seed.api_key_desc.clone(),
                public_key: credentials.public_key.clone(),
                private_key: credentials.private_key.clone(),
                roles: vec!["ORG_OWNER".to_owned()],
                project_roles: Vec::new(),
                created: seed.org_created.clone(),
            }],
            service_accounts: vec![ServiceAccount {
                client_id: credentials.client_id.clone(),
                client_secret: credentials.client_secret.clone(),
                secret_id: seed.secret_id.clone(),
                secret_expires_at: unix_now() + SEED_SECRET_LIFETIME,
                name: "keysmith-sandbox".to_owned(),
                description: "keysmith-sandbox seeded service account".to_owned(),
                roles: vec!["ORG_OWNER".to_owned()],
                created: seed.org_created.clone(),
            }],
        };
        self.orgs = vec![org];
        let now = unix_now();
        self.tokens
            .retain(|t| t.client_id == credentials.client_id && t.expires_at > now);
        self.tokens_issued = 0;
    }

    /// The `atlas` part of `GET /_sandbox/state`: no private key, secret or token.
    pub(crate) fn state_view(&self) -> Value {
        let now = unix_now();
        let orgs: Vec<Value> = self
            .orgs
            .iter()
            .map(|org| {
                let keys: Vec<Value> = org
                    .api_keys
                    .iter()
                    .map(|k| {
                        json!({
                            "id": k.id,
                            "desc": k.desc,
                            "public_key": k.public_key,
                            "roles": k.roles,
                            "project_roles": k.project_roles,
                            "created": k.created,
                            "seeded": k.id == self.seed.api_key_id,
                        })
                    })
                    .collect();
                let accounts: Vec<Value> = org
                    .service_accounts
                    .iter()
                    .map(|sa| {
                        json!({
                            "client_id": sa.client_id,
                            "name": sa.name,
                            "description": sa.description,
                            "roles": sa.roles,
                            "created": sa.created,
                            "seeded": sa.secret_id == self.seed.secret_id,
                        })
                    })
                    .collect();
                json!({
                    "id": org.id,
                    "name": org.name,
                    "created": org.created,
                    "skip_default_alerts_settings": org.skip_default_alerts_settings,
                    "org_owner_id": org.org_owner_id,
                    "seeded": org.id == self.seed.org_id,
                    "projects": org.projects,
                    "api_keys": keys,
                    "service_accounts": accounts,
                })
            })
            .collect();
        json!({
            "orgs": orgs,
            "tokens_issued": self.tokens_issued,
            "tokens_active": self.tokens.iter().filter(|t| t.expires_at > now).count(),
        })
    }

    fn org(&self, id: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.id == id)
    }

    fn org_mut(&mut self, id: &str) -> Option<&mut Org> {
        self.orgs.iter_mut().find(|o| o.id == id)
    }

    fn private_key_of(&self, public_key: &str) -> Option<String> {
        self.orgs
            .iter()
            .flat_map(|o| &o.api_keys)
            .find(|k| k.public_key == public_key)
            .map(|k| k.private_key.clone())
    }

    fn public_key_taken(&self, public_key: &str) -> bool {
        self.private_key_of(public_key).is_some()
    }

    fn service_account(&self, client_id: &str) -> Option<&ServiceAccount> {
        self.orgs
            .iter()
            .flat_map(|o| &o.service_accounts)
            .find(|sa| sa.client_id == client_id)
    }
}

fn new_client_secret() -> String {
    format!("mdb_sa_sk_{}", random_alphanumeric(40))
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// Atlas's routes: the API (authenticated, counted, subject to faults) and the sandbox-only
/// helpers.
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/api/atlas/v2/orgs", get(list_orgs).post(create_org))
        .route(
            "/api/atlas/v2/orgs/{orgId}",
            get(get_org).patch(update_org).delete(delete_org),
        )
        .route(
            "/api/atlas/v2/orgs/{orgId}/apiKeys",
            get(list_keys).post(create_key),
        )
        .route(
            "/api/atlas/v2/orgs/{orgId}/apiKeys/{apiUserId}",
            get(get_key).patch(update_key).delete(delete_key),
        )
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
        .route("/api/oauth/token", post(issue_token))
        .route("/api/oauth/revoke", post(revoke_token));
    vendor_layers(api, shared, family, fault_response)
        .route(
            "/_sandbox/atlas/orgs/{orgId}/projects",
            post(add_project).delete(remove_projects),
        )
        .route(
            "/_sandbox/atlas/orgs/{orgId}/apiKeys/{apiUserId}/projectRoles",
            post(add_project_role),
        )
}

/// The request-counter family of an Atlas request, e.g. `atlas.api_keys.list`.
pub(crate) fn family(method: &Method, path: &str) -> &'static str {
    let path = path.trim_end_matches('/');
    match path {
        "/api/oauth/token" => return "atlas.oauth.token",
        "/api/oauth/revoke" => return "atlas.oauth.revoke",
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/api/atlas/v2/orgs") else {
        return "atlas.other";
    };
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    let collection = match segments.as_slice() {
        [] => Some(("orgs", true)),
        [_] => Some(("orgs", false)),
        [_, "apiKeys"] => Some(("api_keys", true)),
        [_, "apiKeys", _] => Some(("api_keys", false)),
        _ => None,
    };
    match (collection, method.as_str()) {
        (Some(("orgs", true)), "GET") => "atlas.orgs.list",
        (Some(("orgs", true)), "POST") => "atlas.orgs.create",
        (Some(("orgs", false)), "GET") => "atlas.orgs.get",
        (Some(("orgs", false)), "PATCH") => "atlas.orgs.update",
        (Some(("orgs", false)), "DELETE") => "atlas.orgs.delete",
        (Some(("api_keys", true)), "GET") => "atlas.api_keys.list",
        (Some(("api_keys", true)), "POST") => "atlas.api_keys.create",
        (Some(("api_keys", false)), "GET") => "atlas.api_keys.get",
        (Some(("api_keys", false)), "PATCH") => "atlas.api_keys.update",
        (Some(("api_keys", false)), "DELETE") => "atlas.api_keys.delete",
        _ => "atlas.other",
    }
}

/// Atlas's answer to an injected fault.
pub(crate) fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable. Please try again later.",
        )
        .into_response(),
        Fault::Throttled => {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "Rate limit exceeded. Please retry after 1 seconds.",
            )
            .into_response();
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            headers.insert("RateLimit-Limit", HeaderValue::from_static("100"));
            headers.insert("RateLimit-Remaining", HeaderValue::from_static("0"));
            response
        }
    }
}

/// Atlas's 404 for an unknown path under `/api/atlas/`.
pub(crate) fn not_found(path: &str) -> Option<Response> {
    path.starts_with("/api/atlas/").then(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            format!("Cannot find resource {path}."),
        )
        .params(vec![json!(path)])
        .into_response()
    })
}

// ---------------------------------------------------------------------------------------------
// Errors and responses
// ---------------------------------------------------------------------------------------------

/// An Atlas `ApiError` answer.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: Option<&'static str>,
    detail: String,
    parameters: Vec<Value>,
    fields: Vec<(String, String)>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: Some(code),
            detail: detail.into(),
            parameters: Vec::new(),
            fields: Vec::new(),
        }
    }

    fn params(mut self, parameters: Vec<Value>) -> ApiError {
        self.parameters = parameters;
        self
    }

    fn field(mut self, field: &str, description: impl Into<String>) -> ApiError {
        self.fields.push((field.to_owned(), description.into()));
        self
    }

    /// 401 as Atlas answers an unauthenticated request: no `errorCode`.
    fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: None,
            detail: "You are not authorized for this resource.".to_owned(),
            parameters: Vec::new(),
            fields: Vec::new(),
        }
    }

    fn bad_path(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "PATH_PARAM_PARSE_ERROR",
            format!("One or more path parameter in the request URI {path} is malformed."),
        )
        .params(vec![json!(path)])
    }

    fn org_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ORG_NOT_FOUND",
            format!("No organization with ID {id} exists."),
        )
        .params(vec![json!(id)])
    }

    fn key_not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "API_KEY_NOT_FOUND",
            format!("No API key with ID {id} exists."),
        )
        .params(vec![json!(id)])
    }

    fn invalid_json() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            "Received JSON is malformed.",
        )
    }

    fn missing(attribute: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MISSING_ATTRIBUTE",
            format!("The required attribute {attribute} was not specified."),
        )
        .params(vec![json!(attribute)])
        .field(attribute, "is required")
    }

    fn invalid_attribute(attribute: &str, why: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ATTRIBUTE",
            format!("Invalid attribute {attribute} specified."),
        )
        .params(vec![json!(attribute)])
        .field(attribute, why)
    }

    fn invalid_enum(field: &str, value: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ENUM_VALUE",
            format!("An invalid enumeration value {value} was specified for {field}."),
        )
        .params(vec![json!(value), json!(field)])
        .field(field, format!("must be one of {}", ORG_ROLES.join(", ")))
    }

    fn validation(field: &str, why: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("Invalid value for {field}: {why}."),
        )
        .params(vec![json!(field)])
        .field(field, why)
    }

    fn unexpected(why: impl std::fmt::Display) -> ApiError {
        tracing::error!("atlas: {why}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNEXPECTED_ERROR",
            "Unexpected error.",
        )
    }

    fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("detail".into(), json!(self.detail));
        body.insert("error".into(), json!(self.status.as_u16()));
        if let Some(code) = self.code {
            body.insert("errorCode".into(), json!(code));
        }
        body.insert("parameters".into(), Value::Array(self.parameters.clone()));
        body.insert(
            "reason".into(),
            json!(self.status.canonical_reason().unwrap_or("Error")),
        );
        if !self.fields.is_empty() {
            let fields: Vec<Value> = self
                .fields
                .iter()
                .map(|(field, description)| json!({ "field": field, "description": description }))
                .collect();
            body.insert("badRequestDetail".into(), json!({ "fields": fields }));
        }
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body().to_string(),
        )
            .into_response()
    }
}

/// A success answer in Atlas's versioned media type.
fn atlas_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, ATLAS_JSON)],
        body.to_string(),
    )
        .into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Who made the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A programmatic API key, by Digest.
    ApiKey(String),
    /// A service account, by bearer token.
    ServiceAccount(String),
}

/// `http://<Host>`: the base of `links[].href`.
#[derive(Debug, Clone)]
pub(crate) struct BaseUrl(String);

// ---------------------------------------------------------------------------------------------
// Guard: authentication, version negotiation, envelope/pretty
// ---------------------------------------------------------------------------------------------

async fn guard(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    let mut envelope = false;
    let mut pretty = false;
    for (name, value) in form_pairs(request.uri().query().unwrap_or("")) {
        let on = value.eq_ignore_ascii_case("true");
        match name.as_str() {
            "envelope" => envelope = on,
            "pretty" => pretty = on,
            _ => {}
        }
    }
    let caller = match authenticate(&shared, &request) {
        Ok(caller) => caller,
        // Challenges are never enveloped: a client must see the 401 to authenticate.
        Err(stale) => return challenge(&shared, stale),
    };
    let response = if accepts_version(request.headers()) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        request.extensions_mut().insert(caller);
        request
            .extensions_mut()
            .insert(BaseUrl(format!("http://{host}")));
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "INVALID_VERSION_DATE",
            "Invalid accept header or version date.",
        )
        .into_response()
    };
    if envelope || pretty {
        reshape(response, envelope, pretty).await
    } else {
        response
    }
}

/// The caller, or `Err(stale)`: answer with a challenge.
fn authenticate(shared: &Shared, request: &Request) -> Result<Caller, bool> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        let token = rest.trim();
        let now = unix_now();
        let valid = shared.read(|s| {
            s.atlas
                .tokens
                .iter()
                .find(|t| digest::constant_time_eq(t.access_token.as_bytes(), token.as_bytes()))
                .filter(|t| t.expires_at > now)
                .filter(|t| s.atlas.service_account(&t.client_id).is_some())
                .map(|t| t.client_id.clone())
        });
        return valid.map(Caller::ServiceAccount).ok_or(false);
    }
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(false);
    }
    let uri = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_else(|| request.uri().path());
    let verdict = digest::verify(
        shared.nonces(),
        ATLAS_REALM,
        request.method().as_str(),
        uri,
        header,
        |user| shared.read(|s| s.atlas.private_key_of(user)),
    );
    match verdict {
        digest::Verdict::Accepted(user) => Ok(Caller::ApiKey(user)),
        digest::Verdict::Challenge { stale } => Err(stale),
    }
}

/// 401 with a fresh Digest challenge.
fn challenge(shared: &Shared, stale: bool) -> Response {
    let nonce = shared.nonces().issue();
    let mut response = ApiError::unauthorized().into_response();
    if let Ok(value) = HeaderValue::from_str(&digest::challenge(ATLAS_REALM, &nonce, stale)) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// True when `Accept` names `application/vnd.atlas.YYYY-MM-DD+json` with a real date no
/// earlier than the oldest version of these resources.
fn accepts_version(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let media = range
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            media
                .strip_prefix("application/vnd.atlas.")
                .and_then(|r| r.strip_suffix("+json"))
                .and_then(parse_version_date)
                .is_some_and(|d| d >= OLDEST_VERSION)
        })
}

fn parse_version_date(text: &str) -> Option<(i32, u8, u8)> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (
        y.parse::<i32>().ok()?,
        m.parse::<u8>().ok()?,
        d.parse::<u8>().ok()?,
    );
    let month = time::Month::try_from(m).ok()?;
    time::Date::from_calendar_date(y, month, d).ok()?;
    Some((y, m, d))
}

/// Applies `envelope=true` and `pretty=true` to an answer.
async fn reshape(response: Response, envelope: bool, pretty: bool) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return ApiError::unexpected("cannot buffer a response").into_response();
    };
    let mut value: Value = if bytes.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => return Response::from_parts(parts, axum::body::Body::from(bytes)),
        }
    };
    if envelope {
        let status = parts.status.as_u16();
        value = match value {
            Value::Object(mut page) if page.contains_key("results") => {
                page.insert("status".into(), json!(status));
                Value::Object(page)
            }
            Value::Null => json!({ "status": status }),
            other => json!({ "status": status, "content": other }),
        };
        parts.status = StatusCode::OK;
        if !parts.headers.contains_key(header::CONTENT_TYPE) {
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ATLAS_JSON));
        }
    }
    let text = if pretty {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    }
    .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    if value.is_null() && !envelope {
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    Response::from_parts(parts, axum::body::Body::from(text))
}

// ---------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------

fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The path's `{orgId}`, checked.
fn org_id_of(path: Result<Path<String>, PathRejection>, uri: &Uri) -> Result<String, ApiError> {
    match path {
        Ok(Path(id)) if is_object_id(&id) => Ok(id),
        _ => Err(ApiError::bad_path(uri.path())),
    }
}

/// The path's `{orgId}` and `{apiUserId}`, checked.
fn key_path_of(
    path: Result<Path<(String, String)>, PathRejection>,
    uri: &Uri,
) -> Result<(String, String), ApiError> {
    match path {
        Ok(Path((org, key))) if is_object_id(&org) && is_object_id(&key) => Ok((org, key)),
        _ => Err(ApiError::bad_path(uri.path())),
    }
}

/// A JSON object body whose attributes are all among `allowed`.
fn object_body(body: &Bytes, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
    let Value::Object(object) = value else {
        return Err(ApiError::invalid_json());
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::invalid_attribute(
            unknown,
            "is not a known attribute",
        ));
    }
    Ok(object)
}

fn opt_string(object: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    string_attr(object, name, name)
}

fn req_string(object: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    opt_string(object, name)?.ok_or_else(|| ApiError::missing(name))
}

fn opt_bool(object: &Map<String, Value>, name: &str) -> Result<Option<bool>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid_attribute(name, "must be a boolean")),
    }
}

fn check_length(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::validation(
            field,
            &format!("length must be between {min} and {max} characters"),
        ));
    }
    Ok(())
}

/// Attribute `name` of `object` as roles (errors name it `field`): absent or null → `None`;
/// otherwise a non-empty array of `ORG_*` roles (duplicates dropped, order kept).
fn roles_attr(
    object: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let items = match object.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::invalid_attribute(field, "must be an array")),
    };
    if items.is_empty() {
        return Err(ApiError::validation(field, "at least one role is required"));
    }
    let mut roles: Vec<String> = Vec::new();
    for item in items {
        let text = match item {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !ORG_ROLES.contains(&text.as_str()) {
            return Err(ApiError::invalid_enum(field, &text));
        }
        if !roles.contains(&text) {
            roles.push(text);
        }
    }
    Ok(Some(roles))
}

/// Attribute `name` of `object` as a string (errors name it `field`); absent or null → `None`.
fn string_attr(
    object: &Map<String, Value>,
    name: &str,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid_attribute(field, "must be a string")),
    }
}

fn check_desc(field: &str, desc: &str) -> Result<(), ApiError> {
    check_length(field, desc, 1, 250)
}

/// `^[\p{L}\p{N}\-_.(),:&@+']{1,64}$`
fn check_org_name(field: &str, name: &str) -> Result<(), ApiError> {
    check_length(field, name, 1, 64)?;
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphabetic() || c.is_numeric() || "-_.(),:&@+'".contains(*c)))
    {
        return Err(ApiError::validation(
            field,
            &format!("the character {c:?} is not allowed (letters, digits and -_.(),:&@+' only)"),
        ));
    }
    Ok(())
}

/// `^[\p{L}\p{N}\-_.,' ]*$`
fn check_service_account_text(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    check_length(field, text, 1, max)?;
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_alphabetic() || c.is_numeric() || "-_.,' ".contains(*c)))
    {
        return Err(ApiError::validation(
            field,
            &format!("the character {c:?} is not allowed"),
        ));
    }
    Ok(())
}

fn check_object_id_attr(field: &str, value: &str) -> Result<(), ApiError> {
    if is_object_id(value) {
        Ok(())
    } else {
        Err(ApiError::validation(
            field,
            "must be a 24-hexadecimal digit string",
        ))
    }
}

/// Pagination query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Page {
    num: usize,
    size: usize,
    include_count: bool,
    name: Option<String>,
}

impl Page {
    fn from_query(query: Option<&str>) -> Result<Page, ApiError> {
        let mut page = Page {
            num: 1,
            size: DEFAULT_ITEMS_PER_PAGE,
            include_count: true,
            name: None,
        };
        for (key, value) in form_pairs(query.unwrap_or("")) {
            match key.as_str() {
                "pageNum" => {
                    page.num =
                        value
                            .parse::<usize>()
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| {
                                ApiError::validation("pageNum", "must be an integer of at least 1")
                            })?;
                }
                "itemsPerPage" => {
                    page.size = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_ITEMS_PER_PAGE).contains(n))
                        .ok_or_else(|| {
                            ApiError::validation(
                                "itemsPerPage",
                                "must be an integer between 1 and 500",
                            )
                        })?;
                }
                "includeCount" => {
                    page.include_count = match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiError::validation(
                                "includeCount",
                                "must be true or false",
                            ))
                        }
                    }
                }
                "name" => page.name = Some(value),
                _ => {}
            }
        }
        Ok(page)
    }

    /// The page of `items` and the paginated view around it.
    fn view(&self, base: &str, path: &str, total: usize, results: Vec<Value>) -> Value {
        let link = |num: usize, rel: &str| {
            let mut href = format!("{base}{path}?pageNum={num}&itemsPerPage={}", self.size);
            if let Some(name) = &self.name {
                href.push_str("&name=");
                href.push_str(&percent_encode(name));
            }
            json!({ "href": href, "rel": rel })
        };
        let mut links = Vec::new();
        if self.num > 1 {
            links.push(link(self.num - 1, "previous"));
        }
        links.push(link(self.num, "self"));
        if self.num.saturating_mul(self.size) < total {
            links.push(link(self.num + 1, "next"));
        }
        let mut view = Map::new();
        view.insert("links".into(), Value::Array(links));
        view.insert("results".into(), Value::Array(results));
        if self.include_count {
            view.insert("totalCount".into(), json!(total));
        }
        Value::Object(view)
    }

    fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = (self.num - 1).saturating_mul(self.size).min(total);
        let end = start.saturating_add(self.size).min(total);
        start..end
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Representations
// ---------------------------------------------------------------------------------------------

fn org_json(base: &str, org: &Org) -> Value {
    json!({
        "id": org.id,
        "isDeleted": false,
        "links": [{ "href": format!("{base}/api/atlas/v2/orgs/{}", org.id), "rel": "self" }],
        "name": org.name,
        "skipDefaultAlertsSettings": org.skip_default_alerts_settings,
    })
}

/// `********-****-****-` and the last 12 characters, as Atlas shows a stored private key.
fn redact(private_key: &str) -> String {
    let chars: Vec<char> = private_key.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(12)..].iter().collect();
    format!("********-****-****-{tail}")
}

fn key_json(base: &str, org_id: &str, key: &ApiKey, reveal: bool) -> Value {
    let mut roles: Vec<Value> = key
        .roles
        .iter()
        .map(|r| json!({ "orgId": org_id, "roleName": r }))
        .collect();
    roles.extend(
        key.project_roles
            .iter()
            .map(|r| json!({ "groupId": r.group_id, "roleName": r.role_name })),
    );
    json!({
        "desc": key.desc,
        "id": key.id,
        "links": [{
            "href": format!("{base}/api/atlas/v2/orgs/{org_id}/apiKeys/{}", key.id),
            "rel": "self"
        }],
        "privateKey": if reveal { key.private_key.clone() } else { redact(&key.private_key) },
        "publicKey": key.public_key,
        "roles": roles,
    })
}

fn service_account_json(sa: &ServiceAccount, reveal: bool) -> Value {
    let tail: String = {
        let chars: Vec<char> = sa.client_secret.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    let mut secret = json!({
        "createdAt": sa.created,
        "expiresAt": rfc3339_at(sa.secret_expires_at),
        "id": sa.secret_id,
        "maskedSecretValue": format!("mdb_sa_sk_...{tail}"),
    });
    if reveal {
        secret["secret"] = json!(sa.client_secret);
    }
    json!({
        "clientId": sa.client_id,
        "createdAt": sa.created,
        "description": sa.description,
        "name": sa.name,
        "roles": sa.roles,
        "secrets": [secret],
    })
}

// ---------------------------------------------------------------------------------------------
// Organizations
// ---------------------------------------------------------------------------------------------

async fn list_orgs(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let page = Page::from_query(uri.query())?;
    let prefix = page.name.as_deref().map(str::to_lowercase);
    let view = shared.read(|s| {
        let matching: Vec<&Org> = s
            .atlas
            .orgs
            .iter()
            .filter(|o| {
                prefix
                    .as_deref()
                    .is_none_or(|p| o.name.to_lowercase().starts_with(p))
            })
            .collect();
        let results = matching[page.range(matching.len())]
            .iter()
            .map(|o| org_json(&base, o))
            .collect();
        page.view(&base, "/api/atlas/v2/orgs", matching.len(), results)
    });
    Ok(atlas_json(StatusCode::OK, &view))
}

async fn get_org(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let org_id = org_id_of(path, &uri)?;
    let org = shared
        .read(|s| s.atlas.org(&org_id).map(|o| org_json(&base, o)))
        .ok_or_else(|| ApiError::org_not_found(&org_id))?;
    Ok(atlas_json(StatusCode::OK, &org))
}

/// A validated `CreateAtlasOrganizationApiKey`.
struct NewKey {
    desc: String,
    roles: Vec<String>,
}

fn parse_new_key(object: &Map<String, Value>, prefix: &str) -> Result<NewKey, ApiError> {
    let desc_field = format!("{prefix}desc");
    let roles_field = format!("{prefix}roles");
    let desc =
        string_attr(object, "desc", &desc_field)?.ok_or_else(|| ApiError::missing(&desc_field))?;
    check_desc(&desc_field, &desc)?;
    let roles = roles_attr(object, "roles", &roles_field)?
        .ok_or_else(|| ApiError::missing(&roles_field))?;
    Ok(NewKey { desc, roles })
}

fn new_key(s: &Store, ids: &IdGen, key: NewKey) -> ApiKey {
    let mut public_key = random_lowercase(8);
    while s.atlas.public_key_taken(&public_key) {
        public_key = random_lowercase(8);
    }
    ApiKey {
        id: ids.object_id(),
        desc: key.desc,
        public_key,
        private_key: uuid_v4(),
        roles: key.roles,
        project_roles: Vec::new(),
        created: now_rfc3339(),
    }
}

/// A validated `OrgServiceAccountRequest`.
struct NewServiceAccount {
    name: String,
    description: String,
    roles: Vec<String>,
    secret_expires_after_hours: i64,
}

fn parse_new_service_account(object: &Map<String, Value>) -> Result<NewServiceAccount, ApiError> {
    for key in object.keys() {
        if !["name", "description", "roles", "secretExpiresAfterHours"].contains(&key.as_str()) {
            return Err(ApiError::invalid_attribute(
                &format!("serviceAccount.{key}"),
                "is not a known attribute",
            ));
        }
    }
    let name = string_attr(object, "name", "serviceAccount.name")?
        .ok_or_else(|| ApiError::missing("serviceAccount.name"))?;
    check_service_account_text("serviceAccount.name", &name, 64)?;
    let description = string_attr(object, "description", "serviceAccount.description")?
        .ok_or_else(|| ApiError::missing("serviceAccount.description"))?;
    check_service_account_text("serviceAccount.description", &description, 250)?;
    let roles = roles_attr(object, "roles", "serviceAccount.roles")?
        .ok_or_else(|| ApiError::missing("serviceAccount.roles"))?;
    let hours = match object.get("secretExpiresAfterHours") {
        None | Some(Value::Null) => {
            return Err(ApiError::missing("serviceAccount.secretExpiresAfterHours"))
        }
        Some(v) => v
            .as_i64()
            .filter(|h| (8..=8760).contains(h))
            .ok_or_else(|| {
                ApiError::validation(
                    "serviceAccount.secretExpiresAfterHours",
                    "must be an integer between 8 and 8760",
                )
            })?,
    };
    Ok(NewServiceAccount {
        name,
        description,
        roles,
        secret_expires_after_hours: hours,
    })
}

async fn create_org(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let object = object_body(
        &body,
        &[
            "name",
            "orgOwnerId",
            "federationSettingsId",
            "apiKey",
            "serviceAccount",
            "skipDefaultAlertsSettings",
        ],
    )?;
    let name = req_string(&object, "name")?;
    check_org_name("name", &name)?;
    let owner = opt_string(&object, "orgOwnerId")?;
    match (&owner, &caller) {
        (Some(owner), _) => check_object_id_attr("orgOwnerId", owner)?,
        (None, Caller::ApiKey(_)) => return Err(ApiError::missing("orgOwnerId")),
        (None, Caller::ServiceAccount(_)) => {}
    }
    let federation = opt_string(&object, "federationSettingsId")?;
    if let Some(f) = &federation {
        check_object_id_attr("federationSettingsId", f)?;
    }
    let skip = opt_bool(&object, "skipDefaultAlertsSettings")?.unwrap_or(false);
    let api_key = match object.get("apiKey") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => {
            if let Some(k) = o.keys().find(|k| !["desc", "roles"].contains(&k.as_str())) {
                return Err(ApiError::invalid_attribute(
                    &format!("apiKey.{k}"),
                    "is not a known attribute",
                ));
            }
            Some(parse_new_key(o, "apiKey.")?)
        }
        Some(_) => return Err(ApiError::invalid_attribute("apiKey", "must be an object")),
    };
    let service_account = match object.get("serviceAccount") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(parse_new_service_account(o)?),
        Some(_) => {
            return Err(ApiError::invalid_attribute(
                "serviceAccount",
                "must be an object",
            ))
        }
    };
    if api_key.is_some() && service_account.is_some() {
        return Err(ApiError::validation(
            "apiKey",
            "apiKey and serviceAccount cannot both be specified",
        ));
    }
    let ids = shared.ids();
    let (org, key, account) = shared.try_mutate(|s| {
        let org_id = ids.object_id();
        let key = api_key.map(|k| new_key(s, ids, k));
        let created = now_rfc3339();
        let account = service_account.map(|sa| ServiceAccount {
            client_id: format!("mdb_sa_id_{}", ids.object_id()),
            client_secret: new_client_secret(),
            secret_id: ids.object_id(),
            secret_expires_at: unix_now() + sa.secret_expires_after_hours * 3600,
            name: sa.name,
            description: sa.description,
            roles: sa.roles,
            created: created.clone(),
        });
        let org = Org {
            id: org_id,
            name,
            created,
            skip_default_alerts_settings: skip,
            org_owner_id: owner.clone(),
            federation_settings_id: federation.clone(),
            projects: Vec::new(),
            api_keys: key.iter().cloned().collect(),
            service_accounts: account.iter().cloned().collect(),
        };
        s.atlas.orgs.push(org.clone());
        Ok::<_, ApiError>((org, key, account))
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    let mut response = Map::new();
    response.insert("organization".into(), org_json(&base, &org));
    response.insert(
        "skipDefaultAlertsSettings".into(),
        json!(org.skip_default_alerts_settings),
    );
    if let Some(owner) = &org.org_owner_id {
        response.insert("orgOwnerId".into(), json!(owner));
    }
    if let Some(f) = &org.federation_settings_id {
        response.insert("federationSettingsId".into(), json!(f));
    }
    if let Some(key) = &key {
        response.insert("apiKey".into(), key_json(&base, &org.id, key, true));
    }
    if let Some(sa) = &account {
        response.insert("serviceAccount".into(), service_account_json(sa, true));
    }
    Ok(atlas_json(StatusCode::CREATED, &Value::Object(response)))
}

async fn update_org(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let org_id = org_id_of(path, &uri)?;
    if shared.read(|s| s.atlas.org(&org_id).is_none()) {
        return Err(ApiError::org_not_found(&org_id));
    }
    let object = object_body(
        &body,
        &[
            "name",
            "skipDefaultAlertsSettings",
            "id",
            "isDeleted",
            "links",
        ],
    )?;
    let name = req_string(&object, "name")?;
    check_org_name("name", &name)?;
    let skip = opt_bool(&object, "skipDefaultAlertsSettings")?;
    let org = shared.try_mutate(|s| {
        let org = s
            .atlas
            .org_mut(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        org.name = name;
        if let Some(skip) = skip {
            org.skip_default_alerts_settings = skip;
        }
        Ok::<_, ApiError>(org_json(&base, org))
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(atlas_json(StatusCode::OK, &org))
}

async fn delete_org(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let org_id = org_id_of(path, &uri)?;
    shared.try_mutate(|s| {
        let org = s
            .atlas
            .org(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        if !org.projects.is_empty() {
            let ids: Vec<&str> = org.projects.iter().map(|p| p.id.as_str()).collect();
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "CANNOT_DELETE_ORG_ACTIVE_PROJECTS",
                "Organizations with active projects cannot be removed. All projects in the \
                 organization must be removed before you can remove the organization.",
            )
            .params(vec![json!(org_id), json!(ids.join(","))]));
        }
        let clients: Vec<String> = org
            .service_accounts
            .iter()
            .map(|sa| sa.client_id.clone())
            .collect();
        s.atlas.orgs.retain(|o| o.id != org_id);
        s.atlas.tokens.retain(|t| !clients.contains(&t.client_id));
        Ok(())
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------------
// Organization API keys
// ---------------------------------------------------------------------------------------------

async fn list_keys(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let org_id = org_id_of(path, &uri)?;
    let mut page = Page::from_query(uri.query())?;
    page.name = None;
    let view = shared
        .read(|s| {
            let org = s.atlas.org(&org_id)?;
            let results = org.api_keys[page.range(org.api_keys.len())]
                .iter()
                .map(|k| key_json(&base, &org.id, k, false))
                .collect();
            Some(page.view(
                &base,
                &format!("/api/atlas/v2/orgs/{org_id}/apiKeys"),
                org.api_keys.len(),
                results,
            ))
        })
        .ok_or_else(|| ApiError::org_not_found(&org_id))?;
    Ok(atlas_json(StatusCode::OK, &view))
}

async fn create_key(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let org_id = org_id_of(path, &uri)?;
    if shared.read(|s| s.atlas.org(&org_id).is_none()) {
        return Err(ApiError::org_not_found(&org_id));
    }
    let object = object_body(&body, &["desc", "roles"])?;
    let request = parse_new_key(&object, "")?;
    let ids = shared.ids();
    let key = shared.try_mutate(|s| {
        let key = new_key(s, ids, request);
        let org = s
            .atlas
            .org_mut(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        org.api_keys.push(key.clone());
        Ok::<_, ApiError>(key)
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(atlas_json(
        StatusCode::OK,
        &key_json(&base, &org_id, &key, true),
    ))
}

async fn get_key(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (org_id, key_id) = key_path_of(path, &uri)?;
    let key = shared.read(|s| {
        let org = s
            .atlas
            .org(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        org.api_keys
            .iter()
            .find(|k| k.id == key_id)
            .map(|k| key_json(&base, &org_id, k, false))
            .ok_or_else(|| ApiError::key_not_found(&key_id))
    })?;
    Ok(atlas_json(StatusCode::OK, &key))
}

async fn update_key(
    State(shared): State<Arc<Shared>>,
    Extension(BaseUrl(base)): Extension<BaseUrl>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (org_id, key_id) = key_path_of(path, &uri)?;
    shared.read(|s| {
        let org = s
            .atlas
            .org(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        org.api_keys
            .iter()
            .any(|k| k.id == key_id)
            .then_some(())
            .ok_or_else(|| ApiError::key_not_found(&key_id))
    })?;
    let object = object_body(&body, &["desc", "roles"])?;
    let desc = opt_string(&object, "desc")?;
    if let Some(desc) = &desc {
        check_desc("desc", desc)?;
    }
    let roles = roles_attr(&object, "roles", "roles")?;
    if desc.is_none() && roles.is_none() {
        return Err(ApiError::validation(
            "desc",
            "at least one of desc and roles must be specified",
        ));
    }
    let key = shared.try_mutate(|s| {
        let key = s
            .atlas
            .org_mut(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?
            .api_keys
            .iter_mut()
            .find(|k| k.id == key_id)
            .ok_or_else(|| ApiError::key_not_found(&key_id))?;
        if let Some(desc) = desc {
            key.desc = desc;
        }
        if let Some(roles) = roles {
            key.roles = roles;
        }
        Ok::<_, ApiError>(key_json(&base, &org_id, key, false))
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(atlas_json(StatusCode::OK, &key))
}

async fn delete_key(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (org_id, key_id) = key_path_of(path, &uri)?;
    shared.try_mutate(|s| {
        let org = s
            .atlas
            .org_mut(&org_id)
            .ok_or_else(|| ApiError::org_not_found(&org_id))?;
        let before = org.api_keys.len();
        org.api_keys.retain(|k| k.id != key_id);
        if org.api_keys.len() == before {
            return Err(ApiError::key_not_found(&key_id));
        }
        Ok(())
    })?;
    shared.persist().await.map_err(ApiError::unexpected)?;
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------------
// OAuth 2.0 client credentials
// ---------------------------------------------------------------------------------------------

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": error, "error_description": description }).to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"MongoDB Cloud\""),
        );
    }
    response
}

/// The client credentials of a token-endpoint request: HTTP Basic, else the form's
/// `client_id`/`client_secret`.
fn client_credentials(headers: &HeaderMap, form: &[(String, String)]) -> Option<(String, String)> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
    {
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        return Some((id.to_owned(), secret.to_owned()));
    }
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Some((get("client_id")?, get("client_secret")?))
}

/// Checks client credentials against the service accounts: the client id, or `None`.
fn authenticate_client(
    shared: &Shared,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Option<String> {
    let (client_id, secret) = client_credentials(headers, form)?;
    let now = unix_now();
    let ok = shared.read(|s| {
        s.atlas.service_account(&client_id).is_some_and(|sa| {
            digest::constant_time_eq(sa.client_secret.as_bytes(), secret.as_bytes())
                && sa.secret_expires_at > now
        })
    });
    ok.then_some(client_id)
}

/// 401 `invalid_client`.
fn invalid_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Invalid client credentials.",
    )
}

/// A JWT-shaped opaque access token.
fn new_access_token(client_id: &str, now: i64, expires_at: i64) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let header = json!({ "alg": "RS256", "typ": "JWT" });
    let claims = json!({
        "iss": "keysmith-sandbox",
        "sub": client_id,
        "aud": "apiBackend",
        "iat": now,
        "exp": expires_at,
        "jti": uuid_v4(),
    });
    let signature =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(super::store::random_bytes::<64>());
    format!("{}.{}.{signature}", b64(&header), b64(&claims))
}

async fn issue_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_pairs(&String::from_utf8_lossy(&body));
    let Some(client_id) = authenticate_client(&shared, &headers, &form) else {
        return invalid_client();
    };
    match form
        .iter()
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.as_str())
    {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only grant_type=client_credentials is supported.",
            )
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required.",
            )
        }
    }
    let ttl = i64::try_from(shared.token_ttl().as_secs()).unwrap_or(3600);
    let now = unix_now();
    let token = new_access_token(&client_id, now, now + ttl);
    let _ = shared.try_mutate(|s| {
        s.atlas.tokens.retain(|t| t.expires_at > now);
        s.atlas.tokens.push(Token {
            access_token: token.clone(),
            client_id: client_id.clone(),
            expires_at: now + ttl,
        });
        s.atlas.tokens_issued += 1;
        Ok::<(), ()>(())
    });
    if let Err(e) = shared.persist().await {
        tracing::error!("atlas: {e}");
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Unexpected error.",
        );
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json!({ "access_token": token, "expires_in": ttl, "token_type": "Bearer" }).to_string(),
    )
        .into_response()
}

async fn revoke_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_pairs(&String::from_utf8_lossy(&body));
    let Some(client_id) = authenticate_client(&shared, &headers, &form) else {
        return invalid_client();
    };
    let Some(token) = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required.",
        );
    };
    let removed = shared.try_mutate(|s| {
        let before = s.atlas.tokens.len();
        s.atlas
            .tokens
            .retain(|t| !(t.access_token == token && t.client_id == client_id));
        if s.atlas.tokens.len() == before {
            Err(())
        } else {
            Ok(())
        }
    });
    if removed.is_ok() {
        if let Err(e) = shared.persist().await {
            tracing::error!("atlas: {e}");
        }
    }
    StatusCode::OK.into_response()
}

// ---------------------------------------------------------------------------------------------
// Sandbox-only helpers
// ---------------------------------------------------------------------------------------------

async fn add_project(
    State(shared): State<Arc<Shared>>,
    Path(org_id): Path<String>,
    body: Bytes,
) -> Response {
    let name = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(o)) => o.get("name").and_then(Value::as_str).map(str::to_owned),
            _ => return control_error(StatusCode::BAD_REQUEST, "body must be a JSON object"),
        }
    };
    let ids = shared.ids();
    let project: Result<Project, &str> = shared.try_mutate(|s| {
        let org = s.atlas.org_mut(&org_id).ok_or("no such organization")?;
        let project = Project {
            id: ids.object_id(),
            name: name.unwrap_or_else(|| format!("project-{}", org.projects.len() + 1)),
        };
        org.projects.push(project.clone());
        Ok(project)
    });
    let Ok(project) = project else {
        return control_error(StatusCode::NOT_FOUND, "no such organization");
    };
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({ "id": project.id, "name": project.name, "orgId": org_id })),
    )
        .into_response()
}

async fn remove_projects(
    State(shared): State<Arc<Shared>>,
    Path(org_id): Path<String>,
) -> Response {
    let done: Result<(), &str> = shared.try_mutate(|s| {
        let org = s.atlas.org_mut(&org_id).ok_or("no such organization")?;
        org.projects.clear();
        for key in &mut org.api_keys {
            key.project_roles.clear();
        }
        Ok(())
    });
    if done.is_err() {
        return control_error(StatusCode::NOT_FOUND, "no such organization");
    }
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectRoleRequest {
    group_id: String,
    role_name: String,
}

async fn add_project_role(
    State(shared): State<Arc<Shared>>,
    Path((org_id, key_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<ProjectRoleRequest>(&body) else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "body must be {\"groupId\": …, \"roleName\": …}",
        );
    };
    let result = shared.try_mutate(|s| {
        let org = s.atlas.org_mut(&org_id).ok_or("no such organization")?;
        if !org.projects.iter().any(|p| p.id == request.group_id) {
            return Err("no such project in this organization");
        }
        let key = org
            .api_keys
            .iter_mut()
            .find(|k| k.id == key_id)
            .ok_or("no such API key in this organization")?;
        let role = ProjectRole {
            group_id: request.group_id,
            role_name: request.role_name,
        };
        if !key.project_roles.contains(&role) {
            key.project_roles.push(role);
        }
        Ok(key_json("", &org_id, key, false)["roles"].clone())
    });
    match result {
        Ok(roles) => {
            if let Err(e) = shared.persist().await {
                return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
            }
            axum::Json(json!({ "roles": roles })).into_response()
        }
        Err(why) => control_error(StatusCode::NOT_FOUND, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_name_every_route() {
        let org = "/api/atlas/v2/orgs/0123456789abcdef01234567";
        assert_eq!(
            family(&Method::GET, "/api/atlas/v2/orgs"),
            "atlas.orgs.list"
        );
        assert_eq!(
            family(&Method::POST, "/api/atlas/v2/orgs/"),
            "atlas.orgs.create"
        );
        assert_eq!(family(&Method::PATCH, org), "atlas.orgs.update");
        assert_eq!(
            family(&Method::GET, &format!("{org}/apiKeys")),
            "atlas.api_keys.list"
        );
        assert_eq!(
            family(&Method::DELETE, &format!("{org}/apiKeys/x")),
            "atlas.api_keys.delete"
        );
        assert_eq!(
            family(&Method::POST, "/api/oauth/token"),
            "atlas.oauth.token"
        );
        assert_eq!(family(&Method::PUT, org), "atlas.other");
    }

    #[test]
    fn version_negotiation() {
        let accept = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            accepts_version(&h)
        };
        assert!(accept("application/vnd.atlas.2023-01-01+json"));
        assert!(accept(
            "application/vnd.atlas.2025-03-12+json; charset=utf-8"
        ));
        assert!(accept(
            "application/json, application/vnd.atlas.2024-08-05+json"
        ));
        assert!(!accept("application/vnd.atlas.2022-12-31+json"));
        assert!(!accept("application/vnd.atlas.2023-02-30+json"));
        assert!(!accept("application/vnd.atlas.preview+json"));
        assert!(!accept("application/json"));
        assert!(!accept("*/*"));
        assert!(!accepts_version(&HeaderMap::new()));
    }

    #[test]
    fn redaction_keeps_the_last_twelve() {
        assert_eq!(
            redact("a2a87b5c-e2bd-4b4c-b1c9-db2c132ca78d"),
            "********-****-****-db2c132ca78d"
        );
        assert_eq!(redact("short"), "********-****-****-short");
    }

    #[test]
    fn org_names_follow_the_pattern() {
        assert!(check_org_name("name", "Acme_(prod):1&2@x+y'z.-").is_ok());
        assert!(check_org_name("name", "Ünïcødé٣").is_ok());
        assert!(check_org_name("name", "has space").is_err());
        assert!(check_org_name("name", "").is_err());
        assert!(check_org_name("name", &"a".repeat(65)).is_err());
    }

    #[test]
    fn pagination_parameters() {
        let p = Page::from_query(Some("pageNum=2&itemsPerPage=500&includeCount=false")).unwrap();
        assert_eq!((p.num, p.size, p.include_count), (2, 500, false));
        assert_eq!(p.range(600), 500..600);
        assert_eq!(p.range(10), 10..10);
        for bad in [
            "pageNum=0",
            "itemsPerPage=0",
            "itemsPerPage=501",
            "pageNum=x",
            "includeCount=yes",
        ] {
            assert!(Page::from_query(Some(bad)).is_err(), "{bad}");
        }
        let d = Page::from_query(None).unwrap();
        assert_eq!((d.num, d.size, d.include_count), (1, 100, true));
    }
}
