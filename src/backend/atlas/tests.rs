//! Tests of the Atlas client and the shared HTTP layer against a small in-process mock of
//! the Atlas API (Digest and OAuth auth, API-key CRUD, pagination, scripted faults).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine as _;
use serde_json::{json, Value};

use super::*;
use crate::backend::http::{error_from_response, ErrorContext, Redactor};
use digest_auth::{AuthContext, HttpMethod};

const ORG: &str = "5f1a2b3c4d5e6f7a8b9c0d1e";
const OTHER_ORG: &str = "6a6a6a6a6a6a6a6a6a6a6a6a";
const GROUP: &str = "7b7b7b7b7b7b7b7b7b7b7b7b";
const PUBLIC: &str = "pubkey01";
const PRIVATE: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT_ID: &str = "mdb_sa_id_0123456789abcdef01234567";
const CLIENT_SECRET: &str = "mdb_sa_sk_topsecret";

#[derive(Clone)]
enum MockAuth {
    Digest,
    OAuth,
}

#[derive(Clone)]
enum FaultKind {
    /// Answer with this before doing anything.
    Respond {
        status: u16,
        body: String,
        content_type: &'static str,
        retry_after: Option<u64>,
    },
    /// Do the work, then answer with this status and an Atlas error.
    CommitThen(u16),
    /// Do the work, then stall past the client's timeout.
    CommitThenStall(Duration),
}

#[derive(Clone)]
struct Fault {
    method: Method,
    path_contains: &'static str,
    kind: FaultKind,
    times: u32,
}

#[derive(Clone)]
struct MockKey {
    org: String,
    id: String,
    desc: String,
    roles: Vec<Value>,
    public: String,
}

#[derive(Clone)]
struct MockOrg {
    id: String,
    name: String,
    has_projects: bool,
    deleted: bool,
}

#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    authorization: Option<String>,
    status: u16,
}

struct MockState {
    auth: MockAuth,
    password: String,
    nonces: HashMap<String, HashSet<String>>,
    nonce_seq: u32,
    keys: Vec<MockKey>,
    orgs: Vec<MockOrg>,
    id_seq: u64,
    seen: Vec<Seen>,
    faults: Vec<Fault>,
    tokens: HashSet<String>,
    token_seq: u32,
    token_fetches: u32,
    token_expires_in: u64,
}

type Shared = Arc<Mutex<MockState>>;

struct Mock {
    url: String,
    state: Shared,
}

impl Mock {
    async fn start(auth: MockAuth) -> Mock {
        let state = Arc::new(Mutex::new(MockState {
            auth,
            password: PRIVATE.to_string(),
            nonces: HashMap::new(),
            nonce_seq: 0,
            keys: Vec::new(),
            orgs: Vec::new(),
            id_seq: 0,
            seen: Vec::new(),
            faults: Vec::new(),
            tokens: HashSet::new(),
            token_seq: 0,
            token_fetches: 0,
            token_expires_in: 3600,
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Mock { url, state }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MockState> {
        self.state.lock().unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    fn count(&self, method: Method, path_contains: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path.contains(path_contains))
            .count()
    }

    fn reset_seen(&self) {
        self.lock().seen.clear();
    }

    fn fault(&self, method: Method, path_contains: &'static str, kind: FaultKind, times: u32) {
        self.lock().faults.push(Fault {
            method,
            path_contains,
            kind,
            times,
        });
    }

    fn add_key(&self, org: &str, desc: &str, roles: Vec<Value>) -> String {
        let mut s = self.lock();
        let id = s.next_id();
        let public = format!("pk{:06}", s.id_seq);
        s.keys.push(MockKey {
            org: org.to_string(),
            id: id.clone(),
            desc: desc.to_string(),
            roles,
            public,
        });
        id
    }

    fn keys_named(&self, desc: &str) -> Vec<String> {
        self.lock()
            .keys
            .iter()
            .filter(|k| k.desc == desc)
            .map(|k| k.id.clone())
            .collect()
    }

    fn expire_nonces(&self) {
        self.lock().nonces.clear();
    }

    fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    fn client_with(&self, auth: AtlasAuth, timeout: Duration) -> AtlasClient {
        AtlasClient::new(AtlasConfig {
            base_url: self.url.clone(),
            auth,
            http: HttpSettings {
                max_retries: 3,
                request_timeout: timeout,
                user_agent: "keysmith-test".into(),
                interrupt: Default::default(),
            },
        })
        .unwrap()
        .with_backoff(Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(5),
        })
    }

    fn digest_client(&self) -> AtlasClient {
        self.client_with(digest_creds(PRIVATE), Duration::from_secs(5))
    }

    fn oauth_client(&self) -> AtlasClient {
        self.client_with(
            AtlasAuth::ServiceAccount {
                client_id: CLIENT_ID.into(),
                client_secret: Secret::new(CLIENT_SECRET),
            },
            Duration::from_secs(5),
        )
    }
}

fn digest_creds(private: &str) -> AtlasAuth {
    AtlasAuth::Digest {
        public_key: PUBLIC.into(),
        private_key: Secret::new(private),
    }
}

impl MockState {
    fn next_id(&mut self) -> String {
        self.id_seq += 1;
        let now = OffsetDateTime::now_utc().unix_timestamp() as u32;
        format!("{now:08x}{:016x}", self.id_seq)
    }

    fn challenge(&mut self, stale: bool) -> String {
        self.nonce_seq += 1;
        let nonce = format!("nonce{}", self.nonce_seq);
        self.nonces.insert(nonce.clone(), HashSet::new());
        format!(
            r#"Digest realm="MMS Public API", domain="", nonce="{nonce}", algorithm=MD5, qop="auth", stale={stale}"#
        )
    }

    /// Checks the request's credentials; `Some` is the 401 to send.
    fn authenticate(
        &mut self,
        method: &Method,
        uri: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<axum::response::Response> {
        let header = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match self.auth {
            MockAuth::Digest => {
                let Some(h) = header.and_then(|h| h.strip_prefix("Digest ").map(str::to_string))
                else {
                    let ch = self.challenge(false);
                    return Some(unauthorized(Some(ch)));
                };
                let Ok(parsed) = digest_auth::AuthorizationHeader::parse(&h) else {
                    return Some(unauthorized(Some(self.challenge(false))));
                };
                let Some(used) = self.nonces.get_mut(&parsed.nonce) else {
                    let ch = self.challenge(true);
                    return Some(unauthorized(Some(ch)));
                };
                let nc = format!("{}", parsed.nc);
                if !used.insert(nc) || parsed.uri != uri || parsed.username != PUBLIC {
                    let ch = self.challenge(false);
                    return Some(unauthorized(Some(ch)));
                }
                let ctx = AuthContext::new_with_method(
                    PUBLIC,
                    self.password.as_str(),
                    uri,
                    Some(body),
                    HttpMethod::from(method.as_str()),
                );
                let mut check = parsed.clone();
                check.digest(&ctx);
                if check.response != parsed.response {
                    let ch = self.challenge(false);
                    return Some(unauthorized(Some(ch)));
                }
                None
            }
            MockAuth::OAuth => {
                let ok = header
                    .and_then(|h| h.strip_prefix("Bearer ").map(str::to_string))
                    .is_some_and(|t| self.tokens.contains(&t));
                if ok {
                    None
                } else {
                    Some(unauthorized(None))
                }
            }
        }
    }

    fn key_json(k: &MockKey, private: Option<&str>) -> Value {
        json!({
            "id": k.id,
            "desc": k.desc,
            "publicKey": k.public,
            "privateKey": private.unwrap_or("********-****-****-555555555555"),
            "roles": k.roles,
            "links": [],
        })
    }
}

fn unauthorized(challenge: Option<String>) -> axum::response::Response {
    let mut b = axum::response::Response::builder()
        .status(401)
        .header("content-type", "application/json");
    if let Some(ch) = challenge {
        b = b.header("www-authenticate", ch);
    }
    b.body(Body::from(
        json!({"detail":"You are not authorized for this resource.","error":401,"errorCode":"NOT_ORG_GROUP_CREATOR","reason":"Unauthorized"})
            .to_string(),
    ))
    .unwrap()
}

fn reply(status: u16, body: Value) -> axum::response::Response {
    axum::response::Response::builder()
        .status(status)
        .header("content-type", MEDIA_TYPE)
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn api_error(status: u16, code: &str, detail: &str) -> Value {
    json!({"detail": detail, "error": status, "errorCode": code, "reason": "Error"})
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (resp, stall) = {
        let mut s = state.lock().unwrap();
        let (resp, stall) = route(&mut s, &method, &uri, &headers, &body);
        s.seen.push(Seen {
            method: method.clone(),
            path,
            query,
            authorization,
            status: resp.status().as_u16(),
        });
        (resp, stall)
    };
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    resp
}

fn route(
    s: &mut MockState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (axum::response::Response, Option<Duration>) {
    let path = uri.path();
    if path == "/api/oauth/token" {
        return (token_endpoint(s, method, headers, body), None);
    }
    let full_uri = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    if let Some(r) = s.authenticate(method, &full_uri, headers, body) {
        return (r, None);
    }
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some(MEDIA_TYPE) {
        return (
            reply(406, api_error(406, "INVALID_VERSION", "bad Accept")),
            None,
        );
    }
    if !body.is_empty()
        && headers.get("content-type").and_then(|v| v.to_str().ok()) != Some(MEDIA_TYPE)
    {
        return (
            reply(
                415,
                api_error(415, "UNSUPPORTED_MEDIA_TYPE", "bad Content-Type"),
            ),
            None,
        );
    }
    let mut after: Option<FaultKind> = None;
    if let Some(f) = s
        .faults
        .iter_mut()
        .find(|f| f.times > 0 && f.method == *method && path.contains(f.path_contains))
    {
        f.times -= 1;
        match f.kind.clone() {
            FaultKind::Respond {
                status,
                body,
                content_type,
                retry_after,
            } => {
                let mut b = axum::response::Response::builder()
                    .status(status)
                    .header("content-type", content_type);
                if let Some(ra) = retry_after {
                    b = b.header("retry-after", ra.to_string());
                }
                return (b.body(Body::from(body)).unwrap(), None);
            }
            other => after = Some(other),
        }
    }
    let resp = api_keys(s, method, uri, body);
    match after {
        Some(FaultKind::CommitThen(status)) => (
            reply(
                status,
                api_error(status, "UNEXPECTED_ERROR", "Unexpected error."),
            ),
            None,
        ),
        Some(FaultKind::CommitThenStall(d)) => (resp, Some(d)),
        _ => (resp, None),
    }
}

fn token_endpoint(
    s: &mut MockState,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> axum::response::Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let auth_ok =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    if *method != Method::POST
        || body != b"grant_type=client_credentials"
        || headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json")
    {
        return reply(400, json!({"error":"invalid_request"}));
    }
    if !auth_ok {
        return reply(
            401,
            json!({"error":"invalid_client","error_description":"bad client credentials"}),
        );
    }
    s.token_fetches += 1;
    s.token_seq += 1;
    let token = format!("token-{}", s.token_seq);
    s.tokens.insert(token.clone());
    axum::response::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"access_token": token, "expires_in": s.token_expires_in, "token_type": "Bearer"}).to_string(),
        ))
        .unwrap()
}

fn api_keys(
    s: &mut MockState,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> axum::response::Response {
    let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match parts.as_slice() {
        ["api", "atlas", "v2", "orgs"] => orgs_collection(s, method, &query, body),
        ["api", "atlas", "v2", "orgs", org] => one_org(s, method, org, body),
        ["api", "atlas", "v2", "orgs", org, "apiKeys"] => {
            let org = org.to_string();
            if *method == Method::GET {
                let per: usize = query
                    .get("itemsPerPage")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(100);
                let page: usize = query
                    .get("pageNum")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                let all: Vec<Value> = s
                    .keys
                    .iter()
                    .filter(|k| k.org == org)
                    .map(|k| MockState::key_json(k, None))
                    .collect();
                let results: Vec<Value> = all
                    .iter()
                    .skip((page - 1) * per)
                    .take(per)
                    .cloned()
                    .collect();
                return reply(
                    200,
                    json!({"results": results, "totalCount": all.len() + 7, "links": []}),
                );
            }
            if *method == Method::POST {
                let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let desc = v["desc"].as_str().unwrap_or("").to_string();
                let roles: Vec<String> = v["roles"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| r.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(bad) = roles.iter().find(|r| !r.starts_with("ORG_")) {
                    return reply(
                        400,
                        json!({
                            "detail": format!("Invalid role {bad}."),
                            "error": 400,
                            "errorCode": "INVALID_ENUM_VALUE",
                            "reason": "Bad Request",
                            "parameters": [bad],
                            "badRequestDetail": {"fields": [{"field": "roles", "description": "must be an organization role"}]}
                        }),
                    );
                }
                let id = s.next_id();
                let key = MockKey {
                    org: org.clone(),
                    id,
                    desc,
                    roles: roles
                        .iter()
                        .map(|r| json!({"orgId": org, "roleName": r}))
                        .collect(),
                    public: format!("pk{:06}", s.id_seq),
                };
                s.keys.push(key.clone());
                return reply(
                    200,
                    MockState::key_json(&key, Some(&format!("secret-{}", key.id))),
                );
            }
            reply(405, api_error(405, "METHOD_NOT_ALLOWED", "no"))
        }
        ["api", "atlas", "v2", "orgs", org, "apiKeys", id] => {
            let pos = s.keys.iter().position(|k| k.org == *org && k.id == *id);
            let Some(pos) = pos else {
                return reply(
                    404,
                    api_error(
                        404,
                        "API_KEY_NOT_FOUND",
                        &format!("No API key with ID {id} exists."),
                    ),
                );
            };
            if *method == Method::GET {
                return reply(200, MockState::key_json(&s.keys[pos], None));
            }
            if *method == Method::DELETE {
                s.keys.remove(pos);
                return axum::response::Response::builder()
                    .status(204)
                    .body(Body::empty())
                    .unwrap();
            }
            if *method == Method::PATCH {
                let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let org = org.to_string();
                let k = &mut s.keys[pos];
                if let Some(d) = v["desc"].as_str() {
                    k.desc = d.to_string();
                }
                if let Some(rs) = v["roles"].as_array() {
                    k.roles = rs
                        .iter()
                        .map(|r| json!({"orgId": org, "roleName": r}))
                        .collect();
                }
                return reply(200, MockState::key_json(k, None));
            }
            reply(405, api_error(405, "METHOD_NOT_ALLOWED", "no"))
        }
        _ => reply(
            404,
            api_error(404, "RESOURCE_NOT_FOUND", "no such resource"),
        ),
    }
}

fn new_key(desc: &str, roles: &[&str]) -> NewApiKey {
    NewApiKey {
        org_id: Some(ORG.into()),
        name: desc.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..NewApiKey::default()
    }
}

fn nc_and_nonce(authorization: &str) -> (String, u32) {
    let h = digest_auth::AuthorizationHeader::parse(authorization.strip_prefix("Digest ").unwrap())
        .unwrap();
    (h.nonce, h.nc)
}

// ---------------------------------------------------------------------------------------
// Authentication

#[tokio::test]
async fn digest_challenge_once_then_one_round_trip_per_call() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();

    // First call: the baseline listing (401 challenge, then replayed), then the POST in one
    // round trip.
    let created = client
        .create_api_key(&new_key("ci", &["ORG_MEMBER"]))
        .await
        .unwrap();
    assert_eq!(
        created.secret.expose(),
        format!("secret-{}", created.key.id)
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        (seen[0].status, seen[0].authorization.is_none()),
        (401, true)
    );
    assert_eq!((seen[1].method.clone(), seen[1].status), (Method::GET, 200));
    assert_eq!(seen[2].method, Method::POST);
    assert_eq!(seen[2].status, 200);

    // Steady state: one request per call, same nonce, nc counting up.
    for _ in 0..3 {
        client.list_api_keys(ORG).await.unwrap();
    }
    client
        .update_api_key(
            ORG,
            &created.key.id,
            &ApiKeyUpdate {
                name: Some("ci2".into()),
                roles: None,
            },
        )
        .await
        .unwrap();
    client.delete_api_key(ORG, &created.key.id).await.unwrap();
    let seen = mock.seen();
    assert_eq!(seen.len(), 3 + 5, "{seen:?}");
    assert!(seen.iter().skip(1).all(|s| s.status < 300));
    let ncs: Vec<(String, u32)> = seen[1..]
        .iter()
        .map(|s| nc_and_nonce(s.authorization.as_deref().unwrap()))
        .collect();
    assert!(ncs.iter().all(|(n, _)| *n == ncs[0].0));
    assert_eq!(
        ncs.iter().map(|(_, nc)| *nc).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6, 7]
    );
}

#[tokio::test]
async fn digest_rechallenges_once_on_stale_nonce_and_fails_on_bad_password() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    client.list_api_keys(ORG).await.unwrap();
    mock.expire_nonces();
    mock.reset_seen();
    client.list_api_keys(ORG).await.unwrap();
    let seen = mock.seen();
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        vec![401, 200]
    );
    client.list_api_keys(ORG).await.unwrap();
    assert_eq!(mock.seen().len(), 3, "back to one round trip");

    // Wrong private key: challenge, one answer, then a clear error (no loop).
    let bad = mock.client_with(digest_creds("wrong"), Duration::from_secs(5));
    mock.reset_seen();
    let err = bad.list_api_keys(ORG).await.unwrap_err();
    assert!(
        matches!(err, BackendError::Unauthenticated { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("You are not authorized"), "{err}");
    assert!(!err.to_string().contains("wrong"));
    assert_eq!(mock.seen().len(), 2);
}

#[tokio::test]
async fn oauth_token_is_fetched_once_shared_and_renewed() {
    let mock = Mock::start(MockAuth::OAuth).await;
    let client = Arc::new(mock.oauth_client());
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let c = Arc::clone(&client);
        tasks.push(tokio::spawn(async move { c.list_api_keys(ORG).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(mock.lock().token_fetches, 1);
    assert_eq!(mock.count(Method::GET, "/apiKeys"), 10);
    let token_req = mock
        .seen()
        .into_iter()
        .find(|s| s.path == "/api/oauth/token")
        .unwrap();
    assert!(token_req.authorization.unwrap().starts_with("Basic "));

    // A revoked token: 401, one new token, the call succeeds.
    mock.revoke_tokens();
    client.list_api_keys(ORG).await.unwrap();
    assert_eq!(mock.lock().token_fetches, 2);

    // A short-lived token is renewed before it runs out (half its lifetime for short ones).
    mock.lock().token_expires_in = 2;
    mock.revoke_tokens();
    client.list_api_keys(ORG).await.unwrap();
    assert_eq!(mock.lock().token_fetches, 3);
    client.list_api_keys(ORG).await.unwrap();
    assert_eq!(mock.lock().token_fetches, 3, "still fresh");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.list_api_keys(ORG).await.unwrap();
    assert_eq!(
        mock.lock().token_fetches,
        4,
        "renewed after half its lifetime"
    );
}

#[tokio::test]
async fn oauth_bad_client_secret_is_unauthenticated() {
    let mock = Mock::start(MockAuth::OAuth).await;
    let client = mock.client_with(
        AtlasAuth::ServiceAccount {
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new("nope-secret"),
        },
        Duration::from_secs(5),
    );
    let err = client
        .get_api_key(ORG, "5f1a2b3c4d5e6f7a8b9c0d1f")
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackendError::Unauthenticated { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("bad client credentials"), "{err}");
    assert!(!err.to_string().contains("nope-secret"));
    assert_eq!(mock.seen().len(), 1, "no API call without a token");
}

// ---------------------------------------------------------------------------------------
// Retries and errors

#[tokio::test]
async fn retries_503_honouring_retry_after() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    client.list_api_keys(ORG).await.unwrap();
    mock.fault(
        Method::GET,
        "/apiKeys",
        FaultKind::Respond {
            status: 503,
            body: api_error(503, "SERVICE_UNAVAILABLE", "try later").to_string(),
            content_type: "application/json",
            retry_after: Some(1),
        },
        1,
    );
    mock.reset_seen();
    let started = Instant::now();
    client.list_api_keys(ORG).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(
        mock.seen().iter().map(|s| s.status).collect::<Vec<_>>(),
        vec![503, 200]
    );

    // Retries run out: max_retries = 3 → 4 attempts, then the vendor's message.
    mock.fault(
        Method::GET,
        "/apiKeys",
        FaultKind::Respond {
            status: 503,
            body: api_error(503, "SERVICE_UNAVAILABLE", "still down").to_string(),
            content_type: "application/json",
            retry_after: None,
        },
        10,
    );
    mock.reset_seen();
    let err = client.list_api_keys(ORG).await.unwrap_err();
    assert_eq!(mock.seen().len(), 4);
    match err {
        BackendError::Http {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(
                (status, code.as_deref(), message.as_str()),
                (503, Some("SERVICE_UNAVAILABLE"), "still down")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rate_limited_after_all_attempts() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    mock.fault(
        Method::GET,
        "/apiKeys",
        FaultKind::Respond {
            status: 429,
            body: api_error(429, "RATE_LIMITED", "Rate limit exceeded").to_string(),
            content_type: "application/json",
            retry_after: Some(0),
        },
        10,
    );
    let err = client.list_api_keys(ORG).await.unwrap_err();
    assert!(
        matches!(err, BackendError::RateLimited { attempts: 4, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn post_is_retried_on_429_but_not_on_500_which_is_reconciled() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    client.list_api_keys(ORG).await.unwrap();

    // 429: Atlas did not act; the POST is simply sent again.
    mock.fault(
        Method::POST,
        "/apiKeys",
        FaultKind::Respond {
            status: 429,
            body: api_error(429, "RATE_LIMITED", "slow down").to_string(),
            content_type: "application/json",
            retry_after: Some(0),
        },
        1,
    );
    mock.reset_seen();
    client
        .create_api_key(&new_key("rl", &["ORG_MEMBER"]))
        .await
        .unwrap();
    assert_eq!(mock.count(Method::POST, "/apiKeys"), 2);
    assert_eq!(
        mock.count(Method::GET, "/apiKeys"),
        1,
        "the baseline listing, once per organization"
    );
    assert_eq!(mock.keys_named("rl").len(), 1);

    // A sibling with the same description, created earlier by this client, must survive.
    let sibling = client
        .create_api_key(&new_key("svc", &["ORG_MEMBER"]))
        .await
        .unwrap();

    // 500 after committing: no blind re-post; list, delete the orphan, create once more.
    mock.fault(Method::POST, "/apiKeys", FaultKind::CommitThen(500), 1);
    mock.reset_seen();
    let created = client
        .create_api_key(&new_key("svc", &["ORG_MEMBER"]))
        .await
        .unwrap();
    assert_eq!(mock.count(Method::POST, "/apiKeys"), 2, "{:?}", mock.seen());
    assert_eq!(mock.count(Method::GET, "/apiKeys"), 1);
    assert_eq!(mock.count(Method::DELETE, "/apiKeys/"), 1);
    let mut left = mock.keys_named("svc");
    left.sort();
    let mut want = vec![sibling.key.id.clone(), created.key.id.clone()];
    want.sort();
    assert_eq!(left, want, "no orphan, no duplicate, sibling kept");
}

#[tokio::test]
async fn create_timeout_is_reconciled() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.client_with(digest_creds(PRIVATE), Duration::from_millis(400));
    client.list_api_keys(ORG).await.unwrap();
    mock.fault(
        Method::POST,
        "/apiKeys",
        FaultKind::CommitThenStall(Duration::from_secs(2)),
        1,
    );
    let created = client
        .create_api_key(&new_key("slow", &["ORG_OWNER"]))
        .await
        .unwrap();
    assert_eq!(mock.keys_named("slow"), vec![created.key.id.clone()]);
    assert_eq!(created.key.roles, vec!["ORG_OWNER".to_string()]);
}

#[tokio::test]
async fn create_lost_every_time_fails_and_leaves_nothing() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    // max_retries = 3: the first create and three more, each lost and cleaned up.
    mock.fault(Method::POST, "/apiKeys", FaultKind::CommitThen(502), 4);
    let err = client
        .create_api_key(&new_key("doomed", &["ORG_MEMBER"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackendError::Http { status: 502, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("found and deleted"), "{err}");
    assert!(mock.keys_named("doomed").is_empty());
    assert_eq!(
        mock.count(Method::POST, "/apiKeys"),
        4,
        "four creates (the Digest challenge went to the baseline listing)"
    );
    assert_eq!(mock.count(Method::DELETE, "/apiKeys/"), 4);
}

#[tokio::test]
async fn html_and_truncated_bodies_are_bad_responses() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    let html = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title><style>p{}</style></head>\
                <body><h1>Bad Gateway</h1><script>var secret=1;</script></body></html>";
    mock.fault(
        Method::GET,
        "/apiKeys",
        FaultKind::Respond {
            status: 502,
            body: html.into(),
            content_type: "text/html",
            retry_after: None,
        },
        10,
    );
    let err = client.list_api_keys(ORG).await.unwrap_err();
    match &err {
        BackendError::BadResponse {
            status: 502,
            message,
            ..
        } => {
            assert!(message.contains("502 Bad Gateway"), "{message}");
            assert!(!message.contains('<'), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // A 404 HTML page (wrong base_url) must not read as "key already gone".
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    mock.fault(
        Method::DELETE,
        "/apiKeys/",
        FaultKind::Respond {
            status: 404,
            body: "<html><body>Not Found</body></html>".into(),
            content_type: "text/html",
            retry_after: None,
        },
        1,
    );
    let err = client
        .delete_api_key(ORG, "5f1a2b3c4d5e6f7a8b9c0d1f")
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackendError::BadResponse { status: 404, .. }),
        "{err:?}"
    );

    // Truncated JSON.
    mock.fault(
        Method::GET,
        "/apiKeys",
        FaultKind::Respond {
            status: 500,
            body: r#"{"detail":"Unexpected er"#.into(),
            content_type: "application/json",
            retry_after: None,
        },
        1,
    );
    let err = client.list_api_keys(ORG).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::BadResponse { status: 500, message, .. } if message.contains("truncated")),
        "{err:?}"
    );
}

#[tokio::test]
async fn atlas_api_error_becomes_invalid_with_code_and_field() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    let err = client
        .create_api_key(&new_key("bad", &["GROUP_OWNER"]))
        .await
        .unwrap_err();
    match &err {
        BackendError::Invalid {
            status,
            code,
            message,
            field,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(code.as_deref(), Some("INVALID_ENUM_VALUE"));
            assert_eq!(field.as_deref(), Some("roles"));
            assert!(
                message.starts_with("Invalid role GROUP_OWNER."),
                "{message}"
            );
            assert!(
                message.contains("roles: must be an organization role"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("HTTP 400, INVALID_ENUM_VALUE"),
        "{err}"
    );
    assert_eq!(
        mock.count(Method::POST, "/apiKeys"),
        1,
        "a 400 is not retried (the Digest challenge went to the baseline listing)"
    );
}

#[tokio::test]
async fn ids_and_inputs_are_checked_before_any_request() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    let cases = [
        client
            .get_api_key("../../orgs", "5f1a2b3c4d5e6f7a8b9c0d1f")
            .await
            .unwrap_err(),
        client.get_api_key(ORG, "abc?x=1").await.unwrap_err(),
        client.delete_api_key(ORG, "").await.unwrap_err(),
        client
            .create_api_key(&new_key("", &["ORG_MEMBER"]))
            .await
            .unwrap_err(),
        client.create_api_key(&new_key("x", &[])).await.unwrap_err(),
        client
            .create_api_key(&NewApiKey {
                name: "x".into(),
                roles: vec!["ORG_MEMBER".into()],
                ..NewApiKey::default()
            })
            .await
            .unwrap_err(),
    ];
    let fields: Vec<Option<String>> = cases
        .iter()
        .map(|e| match e {
            BackendError::Invalid {
                status: 0, field, ..
            } => field.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let want = ["orgId", "apiUserId", "apiUserId", "desc", "roles", "orgId"];
    assert_eq!(
        fields,
        want.iter().map(|f| Some(f.to_string())).collect::<Vec<_>>()
    );
    assert!(
        cases[0]
            .to_string()
            .starts_with("invalid request to atlas: orgId must be 24"),
        "{}",
        cases[0]
    );
    assert!(mock.seen().is_empty());
}

#[tokio::test]
async fn transport_errors_carry_no_url_and_get_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = AtlasClient::new(AtlasConfig {
        base_url: format!("http://{addr}"),
        auth: digest_creds(PRIVATE),
        http: HttpSettings {
            max_retries: 2,
            request_timeout: Duration::from_secs(2),
            user_agent: "t".into(),
            interrupt: Default::default(),
        },
    })
    .unwrap()
    .with_backoff(Backoff {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(2),
        max_retry_after: Duration::from_millis(2),
    });
    let err = client.list_api_keys(ORG).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::Transport { .. }), "{err:?}");
    assert!(
        !text.contains("http://") && !text.contains(&addr.port().to_string()),
        "{text}"
    );
    assert!(text.contains("could not connect"), "{text}");
    // A refused connection is provably not acted on: a create fails plainly (no reconcile).
    let err = client
        .create_api_key(&new_key("x", &["ORG_MEMBER"]))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Transport { .. }), "{err:?}");
    assert!(!err.to_string().contains("deleted"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Reads

#[tokio::test]
async fn listing_reads_three_pages_and_ignores_total_count() {
    let mock = Mock::start(MockAuth::Digest).await;
    for i in 0..1200 {
        mock.add_key(
            ORG,
            &format!("k{i}"),
            vec![json!({"orgId": ORG, "roleName": "ORG_MEMBER"})],
        );
    }
    mock.add_key(OTHER_ORG, "elsewhere", vec![]);
    let client = mock.digest_client();
    let keys = client.list_api_keys(ORG).await.unwrap();
    assert_eq!(keys.len(), 1200);
    let lists: Vec<Seen> = mock
        .seen()
        .into_iter()
        .filter(|s| s.status == 200 && s.path.ends_with("/apiKeys"))
        .collect();
    assert_eq!(
        lists.iter().map(|s| s.query.as_str()).collect::<Vec<_>>(),
        vec![
            "itemsPerPage=500&pageNum=1&includeCount=false",
            "itemsPerPage=500&pageNum=2&includeCount=false",
            "itemsPerPage=500&pageNum=3&includeCount=false",
        ]
    );
    assert_eq!(keys[0].name, "k0");
    assert_eq!(keys[1199].name, "k1199");
    assert!(keys
        .iter()
        .all(|k| k.created_at.is_none() && k.preview.is_none()));
}

#[tokio::test]
async fn roles_keep_only_org_roles_of_this_org() {
    let mock = Mock::start(MockAuth::Digest).await;
    let id = mock.add_key(
        ORG,
        "mixed",
        vec![
            json!({"orgId": ORG, "roleName": "ORG_OWNER"}),
            json!({"orgId": OTHER_ORG, "roleName": "ORG_MEMBER"}),
            json!({"groupId": GROUP, "roleName": "GROUP_OWNER"}),
            json!({"groupId": GROUP, "roleName": "ORG_READ_ONLY"}),
            json!({"orgId": ORG.to_uppercase(), "roleName": "ORG_BILLING_ADMIN"}),
            json!({"orgId": ORG, "roleName": "ORG_OWNER"}),
        ],
    );
    let client = mock.digest_client();
    let key = client.get_api_key(ORG, &id).await.unwrap();
    assert_eq!(
        key.roles,
        vec!["ORG_BILLING_ADMIN".to_string(), "ORG_OWNER".to_string()]
    );
    assert_eq!(key.org_id.as_deref(), Some(ORG));
    assert!(key.public_key.is_some());
}

#[tokio::test]
async fn many_gets_share_one_listing() {
    let mock = Mock::start(MockAuth::Digest).await;
    let ids: Vec<String> = (0..50)
        .map(|i| {
            mock.add_key(
                ORG,
                &format!("k{i}"),
                vec![json!({"orgId": ORG, "roleName": "ORG_MEMBER"})],
            )
        })
        .collect();
    let client = Arc::new(mock.digest_client());
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let c = Arc::clone(&client);
        tasks.push(tokio::spawn(async move { c.get_api_key(ORG, &id).await }));
    }
    for (t, id) in tasks.into_iter().zip(&ids) {
        assert_eq!(&t.await.unwrap().unwrap().id, id);
    }
    let api_requests = || mock.seen().into_iter().filter(|s| s.status != 401).count();
    assert_eq!(api_requests(), 1, "{:?}", mock.seen());

    // A key missing from the listing is confirmed with a real GET.
    let err = client
        .get_api_key(ORG, "5f1a2b3c4d5e6f7a8b9c0d1f")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(
        mock.count(Method::GET, "/apiKeys/5f1a2b3c4d5e6f7a8b9c0d1f"),
        1
    );
    // A key created behind the listing's back is found by that GET too.
    let late = mock.add_key(ORG, "late", vec![]);
    assert_eq!(client.get_api_key(ORG, &late).await.unwrap().name, "late");
    assert_eq!(api_requests(), 3);

    // A write invalidates the listing.
    client.delete_api_key(ORG, &ids[0]).await.unwrap();
    assert!(client
        .get_api_key(ORG, &ids[0])
        .await
        .unwrap_err()
        .is_not_found());
    client.get_api_key(ORG, &ids[1]).await.unwrap();
    let lists = mock
        .seen()
        .into_iter()
        .filter(|s| s.method == Method::GET && s.path.ends_with("/apiKeys") && s.status == 200)
        .count();
    assert_eq!(lists, 2);
}

#[tokio::test]
async fn update_and_delete() {
    let mock = Mock::start(MockAuth::Digest).await;
    let id = mock.add_key(
        ORG,
        "old",
        vec![json!({"orgId": ORG, "roleName": "ORG_MEMBER"})],
    );
    let client = mock.digest_client();
    let key = client
        .update_api_key(
            ORG,
            &id,
            &ApiKeyUpdate {
                name: None,
                roles: Some(vec!["ORG_READ_ONLY".into(), "ORG_BILLING_ADMIN".into()]),
            },
        )
        .await
        .unwrap();
    assert_eq!(key.name, "old");
    assert_eq!(
        key.roles,
        vec!["ORG_BILLING_ADMIN".to_string(), "ORG_READ_ONLY".to_string()]
    );
    client.delete_api_key(ORG, &id).await.unwrap();
    client.delete_api_key(ORG, &id).await.unwrap(); // already gone: fine
    let err = client
        .update_api_key(
            ORG,
            &id,
            &ApiKeyUpdate {
                name: Some("x".into()),
                roles: None,
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.to_string(), format!("api key {id} not found"));
}

#[tokio::test]
async fn secrets_stay_out_of_debug_and_errors() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    let created = client
        .create_api_key(&new_key("s", &["ORG_MEMBER"]))
        .await
        .unwrap();
    let debug = format!("{client:?} {created:?}");
    assert!(
        !debug.contains(PRIVATE) && !debug.contains(created.secret.expose()),
        "{debug}"
    );
    assert!(debug.contains("[redacted]"));

    // A create response that cannot be decoded is never quoted (it may hold the secret).
    let resp_body = format!(
        r#"{{"id":"{}","privateKey":"hunter2-secret","publicKey":5}}"#,
        "a".repeat(24)
    );
    let r = Response::from_parts(
        "atlas",
        reqwest::StatusCode::OK,
        HeaderMap::new(),
        resp_body.into_bytes(),
        true,
    );
    let err = r.json::<KeyWire>().map(|_| ()).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn base_url_and_credentials_are_validated() {
    let mk = |url: &str, auth: AtlasAuth| {
        AtlasClient::new(AtlasConfig {
            base_url: url.into(),
            auth,
            http: HttpSettings::default(),
        })
    };
    for bad in [
        "",
        "cloud.mongodb.com",
        "ftp://x",
        "https://u:p@cloud.mongodb.com",
        "https://x/?a=1",
        "http://",
    ] {
        let err = mk(bad, digest_creds(PRIVATE)).unwrap_err();
        assert!(matches!(err, BackendError::Config { .. }), "{bad}: {err:?}");
    }
    assert!(mk("https://cloud.mongodb.com/", digest_creds(PRIVATE)).is_ok());
    assert!(mk("http://127.0.0.1:8080", digest_creds(PRIVATE)).is_ok());
    assert!(matches!(
        mk("https://cloud.mongodb.com", digest_creds("")),
        Err(BackendError::Config { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Pieces of the HTTP layer

#[test]
fn error_mapping_by_status_and_body() {
    let ctx = ErrorContext {
        what: "api key x",
        parser: Some(parse_atlas_error),
        attempts: 2,
        redactor: &Redactor::default(),
    };
    let json_ct = {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h
    };
    let map = |status: u16, body: &str| {
        error_from_response(
            "atlas",
            StatusCode::from_u16(status).unwrap(),
            &json_ct,
            body.as_bytes(),
            &ctx,
        )
    };

    assert!(matches!(map(404, ""), BackendError::NotFound { what } if what == "api key x"));
    assert!(matches!(
        map(401, "{}"),
        BackendError::Unauthenticated { .. }
    ));
    assert!(
        matches!(map(403, r#"{"detail":"IP not on list","errorCode":"IP_ADDRESS_NOT_ON_ACCESS_LIST"}"#),
        BackendError::PermissionDenied { message, .. } if message == "IP not on list")
    );
    assert!(
        matches!(map(409, r#"{"errorCode":"DUPLICATE","reason":"Conflict","parameters":["a",3]}"#),
        BackendError::Invalid { status: 409, message, .. } if message == "Conflict (a, 3)")
    );
    assert!(
        matches!(map(400, r#"{"detail":"Invalid attribute desc specified.","errorCode":"INVALID_ATTRIBUTE","parameters":["desc"]}"#),
        BackendError::Invalid { field: Some(f), .. } if f == "desc")
    );
    assert!(
        matches!(map(422, r#"{"message":"nope"}"#), BackendError::Invalid { message, .. } if message == "nope")
    );
    assert!(
        matches!(map(429, r#"{"error":"slow"}"#), BackendError::RateLimited { attempts: 2, message, .. } if message == "slow")
    );
    assert!(
        matches!(map(500, r#"{"error":"boom"}"#), BackendError::Http { status: 500, message, .. } if message == "boom")
    );
    let plain = error_from_response(
        "env0",
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        b"  name is\n required \x07 ",
        &ctx,
    );
    assert!(
        matches!(plain, BackendError::Invalid { message, .. } if message == "name is required")
    );
    assert!(
        matches!(map(503, ""), BackendError::Http { message, .. } if message == "service unavailable")
    );
}

#[test]
fn object_id_times() {
    assert_eq!(
        object_id_time("5d09d6a59ccf6445652a444a").map(|t| t.unix_timestamp()),
        Some(0x5d09d6a5)
    );
    assert_eq!(object_id_time("xyz"), None);
}

#[tokio::test]
async fn a_lost_create_is_checked_again_while_its_listing_fails() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    client
        .create_api_key(&new_key("first", &["ORG_MEMBER"]))
        .await
        .unwrap();
    // The answer is lost after the key was made, and the listing that would find it fails
    // through all of its retries (4 attempts) once.
    mock.fault(Method::POST, "/apiKeys", FaultKind::CommitThen(500), 1);
    mock.fault(
        Method::GET,
        "/apiKeys",
        FaultKind::Respond {
            status: 503,
            body: api_error(503, "SERVICE_UNAVAILABLE", "try later").to_string(),
            content_type: "application/json",
            retry_after: Some(0),
        },
        4,
    );
    let created = client
        .create_api_key(&new_key("checked", &["ORG_MEMBER"]))
        .await
        .expect("the check is tried again, finds the lost key and deletes it");
    assert_eq!(mock.keys_named("checked").len(), 1);
    assert_eq!(mock.keys_named("checked")[0], created.key.id);
}

#[tokio::test]
async fn trace_logs_carry_no_secrets() {
    let logs = crate::backend::test_support::LogBuffer::default();
    let _guard = logs.install();

    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    let created = client
        .create_api_key(&new_key("logged", &["ORG_MEMBER"]))
        .await
        .unwrap();
    mock.fault(Method::POST, "/apiKeys", FaultKind::CommitThen(500), 1);
    let again = client
        .create_api_key(&new_key("logged", &["ORG_MEMBER"]))
        .await
        .unwrap();
    client.list_api_keys(ORG).await.unwrap();

    let oauth = Mock::start(MockAuth::OAuth).await;
    oauth.oauth_client().list_api_keys(ORG).await.unwrap();

    let text = logs.text();
    assert!(text.contains("http response"), "logging works: {text}");
    for secret in [
        PRIVATE,
        CLIENT_SECRET,
        created.secret.expose(),
        again.secret.expose(),
        "token-1",
        "Digest ",
        "Basic ",
        "Bearer ",
        "itemsPerPage",
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked into logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_same_name_creates_with_lost_responses_leave_exactly_one_key_each() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = Arc::new(mock.digest_client());
    client.list_api_keys(ORG).await.unwrap();
    mock.fault(Method::POST, "/apiKeys", FaultKind::CommitThen(500), 3);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = Arc::clone(&client);
        tasks.push(tokio::spawn(async move {
            c.create_api_key(&new_key("burst", &["ORG_MEMBER"])).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().key.id);
    }
    ids.sort();
    let mut left = mock.keys_named("burst");
    left.sort();
    assert_eq!(ids, left, "every key returned exists, nothing else does");
    assert_eq!(mock.count(Method::DELETE, "/apiKeys/"), 3);
}

// ----- organizations ------------------------------------------------------------------------

const OWNER: &str = "5e5e5e5e5e5e5e5e5e5e5e5e";

impl Mock {
    fn add_org(&self, name: &str) -> String {
        let mut s = self.lock();
        let id = s.next_id();
        s.orgs.push(MockOrg {
            id: id.clone(),
            name: name.to_string(),
            has_projects: false,
            deleted: false,
        });
        id
    }

    fn orgs_named(&self, name: &str) -> Vec<String> {
        self.lock()
            .orgs
            .iter()
            .filter(|o| o.name == name && !o.deleted)
            .map(|o| o.id.clone())
            .collect()
    }
}

fn org_json(o: &MockOrg) -> Value {
    json!({"id": o.id, "name": o.name, "isDeleted": o.deleted, "links": [], "skipDefaultAlertsSettings": false})
}

fn mock_org_name_ok(name: &str) -> bool {
    let n = name.chars().count();
    (1..=64).contains(&n)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.(),:&@+'".contains(c))
}

fn orgs_collection(
    s: &mut MockState,
    method: &Method,
    query: &HashMap<String, String>,
    body: &[u8],
) -> axum::response::Response {
    if *method == Method::GET {
        let per: usize = query
            .get("itemsPerPage")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        let page: usize = query
            .get("pageNum")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let prefix = query.get("name").map(|n| {
            reqwest::Url::parse(&format!("http://x/?n={n}"))
                .unwrap()
                .query_pairs()
                .next()
                .unwrap()
                .1
                .to_lowercase()
        });
        let all: Vec<Value> = s
            .orgs
            .iter()
            .filter(|o| !o.deleted)
            .filter(|o| {
                prefix
                    .as_deref()
                    .is_none_or(|p| o.name.to_lowercase().starts_with(p))
            })
            .map(org_json)
            .collect();
        let results: Vec<Value> = all
            .iter()
            .skip((page - 1) * per)
            .take(per)
            .cloned()
            .collect();
        return reply(200, json!({"results": results, "links": []}));
    }
    if *method != Method::POST {
        return reply(405, api_error(405, "METHOD_NOT_ALLOWED", "no"));
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let name = v["name"].as_str().unwrap_or("").to_string();
    if !mock_org_name_ok(&name) {
        return reply(
            400,
            json!({"detail": "Invalid organization name.", "error": 400, "errorCode": "INVALID_ATTRIBUTE", "parameters": ["name"], "reason": "Bad Request"}),
        );
    }
    if v.get("orgOwnerId").is_none() && matches!(s.auth, MockAuth::Digest) {
        return reply(
            400,
            json!({"detail": "The required attribute orgOwnerId was not specified.", "error": 400, "errorCode": "MISSING_ATTRIBUTE", "parameters": ["orgOwnerId"], "reason": "Bad Request"}),
        );
    }
    let id = s.next_id();
    let org = MockOrg {
        id,
        name,
        has_projects: false,
        deleted: false,
    };
    s.orgs.push(org.clone());
    let mut out = json!({"organization": org_json(&org), "skipDefaultAlertsSettings": false});
    if let Some(owner) = v.get("orgOwnerId") {
        out["orgOwnerId"] = owner.clone();
    }
    reply(201, out)
}

fn one_org(s: &mut MockState, method: &Method, id: &str, body: &[u8]) -> axum::response::Response {
    let Some(pos) = s
        .orgs
        .iter()
        .position(|o| o.id == id && (!o.deleted || *method == Method::GET))
    else {
        return reply(
            404,
            api_error(
                404,
                "ORG_NOT_FOUND",
                &format!("Organization {id} not found."),
            ),
        );
    };
    if *method == Method::GET {
        return reply(200, org_json(&s.orgs[pos]));
    }
    if *method == Method::PATCH {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let Some(name) = v["name"].as_str().filter(|n| mock_org_name_ok(n)) else {
            return reply(400, api_error(400, "INVALID_ATTRIBUTE", "Invalid name."));
        };
        s.orgs[pos].name = name.to_string();
        return reply(200, org_json(&s.orgs[pos]));
    }
    if *method == Method::DELETE {
        if s.orgs[pos].has_projects {
            return reply(
                409,
                api_error(
                    409,
                    "CANNOT_DELETE_ORG_ACTIVE_PROJECTS",
                    "Organizations with active projects cannot be removed.",
                ),
            );
        }
        s.orgs.remove(pos);
        return axum::response::Response::builder()
            .status(204)
            .body(Body::empty())
            .unwrap();
    }
    reply(405, api_error(405, "METHOD_NOT_ALLOWED", "no"))
}

fn new_org(name: &str, owner: Option<&str>) -> NewOrg {
    NewOrg {
        name: name.into(),
        owner_id: owner.map(String::from),
        ..NewOrg::default()
    }
}

#[tokio::test]
async fn organization_lifecycle() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    let created = client
        .create_org(&new_org("team", Some(OWNER)))
        .await
        .unwrap();
    assert!(created.environment_keys.is_empty());
    let org = created.org;
    assert!(is_object_id(&org.id));
    assert_eq!(org.name, "team");
    assert_eq!(org.created_at, None);
    let post = mock
        .seen()
        .into_iter()
        .find(|s| s.method == Method::POST && s.path == ORGS_PATH && s.status == 201);
    assert!(post.is_some());
    mock.add_org("team-b");
    mock.add_org("TEAM");

    assert_eq!(client.get_org(&org.id).await.unwrap(), org);
    assert_eq!(client.find_org_by_name("team").await.unwrap().id, org.id);
    let lookup = mock
        .seen()
        .into_iter()
        .rfind(|s| s.method == Method::GET && s.path == ORGS_PATH)
        .unwrap();
    assert!(lookup.query.contains("name=team") && lookup.query.contains("itemsPerPage=500"));
    assert!(client
        .find_org_by_name("tea")
        .await
        .unwrap_err()
        .is_not_found());

    let renamed = client
        .update_org(
            &org.id,
            &OrgUpdate {
                name: "team(renamed)".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "team(renamed)");
    assert_eq!(client.get_org(&org.id).await.unwrap().name, "team(renamed)");

    client.delete_org(&org.id).await.unwrap();
    assert!(client.get_org(&org.id).await.unwrap_err().is_not_found());
    client.delete_org(&org.id).await.unwrap();

    // An organization Atlas reports with isDeleted reads as gone.
    let gone = mock.add_org("ghost");
    mock.lock().orgs.last_mut().unwrap().deleted = true;
    assert!(client.get_org(&gone).await.unwrap_err().is_not_found());
    assert_eq!(
        mock.seen().last().map(|s| (s.path.clone(), s.status)),
        Some((format!("{ORGS_PATH}/{gone}"), 200))
    );
}

#[tokio::test]
async fn organization_inputs_are_checked_before_any_request() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    let long = "a".repeat(65);
    for (new, field) in [
        (new_org("", None), "name"),
        (new_org("has space", None), "name"),
        (new_org("slash/y", None), "name"),
        (new_org(&long, None), "name"),
        (new_org("ok", Some("not-hex")), "orgOwnerId"),
        (
            NewOrg {
                description: Some("d".into()),
                ..new_org("ok", None)
            },
            "description",
        ),
        (
            NewOrg {
                environments: Some(vec!["dev".into()]),
                ..new_org("ok", None)
            },
            "environments",
        ),
    ] {
        match client.create_org(&new).await {
            Err(BackendError::Invalid {
                status: 0,
                field: Some(f),
                ..
            }) => assert_eq!(f, field, "{}", new.name),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(matches!(
        client
            .update_org(ORG, &OrgUpdate { name: "a b".into() })
            .await,
        Err(BackendError::Invalid { status: 0, .. })
    ));
    assert!(matches!(
        client.get_org("nope").await,
        Err(BackendError::Invalid { status: 0, .. })
    ));
    assert!(matches!(
        client.delete_org("../x").await,
        Err(BackendError::Invalid { status: 0, .. })
    ));
    assert!(mock.seen().is_empty());
    assert!(is_valid_org_name("Équipe_1(a),b:c&d@e+f'g.h-i"));
    assert!(is_valid_org_name("組織٣"));
    assert!(!is_valid_org_name("tab\there"));
}

#[tokio::test]
async fn organization_refusals_carry_atlas_detail() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    // An API key must name the owner: Atlas says so.
    let err = client
        .create_org(&new_org("ownerless", None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { status: 400, code: Some(c), field: Some(f), message, .. }
            if c == "MISSING_ATTRIBUTE" && f == "orgOwnerId" && message.contains("orgOwnerId")),
        "{err:?}"
    );
    let id = mock.add_org("busy");
    mock.lock().orgs.last_mut().unwrap().has_projects = true;
    let err = client.delete_org(&id).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { status: 409, code: Some(c), message, .. }
            if c == "CANNOT_DELETE_ORG_ACTIVE_PROJECTS" && message.contains("active projects")),
        "{err:?}"
    );
    assert_eq!(mock.orgs_named("busy"), vec![id]);
    // A service account needs no owner.
    let oauth = Mock::start(MockAuth::OAuth).await;
    let created = oauth
        .oauth_client()
        .create_org(&new_org("by-sa", None))
        .await
        .unwrap();
    assert_eq!(created.org.name, "by-sa");
}

#[tokio::test]
async fn a_lost_organization_create_adopts_what_it_made() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.client_with(digest_creds(PRIVATE), Duration::from_millis(400));
    mock.fault(Method::POST, ORGS_PATH, FaultKind::CommitThen(500), 1);
    let created = client
        .create_org(&new_org("lost", Some(OWNER)))
        .await
        .unwrap();
    assert_eq!(mock.orgs_named("lost"), vec![created.org.id.clone()]);
    assert_eq!(
        mock.count(Method::POST, ORGS_PATH),
        1,
        "one create (the Digest challenge went to the baseline listing)"
    );

    mock.reset_seen();
    mock.fault(
        Method::POST,
        ORGS_PATH,
        FaultKind::CommitThenStall(Duration::from_secs(2)),
        1,
    );
    let created = client
        .create_org(&new_org("slow", Some(OWNER)))
        .await
        .unwrap();
    assert_eq!(mock.orgs_named("slow"), vec![created.org.id]);
    assert_eq!(mock.count(Method::DELETE, ORGS_PATH), 0);

    // Nothing made (a proxy's 502): created once more after looking.
    mock.reset_seen();
    mock.fault(
        Method::POST,
        ORGS_PATH,
        FaultKind::Respond {
            status: 502,
            body: "<html><title>502 Bad Gateway</title></html>".into(),
            content_type: "text/html",
            retry_after: None,
        },
        1,
    );
    let created = client
        .create_org(&new_org("gateway", Some(OWNER)))
        .await
        .unwrap();
    assert_eq!(mock.orgs_named("gateway"), vec![created.org.id]);

    // An older organization of the same name is never adopted.
    let old = {
        let mut s = mock.lock();
        let old = format!("{:08x}{:016x}", 0x5d000000u32, 1u64);
        s.orgs.push(MockOrg {
            id: old.clone(),
            name: "shared".into(),
            has_projects: false,
            deleted: false,
        });
        old
    };
    mock.fault(Method::POST, ORGS_PATH, FaultKind::CommitThen(503), 1);
    let created = client
        .create_org(&new_org("shared", Some(OWNER)))
        .await
        .unwrap();
    assert_ne!(created.org.id, old);
    let mut named = mock.orgs_named("shared");
    named.sort();
    let mut expected = vec![old, created.org.id];
    expected.sort();
    assert_eq!(named, expected);
}

#[tokio::test]
async fn two_organizations_for_one_lost_create_are_named_not_touched() {
    let mock = Mock::start(MockAuth::OAuth).await;
    let client = mock.oauth_client();
    // The baseline of the caller's organizations is taken by the first create.
    client.create_org(&new_org("first", None)).await.unwrap();
    // Someone else creates "twins" while this create's answer is lost: two organizations
    // of the name appear within the failed request, and nothing proves which one is ours.
    let twin = mock.add_org("twins");
    mock.fault(Method::POST, ORGS_PATH, FaultKind::CommitThen(500), 1);
    let err = client
        .create_org(&new_org("twins", None))
        .await
        .unwrap_err();
    let text = err.to_string();
    let named = mock.orgs_named("twins");
    assert_eq!(named.len(), 2, "nothing deleted");
    for id in &named {
        assert!(text.contains(id.as_str()), "{id} named in: {text}");
    }
    assert!(
        text.contains(&twin) && text.contains("deleted nothing"),
        "{text}"
    );
    assert_eq!(mock.count(Method::DELETE, ORGS_PATH), 0);
}

#[tokio::test]
async fn organization_lookup_reads_every_page() {
    let mock = Mock::start(MockAuth::Digest).await;
    let client = mock.digest_client();
    for i in 0..1200 {
        mock.add_org(&format!("bulk-{i:04}"));
    }
    let wanted = mock.add_org("bulk");
    assert_eq!(client.find_org_by_name("bulk").await.unwrap().id, wanted);
    let pages = mock
        .seen()
        .iter()
        .filter(|s| s.method == Method::GET && s.path == ORGS_PATH && s.status == 200)
        .count();
    assert_eq!(pages, 3);
    mock.add_org("bulk");
    let err = client.find_org_by_name("bulk").await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { status: 0, field: Some(f), .. } if f == "name"),
        "{err:?}"
    );
}

#[tokio::test]
async fn conformance_suite_passes_against_the_mock() {
    use crate::backend::conformance::{self, Target};
    // The mock has no access-list or project routes: `api_key_assignments` runs against the
    // sandbox (backend::conformance::tests), the rest of the suite here too.
    async fn suite(client: &AtlasClient, target: &Target) {
        conformance::api_key_lifecycle(client, target)
            .await
            .unwrap();
        conformance::org_lifecycle(client, target).await.unwrap();
        conformance::unsupported_operations(client, target)
            .await
            .unwrap();
    }
    let mock = Mock::start(MockAuth::Digest).await;
    let mut target = Target::for_kind(BackendKind::Atlas, Some(ORG.into()), "conf-digest");
    target.org_owner_id = Some(OWNER.into());
    suite(&mock.digest_client(), &target).await;
    let oauth = Mock::start(MockAuth::OAuth).await;
    let target = Target::for_kind(BackendKind::Atlas, Some(ORG.into()), "conf-sa");
    suite(&oauth.oauth_client(), &target).await;
}
