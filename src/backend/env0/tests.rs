//! Tests of the env0 client against a small in-process mock of the env0 API (Basic auth,
//! organizations, API keys, a server-side rate limit, scripted faults).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{json, Value};

use super::*;
use crate::backend::conformance::{self, Target};
use crate::backend::test_support::{
    fast_backoff, now_rfc3339, query_value, reply, settings, FaultKind, LogBuffer, Mock, MockVendor,
};
use crate::backend::{ApiKeyUpdate, OrgUpdate};

const KEY_ID: &str = "caller-key-id";
const KEY_SECRET: &str = "caller-key-SECRET-0123";
const ORG: &str = "8f838a7f-8d04-4cf4-9932-8070a9bdd870";

#[derive(Clone)]
struct MockKey {
    id: String,
    name: String,
    org: String,
    role: String,
    api_key_id: String,
    created_at: String,
}

struct Env0 {
    orgs: Vec<Value>,
    keys: Vec<MockKey>,
    bodies: Vec<Value>,
    seq: u32,
    /// Server-side limit per method + path: (requests, window).
    limit: Option<(usize, Duration)>,
    arrivals: HashMap<String, Vec<Instant>>,
    throttled: u32,
}

impl Default for Env0 {
    fn default() -> Self {
        Env0 {
            orgs: vec![org_json(ORG, "seeded", None, "2026-01-01T00:00:00Z")],
            keys: Vec::new(),
            bodies: Vec::new(),
            seq: 0,
            limit: None,
            arrivals: HashMap::new(),
            throttled: 0,
        }
    }
}

fn org_json(id: &str, name: &str, description: Option<&str>, created_at: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "description": description,
        "photoUrl": null,
        "createdBy": "auth0|creator",
        "createdAt": created_at,
        "updatedAt": created_at,
        "mode": "trial",
        "maxTtl": "1-d",
        "defaultTtl": null,
        "projectCustomFlowsPolicy": "MERGE_WITH_TEMPLATES",
        "doNotReportSkippedStatusChecks": false,
        "doNotConsiderMergeCommitsForPrPlans": true,
        "enableOidc": false,
        "enforcePrCommenterPermissions": true,
        "allowEnv0Secrets": true,
        "requireApprovalForPrApplies": false,
        "trialEnd": null
    })
}

impl Env0 {
    fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    fn key_json(k: &MockKey, secret: Option<&str>) -> Value {
        let mut v = json!({
            "id": k.id,
            "name": k.name,
            "apiKeyId": k.api_key_id,
            "organizationId": k.org,
            "organizationRole": k.role,
            "createdAt": k.created_at,
            "createdBy": "auth0|creator",
            "lastUsedAt": null,
        });
        if let Some(s) = secret {
            v["apiKeySecret"] = json!(s);
        }
        v
    }

    fn add_key(&mut self, org: &str, name: &str) -> String {
        let n = self.next();
        let key = MockKey {
            id: format!("key-{n:04}"),
            name: name.into(),
            org: org.into(),
            role: "User".into(),
            api_key_id: format!("kid{n:04}"),
            created_at: now_rfc3339(),
        };
        self.keys.push(key.clone());
        key.id
    }

    fn named(&self, name: &str) -> Vec<String> {
        self.keys
            .iter()
            .filter(|k| k.name == name)
            .map(|k| k.id.clone())
            .collect()
    }

    fn throttle(&mut self, method: &Method, path: &str) -> bool {
        let Some((max, window)) = self.limit else {
            return false;
        };
        let template = if path.starts_with("/api-keys/") {
            "/api-keys/{id}"
        } else {
            path
        };
        let now = Instant::now();
        let arrivals = self
            .arrivals
            .entry(format!("{method} {template}"))
            .or_default();
        arrivals.retain(|t| now.duration_since(*t) < window);
        if arrivals.len() >= max {
            self.throttled += 1;
            return true;
        }
        arrivals.push(now);
        false
    }
}

fn message(status: u16, text: &str) -> Response {
    reply(status, &json!({"message": text, "statusCode": status}))
}

impl MockVendor for Env0 {
    fn handle(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{KEY_ID}:{KEY_SECRET}"))
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return message(401, "Unauthorized");
        }
        let path = uri.path();
        if self.throttle(method, path) {
            return message(429, "Too Many Requests");
        }
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if !body.is_empty() {
            self.bodies.push(parsed.clone());
        }
        match (method.clone(), path) {
            (Method::GET, "/organizations") => reply(200, &Value::Array(self.orgs.clone())),
            (Method::POST, "/organizations") => {
                let Some(name) = parsed["name"].as_str().filter(|n| !n.is_empty()) else {
                    return reply(
                        400,
                        &json!({"statusCode": 400, "message": ["name should not be empty"], "error": "Bad Request"}),
                    );
                };
                let n = self.next();
                let org = org_json(
                    &format!("org-{n:04}"),
                    name,
                    parsed["description"].as_str(),
                    &now_rfc3339(),
                );
                self.orgs.push(org.clone());
                reply(200, &org)
            }
            (Method::GET, "/api-keys") => {
                let Some(org) = query_value(uri, "organizationId") else {
                    return message(400, "organizationId is required");
                };
                let keys: Vec<Value> = self
                    .keys
                    .iter()
                    .filter(|k| k.org == org)
                    .map(|k| Env0::key_json(k, None))
                    .collect();
                reply(200, &Value::Array(keys))
            }
            (Method::POST, "/api-keys") => {
                let name = parsed["name"].as_str().unwrap_or("");
                let org = parsed["organizationId"].as_str().unwrap_or("");
                let role = parsed["permissions"]["organizationRole"]
                    .as_str()
                    .unwrap_or("");
                if name.is_empty() || org.is_empty() {
                    return message(400, "name and organizationId are required");
                }
                if !["Admin", "User"].contains(&role) {
                    return message(400, &format!("invalid organizationRole {role}"));
                }
                let n = self.next();
                let key = MockKey {
                    id: format!("key-{n:04}"),
                    name: name.into(),
                    org: org.into(),
                    role: role.into(),
                    api_key_id: format!("kid{n:04}"),
                    created_at: now_rfc3339(),
                };
                self.keys.push(key.clone());
                reply(
                    200,
                    &Env0::key_json(&key, Some(&format!("secret-of-{}", key.id))),
                )
            }
            (Method::DELETE, p) if p.starts_with("/api-keys/") => {
                let id = &p["/api-keys/".len()..];
                match self.keys.iter().position(|k| k.id == id) {
                    Some(pos) => {
                        self.keys.remove(pos);
                        reply(200, &json!({}))
                    }
                    None => message(404, &format!("API key {id} not found")),
                }
            }
            _ => message(404, "Cannot find route"),
        }
    }
}

async fn mock() -> Mock<Env0> {
    Mock::start(Env0::default()).await
}

fn client_with(mock: &Mock<Env0>, timeout: Duration, limit: RateLimit) -> Env0Client {
    Env0Client::new(Env0Config {
        base_url: mock.url.clone(),
        api_key_id: KEY_ID.into(),
        api_key_secret: Secret::new(KEY_SECRET),
        http: settings(timeout),
        rate_limit: limit,
    })
    .unwrap()
    .with_backoff(fast_backoff())
}

fn client(mock: &Mock<Env0>) -> Env0Client {
    client_with(mock, Duration::from_secs(5), RateLimit::default())
}

fn new_key(name: &str, role: &str) -> NewApiKey {
    NewApiKey {
        org_id: Some(ORG.into()),
        name: name.into(),
        roles: vec![role.into()],
        ..NewApiKey::default()
    }
}

#[tokio::test]
async fn api_key_create_list_get_delete() {
    let mock = mock().await;
    let c = client(&mock);
    let mut new = new_key("ci", "User");
    new.project_roles
        .insert("proj-1".into(), ["Viewer".to_string()].into());
    new.project_roles
        .insert("proj-2".into(), ["Deployer".to_string()].into());
    let created = c.create_api_key(&new).await.unwrap();
    assert_eq!(
        created.secret.expose(),
        format!("secret-of-{}", created.key.id)
    );
    assert_eq!(created.key.name, "ci");
    assert_eq!(created.key.org_id.as_deref(), Some(ORG));
    assert_eq!(created.key.public_key.as_deref(), Some("kid0001"));
    assert_eq!(created.key.roles, vec!["User".to_string()]);
    assert_eq!(created.key.preview, None);
    assert!(created.key.created_at.is_some());
    assert_eq!(
        mock.with(|e| e.bodies[0].clone()),
        json!({
            "name": "ci",
            "organizationId": ORG,
            "permissions": {
                "organizationRole": "User",
                "projectsPermissions": [
                    {"projectId": "proj-1", "projectRole": "Viewer"},
                    {"projectId": "proj-2", "projectRole": "Deployer"}
                ]
            }
        })
    );
    // Admin keys send no project permissions at all.
    c.create_api_key(&new_key("admin", "Admin")).await.unwrap();
    assert_eq!(
        mock.with(|e| e.bodies[1].clone()),
        json!({"name": "admin", "organizationId": ORG, "permissions": {"organizationRole": "Admin"}})
    );

    let listed = c.list_api_keys(ORG).await.unwrap();
    assert_eq!(listed.len(), 2);
    let got = c.get_api_key(ORG, &created.key.id).await.unwrap();
    assert_eq!(got, created.key);
    let q = mock
        .seen()
        .into_iter()
        .find(|s| s.method == Method::GET && s.path == "/api-keys")
        .unwrap()
        .query;
    assert_eq!(q, format!("organizationId={ORG}"));

    c.delete_api_key(ORG, &created.key.id).await.unwrap();
    assert!(c
        .get_api_key(ORG, &created.key.id)
        .await
        .unwrap_err()
        .is_not_found());
    // Gone already: still fine.
    c.delete_api_key(ORG, &created.key.id).await.unwrap();
    assert!(matches!(
        c.update_api_key(ORG, "key-0002", &ApiKeyUpdate::default())
            .await,
        Err(BackendError::NotSupported { vendor: "env0", .. })
    ));
}

#[tokio::test]
async fn key_inputs_are_checked_before_any_request() {
    let mock = mock().await;
    let c = client(&mock);
    let mut admin_with_projects = new_key("a", "Admin");
    admin_with_projects
        .project_roles
        .insert("p".into(), ["Viewer".to_string()].into());
    let mut bad_project_role = new_key("a", "User");
    bad_project_role
        .project_roles
        .insert("p".into(), ["Owner".to_string()].into());
    let cases = [
        (
            NewApiKey {
                org_id: None,
                ..new_key("a", "User")
            },
            "organizationId",
        ),
        (new_key(" ", "User"), "name"),
        (
            NewApiKey {
                roles: vec![],
                ..new_key("a", "User")
            },
            "organizationRole",
        ),
        (
            NewApiKey {
                roles: vec!["Admin".into(), "User".into()],
                ..new_key("a", "User")
            },
            "organizationRole",
        ),
        (admin_with_projects, "projectsPermissions"),
        (bad_project_role, "projectsPermissions"),
        (
            NewApiKey {
                org_name: Some("acme".into()),
                ..new_key("a", "User")
            },
            "org_name",
        ),
    ];
    for (new, field) in cases {
        match c.create_api_key(&new).await {
            Err(BackendError::Invalid {
                status: 0,
                field: Some(f),
                ..
            }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    for bad_id in ["", "a/b", "../x", "k?x=1"] {
        assert!(matches!(
            c.delete_api_key(ORG, bad_id).await,
            Err(BackendError::Invalid { status: 0, .. })
        ));
        assert!(matches!(
            c.get_api_key(ORG, bad_id).await,
            Err(BackendError::Invalid { status: 0, .. })
        ));
    }
    assert!(mock.seen().is_empty());
}

#[tokio::test]
async fn vendor_errors_carry_env0_messages() {
    let mock = mock().await;
    let c = client(&mock);
    let err = c.create_api_key(&new_key("a", "Owner")).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { status: 400, message, .. } if message == "invalid organizationRole Owner"),
        "{err:?}"
    );
    let err = c
        .create_org(&NewOrg {
            name: "x".into(),
            ..NewOrg::default()
        })
        .await
        .map(|_| ());
    assert!(err.is_ok());
    mock.fault(
        Method::POST,
        "/organizations",
        FaultKind::Respond {
            status: 400,
            body: r#"{"statusCode":400,"message":["name must be shorter","photoUrl must be a URL"],"error":"Bad Request"}"#.into(),
            content_type: "application/json",
            retry_after: None,
        },
        1,
    );
    let err = c
        .create_org(&NewOrg {
            name: "y".into(),
            ..NewOrg::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { status: 400, message, code, .. }
            if message == "name must be shorter; photoUrl must be a URL" && code.as_deref() == Some("Bad Request")),
        "{err:?}"
    );
}

#[tokio::test]
async fn many_gets_share_one_listing_and_a_newer_key_is_still_found() {
    let mock = mock().await;
    let c = Arc::new(client(&mock));
    let ids: Vec<String> = (0..50)
        .map(|i| mock.with(|e| e.add_key(ORG, &format!("k{i}"))))
        .collect();
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let c = Arc::clone(&c);
        tasks.push(tokio::spawn(async move { c.get_api_key(ORG, &id).await }));
    }
    for (t, id) in tasks.into_iter().zip(&ids) {
        assert_eq!(&t.await.unwrap().unwrap().id, id);
    }
    assert_eq!(mock.count(Method::GET, "/api-keys"), 1);

    // Created out of band after the listing: a fresh listing finds it.
    let late = mock.with(|e| e.add_key(ORG, "late"));
    assert_eq!(c.get_api_key(ORG, &late).await.unwrap().name, "late");
    assert_eq!(mock.count(Method::GET, "/api-keys"), 2);
    // Deleted out of band: the shared listing still shows it until it expires (a refresh
    // of one plan sees one listing), then it is NotFound.
    mock.with(|e| e.keys.retain(|k| k.id != ids[0]));
    assert!(c.get_api_key(ORG, &ids[0]).await.is_ok());
    let short = client(&mock).with_list_ttl(Duration::from_millis(50));
    assert!(short.get_api_key(ORG, &ids[1]).await.is_ok());
    mock.with(|e| e.keys.retain(|k| k.id != ids[1]));
    tokio::time::sleep(Duration::from_millis(60)).await;
    mock.reset_seen();
    assert!(short
        .get_api_key(ORG, &ids[1])
        .await
        .unwrap_err()
        .is_not_found());
    assert_eq!(
        mock.count(Method::GET, "/api-keys"),
        1,
        "a fresh listing is not re-read"
    );
}

#[tokio::test]
async fn pacing_keeps_under_the_server_limit_per_method_and_path() {
    let mock = mock().await;
    let window = Duration::from_millis(300);
    mock.with(|e| e.limit = Some((5, window)));
    let c = Arc::new(client_with(
        &mock,
        Duration::from_secs(5),
        RateLimit {
            requests: 5,
            window,
        },
    ));
    assert_eq!(c.rate_limit().requests, 5);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = Arc::clone(&c);
        tasks.push(tokio::spawn(async move { c.list_api_keys(ORG).await }));
    }
    // Another bucket is not held up by the first.
    let other = Instant::now();
    c.get_org(ORG).await.unwrap();
    assert!(
        other.elapsed() < window,
        "GET /organizations has its own bucket"
    );
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(mock.with(|e| e.throttled), 0, "no 429 was needed");
    assert_eq!(mock.count(Method::GET, "/api-keys"), 20);
    assert!(
        elapsed >= window * 3,
        "20 requests at 5 per window: {elapsed:?}"
    );
    assert!(elapsed < window * 12, "but not much slower: {elapsed:?}");
    // No five-plus-one inside any window, by the server's clock.
    let times: Vec<Instant> = mock
        .seen()
        .iter()
        .filter(|s| s.path == "/api-keys")
        .map(|s| s.at)
        .collect();
    for (i, t) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .filter(|u| u.duration_since(*t) < window)
            .count();
        assert!(within <= 5, "{within} requests within one window");
    }
}

#[tokio::test]
async fn deletes_share_one_bucket_and_a_429_is_still_retried() {
    let mock = mock().await;
    let window = Duration::from_millis(200);
    mock.with(|e| e.limit = Some((3, window)));
    let c = Arc::new(client_with(
        &mock,
        Duration::from_secs(5),
        RateLimit {
            requests: 3,
            window,
        },
    ));
    let ids: Vec<String> = (0..9)
        .map(|i| mock.with(|e| e.add_key(ORG, &format!("d{i}"))))
        .collect();
    let mut tasks = Vec::new();
    for id in ids {
        let c = Arc::clone(&c);
        tasks.push(tokio::spawn(
            async move { c.delete_api_key(ORG, &id).await },
        ));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(mock.with(|e| e.throttled), 0);
    assert!(mock.with(|e| e.keys.is_empty()));

    // Someone else used up the budget: the 429 is retried after Retry-After.
    mock.fault(
        Method::GET,
        "/organizations",
        FaultKind::Respond {
            status: 429,
            body: r#"{"message":"Too Many Requests"}"#.into(),
            content_type: "application/json",
            retry_after: Some(0),
        },
        2,
    );
    assert_eq!(c.get_org(ORG).await.unwrap().name, "seeded");
    assert_eq!(mock.count(Method::GET, "/organizations"), 3);
}

#[tokio::test]
async fn a_paced_request_that_retries_never_waits_on_itself() {
    let mock = mock().await;
    let c = client_with(
        &mock,
        Duration::from_secs(5),
        RateLimit {
            requests: 1,
            window: Duration::from_millis(50),
        },
    );
    mock.fault(
        Method::GET,
        "/organizations",
        FaultKind::Respond {
            status: 503,
            body: "busy".into(),
            content_type: "text/plain",
            retry_after: None,
        },
        2,
    );
    let got = tokio::time::timeout(Duration::from_secs(3), c.get_org(ORG)).await;
    assert_eq!(got.expect("no self-deadlock").unwrap().id, ORG);
}

#[tokio::test]
async fn lost_key_creates_are_reconciled() {
    let mock = mock().await;
    let c = client_with(&mock, Duration::from_millis(400), RateLimit::default());
    // 500 after the write: the key exists without its secret.
    mock.fault(
        Method::POST,
        "/api-keys",
        FaultKind::CommitThen(500, r#"{"message":"Internal server error"}"#.into()),
        1,
    );
    let created = c.create_api_key(&new_key("lost", "User")).await.unwrap();
    assert_eq!(mock.with(|e| e.named("lost")), vec![created.key.id.clone()]);
    assert_eq!(mock.count(Method::DELETE, "/api-keys/"), 1);
    assert_eq!(mock.count(Method::POST, "/api-keys"), 2);

    // A timeout after the write: same.
    mock.reset_seen();
    mock.fault(
        Method::POST,
        "/api-keys",
        FaultKind::CommitThenStall(Duration::from_secs(2)),
        1,
    );
    let created = c.create_api_key(&new_key("slow", "User")).await.unwrap();
    assert_eq!(mock.with(|e| e.named("slow")), vec![created.key.id.clone()]);
    assert_eq!(mock.count(Method::DELETE, "/api-keys/"), 1);

    // 502 before anything happened: nothing to delete, created once more.
    mock.reset_seen();
    mock.fault(
        Method::POST,
        "/api-keys",
        FaultKind::Respond {
            status: 502,
            body: "bad gateway".into(),
            content_type: "text/plain",
            retry_after: None,
        },
        1,
    );
    let created = c.create_api_key(&new_key("gw", "User")).await.unwrap();
    assert_eq!(mock.with(|e| e.named("gw")), vec![created.key.id.clone()]);
    assert_eq!(mock.count(Method::DELETE, "/api-keys/"), 0);
    assert_eq!(mock.count(Method::POST, "/api-keys"), 2);

    // Keys of the same name made before the create are never touched.
    let older = mock.with(|e| {
        let id = e.add_key(ORG, "shared");
        e.keys.last_mut().unwrap().created_at = "2020-01-01T00:00:00Z".into();
        id
    });
    mock.fault(
        Method::POST,
        "/api-keys",
        FaultKind::CommitThen(503, "{}".into()),
        1,
    );
    let created = c.create_api_key(&new_key("shared", "User")).await.unwrap();
    let mut left = mock.with(|e| e.named("shared"));
    left.sort();
    assert_eq!(left, vec![older, created.key.id]);
}

#[tokio::test]
async fn a_create_lost_every_time_fails_and_leaves_nothing() {
    let mock = mock().await;
    let c = client(&mock);
    mock.fault(
        Method::POST,
        "/api-keys",
        FaultKind::CommitThen(500, r#"{"message":"boom"}"#.into()),
        100,
    );
    let err = c
        .create_api_key(&new_key("doomed", "User"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("boom") && text.contains("were found and deleted"),
        "{text}"
    );
    assert!(mock.with(|e| e.named("doomed").is_empty()));
    assert_eq!(mock.count(Method::POST, "/api-keys"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_same_name_creates_with_lost_answers_leave_exactly_one_key_each() {
    let mock = mock().await;
    let c = Arc::new(client(&mock));
    mock.fault(
        Method::POST,
        "/api-keys",
        FaultKind::CommitThen(500, "{}".into()),
        3,
    );
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = Arc::clone(&c);
        tasks.push(tokio::spawn(async move {
            c.create_api_key(&new_key("burst", "User")).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().key.id);
    }
    ids.sort();
    let mut left = mock.with(|e| e.named("burst"));
    left.sort();
    assert_eq!(ids, left);
    assert_eq!(mock.count(Method::DELETE, "/api-keys/"), 3);
}

#[tokio::test]
async fn organizations_create_read_and_find() {
    let mock = mock().await;
    let c = client(&mock);
    let created = c
        .create_org(&NewOrg {
            name: "acme".into(),
            description: Some("the acme org".into()),
            photo_url: Some("https://example.com/a.png".into()),
            ..NewOrg::default()
        })
        .await
        .unwrap();
    assert_eq!(
        mock.with(|e| e.bodies[0].clone()),
        json!({"name": "acme", "description": "the acme org", "photoUrl": "https://example.com/a.png"})
    );
    let org = created.org;
    assert!(created.environment_keys.is_empty());
    assert_eq!(org.name, "acme");
    assert_eq!(org.description.as_deref(), Some("the acme org"));
    assert_eq!(org.mode.as_deref(), Some("trial"));
    assert_eq!(org.created_by.as_deref(), Some("auth0|creator"));
    assert!(org.created_at.is_some());
    let policies = org.policies.clone().unwrap();
    assert_eq!(policies.max_ttl.as_deref(), Some("1-d"));
    assert_eq!(policies.default_ttl, None);
    assert_eq!(
        policies.project_custom_flows_policy.as_deref(),
        Some("MERGE_WITH_TEMPLATES")
    );
    assert_eq!(
        policies.do_not_consider_merge_commits_for_pr_plans,
        Some(true)
    );
    assert_eq!(policies.enforce_pr_commenter_permissions, Some(true));
    assert_eq!(policies.allow_env0_secrets, Some(true));
    assert_eq!(policies.require_approval_for_pr_applies, Some(false));
    assert_eq!(policies.enable_oidc, Some(false));
    assert_eq!(policies.do_not_report_skipped_status_checks, Some(false));

    assert_eq!(c.get_org(&org.id).await.unwrap(), org);
    assert_eq!(c.find_org_by_name("acme").await.unwrap().id, org.id);
    assert!(c.get_org("org-none").await.unwrap_err().is_not_found());
    assert!(c
        .find_org_by_name("nobody")
        .await
        .unwrap_err()
        .is_not_found());

    // Same name twice: a name lookup is ambiguous.
    c.create_org(&NewOrg {
        name: "acme".into(),
        ..NewOrg::default()
    })
    .await
    .unwrap();
    let err = c.find_org_by_name("acme").await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { status: 0, field: Some(f), .. } if f == "name"),
        "{err:?}"
    );

    for result in [
        c.update_org(&org.id, &OrgUpdate { name: "b".into() })
            .await
            .map(|_| ()),
        c.delete_org(&org.id).await,
    ] {
        assert!(matches!(
            result,
            Err(BackendError::NotSupported { vendor: "env0", .. })
        ));
    }
    for (new, field) in [
        (
            NewOrg {
                name: "x".into(),
                retention_hours: Some(5),
                ..NewOrg::default()
            },
            "retention_hours",
        ),
        (
            NewOrg {
                name: "x".into(),
                owner_id: Some("o".into()),
                ..NewOrg::default()
            },
            "owner_id",
        ),
        (NewOrg::default(), "name"),
    ] {
        match c.create_org(&new).await {
            Err(BackendError::Invalid {
                status: 0,
                field: Some(f),
                ..
            }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_lost_org_create_adopts_the_org_it_made() {
    let mock = mock().await;
    let c = client_with(&mock, Duration::from_millis(400), RateLimit::default());
    // Another org of the same name, older: never adopted.
    mock.with(|e| {
        e.orgs
            .push(org_json("org-old", "lost", None, "2020-01-01T00:00:00Z"))
    });
    mock.fault(
        Method::POST,
        "/organizations",
        FaultKind::CommitThenStall(Duration::from_secs(2)),
        1,
    );
    let created = c
        .create_org(&NewOrg {
            name: "lost".into(),
            ..NewOrg::default()
        })
        .await
        .unwrap();
    assert_ne!(created.org.id, "org-old");
    assert_eq!(
        mock.count(Method::POST, "/organizations"),
        1,
        "never re-posted"
    );
    let named: Vec<String> = mock.with(|e| {
        e.orgs
            .iter()
            .filter(|o| o["name"] == "lost")
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    });
    assert_eq!(named.len(), 2);
    assert!(named.contains(&created.org.id));

    // Nothing was made (502 from a proxy): created once more after looking.
    mock.reset_seen();
    mock.fault(
        Method::POST,
        "/organizations",
        FaultKind::Respond {
            status: 502,
            body: "bad gateway".into(),
            content_type: "text/plain",
            retry_after: None,
        },
        1,
    );
    let created = c
        .create_org(&NewOrg {
            name: "second".into(),
            ..NewOrg::default()
        })
        .await
        .unwrap();
    assert_eq!(created.org.name, "second");
    assert_eq!(mock.count(Method::POST, "/organizations"), 2);
    assert_eq!(mock.count(Method::GET, "/organizations"), 3, "three looks");
}

#[tokio::test]
async fn conformance_suite_passes_against_the_mock() {
    let mock = mock().await;
    let c = client(&mock);
    let target = Target::for_kind(BackendKind::Env0, Some(ORG.into()), "conf");
    conformance::run(&c, &target).await.unwrap();
}

#[tokio::test]
async fn secrets_stay_out_of_logs_debug_errors_and_urls() {
    let logs = LogBuffer::default();
    let _guard = logs.install();
    let mock = mock().await;
    let window = Duration::from_millis(100);
    let c = client_with(
        &mock,
        Duration::from_secs(5),
        RateLimit {
            requests: 1,
            window,
        },
    );
    let created = c.create_api_key(&new_key("logged", "User")).await.unwrap();
    mock.fault(
        Method::POST,
        "/api-keys",
        FaultKind::CommitThen(500, "{}".into()),
        1,
    );
    let again = c.create_api_key(&new_key("logged", "User")).await.unwrap();
    c.list_api_keys(ORG).await.unwrap();
    c.list_api_keys(ORG).await.unwrap(); // paced: logs the wait
    mock.fault(
        Method::POST,
        "/api-keys",
        FaultKind::Respond {
            status: 200,
            body: r#"{"id":"k","apiKeySecret":"hunter2-secret","name":5}"#.into(),
            content_type: "application/json",
            retry_after: None,
        },
        1,
    );
    let undecodable = c.create_api_key(&new_key("weird", "User")).await;
    let text = logs.text();
    assert!(text.contains("http response"), "logging works: {text}");
    assert!(text.contains("pacing"), "pacing is logged: {text}");
    let debug = format!("{c:?} {created:?} {again:?} {undecodable:?}");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{KEY_ID}:{KEY_SECRET}"));
    for secret in [
        KEY_SECRET,
        created.secret.expose(),
        again.secret.expose(),
        "hunter2-secret",
        basic.as_str(),
        "Basic ",
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked into logs");
        assert!(
            !debug.contains(secret),
            "{secret:?} leaked into Debug/errors"
        );
    }
    assert!(mock.seen().iter().all(|s| !s.query.contains(KEY_SECRET)));
}

#[test]
fn configuration_is_validated() {
    let cfg = |id: &str, secret: &str, limit: RateLimit| Env0Config {
        base_url: DEFAULT_BASE_URL.into(),
        api_key_id: id.into(),
        api_key_secret: Secret::new(secret),
        http: settings(Duration::from_secs(5)),
        rate_limit: limit,
    };
    assert!(matches!(
        Env0Client::new(cfg("", "s", RateLimit::ENV0)),
        Err(BackendError::Config { .. })
    ));
    assert!(matches!(
        Env0Client::new(cfg("i", "", RateLimit::ENV0)),
        Err(BackendError::Config { .. })
    ));
    assert!(matches!(
        Env0Client::new(cfg(
            "i",
            "s",
            RateLimit {
                requests: 0,
                window: Duration::from_secs(1)
            }
        )),
        Err(BackendError::Config { .. })
    ));
    let c = Env0Client::new(cfg("i", "s", RateLimit::default())).unwrap();
    assert_eq!(c.rate_limit(), RateLimit::ENV0);
    assert_eq!(RateLimit::ENV0.requests, 1000);
    assert_eq!(RateLimit::ENV0.window, Duration::from_secs(60));
    assert_eq!(c.kind(), BackendKind::Env0);
}

#[test]
fn env0_error_bodies() {
    let e = parse_env0_error(400, &json!({"message": "bad", "statusCode": 400})).unwrap();
    assert_eq!((e.message.as_str(), e.code), ("bad", None));
    let e = parse_env0_error(400, &json!({"message": ["a", "b"], "error": "Bad Request"})).unwrap();
    assert_eq!(e.message, "a; b");
    assert_eq!(e.code.as_deref(), Some("Bad Request"));
    assert!(parse_env0_error(400, &json!({"detail": "x"})).is_none());
    assert!(parse_env0_error(400, &json!({"message": ""})).is_none());
}

#[tokio::test(start_paused = true)]
async fn the_documented_limit_admits_1000_per_minute_per_bucket() {
    let pacer = Pacer::new(RateLimit::ENV0);
    let started = tokio::time::Instant::now();
    for _ in 0..1000 {
        let slot = pacer.acquire(GET_KEYS).await;
        pacer.finish(GET_KEYS, slot);
    }
    assert!(started.elapsed() < Duration::from_millis(1), "1000 at once");
    // Another bucket is free.
    let other = pacer.acquire(DELETE_KEY).await;
    pacer.finish(DELETE_KEY, other);
    // The 1001st waits until the first is a minute old.
    let slot = pacer.acquire(GET_KEYS).await;
    assert!(
        started.elapsed() >= Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(61));
    pacer.finish(GET_KEYS, slot);
    // A slot in flight counts until it finishes, then for a whole window.
    let pacer = Pacer::new(RateLimit {
        requests: 1,
        window: Duration::from_secs(10),
    });
    let slot = pacer.acquire(POST_KEYS).await;
    let t0 = tokio::time::Instant::now();
    let waiter = async {
        let s = pacer.acquire(POST_KEYS).await;
        (s, tokio::time::Instant::now())
    };
    let finisher = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        pacer.finish(POST_KEYS, slot);
    };
    let ((_, got_at), ()) = tokio::join!(waiter, finisher);
    assert!(got_at - t0 >= Duration::from_secs(15), "{:?}", got_at - t0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    #[test]
    fn env0_answers_of_any_shape_never_panic(
        value in crate::backend::test_support::vendor_json(&[
            "id", "name", "apiKeyId", "apiKeySecret", "organizationId", "organizationRole",
            "permissions", "createdAt", "description", "photoUrl", "mode", "createdBy",
            "maxTtl", "defaultTtl", "enableOidc", "message", "code", "error",
        ]),
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
    ) {
        let body = serde_json::to_vec(&value).unwrap();
        for body in [&body[..], &bytes[..]] {
            crate::backend::test_support::decode_everything("env0", body, parse_env0_error, |resp| {
                if let Ok(keys) = resp.json::<Vec<KeyWire>>() {
                    for key in keys {
                        let _ = key.into_api_key("org");
                    }
                }
                if let Ok(key) = resp.json::<KeyWire>() {
                    let _ = key.into_api_key("org");
                }
                if let Ok(orgs) = resp.json::<Vec<OrgWire>>() {
                    for org in orgs {
                        let _ = org.into_org();
                    }
                }
            });
        }
    }
}
