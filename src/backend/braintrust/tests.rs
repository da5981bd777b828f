//! Tests of the Braintrust client against a small in-process mock of the Braintrust API
//! (Bearer auth, API keys with cursor pagination, organizations, scripted faults).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use super::wire::KeyWire;
use super::*;
use crate::backend::conformance::{self, Target};
use crate::backend::test_support::{
    fast_backoff, now_rfc3339, query_pairs, query_value, reply, settings, text_reply, FaultKind,
    LogBuffer, Mock, MockVendor,
};
use crate::backend::{ApiKeyUpdate, NewOrg, OrgUpdate};

const TOKEN: &str = "sk-caller-token-0123456789";
/// An organization-owner service token: the only credential that may create service tokens.
const SERVICE_TOKEN: &str = "bt-st-owner-token-0123456789";
const ACCOUNT: &str = "5a5a5a5a-0000-4000-8000-00000000000a";
const ORG_ID: &str = "14fc81f6-a0e8-4af8-aa6b-5eeaa4717cf0";
const ORG_NAME: &str = "acme";
const OTHER_ID: &str = "2a2a2a2a-0000-4000-8000-000000000002";
const OTHER_NAME: &str = "other";

#[derive(Clone)]
struct MockKey {
    id: String,
    name: String,
    org_id: String,
    created: String,
    /// Service tokens only.
    service_account_id: Option<String>,
}

#[derive(Default)]
struct Braintrust {
    keys: Vec<MockKey>,
    tokens: Vec<MockKey>,
    bodies: Vec<Value>,
    seq: u32,
    /// Ignore `starting_after` (a broken server).
    ignore_cursor: bool,
}

fn uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn org_json(id: &str) -> Option<Value> {
    let name = match id {
        ORG_ID => ORG_NAME,
        OTHER_ID => OTHER_NAME,
        _ => return None,
    };
    Some(json!({
        "id": id, "name": name, "api_url": null, "is_universal_api": null,
        "proxy_url": null, "realtime_url": null, "created": "2025-01-01T00:00:00.000Z"
    }))
}

impl Braintrust {
    fn key_json(k: &MockKey, raw: Option<&str>) -> Value {
        let prefix = if k.service_account_id.is_some() {
            "bt-st-"
        } else {
            "sk-"
        };
        let mut v = json!({
            "id": k.id,
            "created": k.created,
            "name": k.name,
            "preview_name": format!("{prefix}****{}", &k.id[k.id.len() - 4..]),
            "org_id": k.org_id,
        });
        match &k.service_account_id {
            Some(account) => {
                v["service_account_id"] = json!(account);
                v["service_account_email"] = json!(format!("{account}@service.invalid"));
                v["service_account_name"] = json!("ci");
            }
            None => {
                v["user_id"] = json!("11111111-1111-4111-8111-111111111111");
                v["user_email"] = json!("owner@example.com");
                v["user_given_name"] = Value::Null;
                v["user_family_name"] = Value::Null;
            }
        }
        if let Some(raw) = raw {
            v["key"] = json!(raw);
        }
        v
    }

    fn add(&mut self, org_id: &str, name: &str, account: Option<&str>) -> String {
        self.seq += 1;
        let id = uuid(self.seq);
        let key = MockKey {
            id: id.clone(),
            name: name.into(),
            org_id: org_id.into(),
            created: now_rfc3339(),
            service_account_id: account.map(str::to_string),
        };
        match account {
            Some(_) => self.tokens.push(key),
            None => self.keys.push(key),
        }
        id
    }

    fn add_key(&mut self, org_id: &str, name: &str) -> String {
        self.add(org_id, name, None)
    }

    fn add_token(&mut self, org_id: &str, name: &str) -> String {
        self.add(org_id, name, Some(ACCOUNT))
    }

    fn named(&self, name: &str) -> Vec<String> {
        self.keys
            .iter()
            .chain(&self.tokens)
            .filter(|k| k.name == name)
            .map(|k| k.id.clone())
            .collect()
    }

    fn collection(&mut self, tokens: bool) -> &mut Vec<MockKey> {
        if tokens {
            &mut self.tokens
        } else {
            &mut self.keys
        }
    }

    /// `GET`, `POST` on a collection, `GET`/`DELETE` on one object of it.
    fn objects(
        &mut self,
        tokens: bool,
        caller_is_owner_token: bool,
        method: &Method,
        uri: &Uri,
        rest: &str,
        body: &[u8],
    ) -> Response {
        let name_param = if tokens {
            "service_token_name"
        } else {
            "api_key_name"
        };
        match (method.clone(), rest) {
            (Method::GET, "") => {
                let org = query_value(uri, "org_name");
                let name = query_value(uri, name_param);
                let limit: usize = query_value(uri, "limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(100);
                let after = query_value(uri, "starting_after").filter(|_| !self.ignore_cursor);
                // Newest first.
                let mut all: Vec<&MockKey> = self
                    .collection(tokens)
                    .iter()
                    .rev()
                    .filter(|k| {
                        org.as_deref()
                            .is_none_or(|o| org_json(&k.org_id).is_some_and(|j| j["name"] == o))
                    })
                    .filter(|k| name.as_deref().is_none_or(|n| k.name == n))
                    .collect();
                if let Some(after) = after {
                    match all.iter().position(|k| k.id == after) {
                        Some(pos) => all = all.split_off(pos + 1),
                        None => return text_reply(400, "starting_after is not a known id"),
                    }
                }
                let objects: Vec<Value> = all
                    .into_iter()
                    .take(limit)
                    .map(|k| Braintrust::key_json(k, None))
                    .collect();
                reply(200, &json!({ "objects": objects }))
            }
            (Method::POST, "") => {
                let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                self.bodies.push(v.clone());
                if tokens && !caller_is_owner_token {
                    return reply(
                        403,
                        &json!({"error": "User API keys cannot be used to create service tokens"}),
                    );
                }
                let Some(name) = v["name"].as_str() else {
                    return text_reply(400, "name is required");
                };
                let account = match (tokens, v["service_account_id"].as_str()) {
                    (false, _) => None,
                    (true, Some(a)) => Some(a.to_string()),
                    (true, None) => return text_reply(400, "service_account_id is required"),
                };
                let org_id = match v["org_name"].as_str() {
                    None => ORG_ID,
                    Some(ORG_NAME) => ORG_ID,
                    Some(OTHER_NAME) => OTHER_ID,
                    Some(other) => {
                        return reply(
                            403,
                            &json!({"error": format!("You are not a member of {other}")}),
                        )
                    }
                };
                let id = self.add(org_id, name, account.as_deref());
                let key = self.collection(tokens).last().cloned().unwrap();
                let prefix = if tokens { "bt-st-raw" } else { "sk-raw" };
                reply(
                    200,
                    &Braintrust::key_json(&key, Some(&format!("{prefix}-secret-{id}"))),
                )
            }
            (m, id) => {
                let id = id.trim_start_matches('/');
                let list = self.collection(tokens);
                let Some(pos) = list.iter().position(|k| k.id == id) else {
                    return text_reply(404, "Object not found");
                };
                match m {
                    Method::GET => reply(200, &Braintrust::key_json(&list[pos], None)),
                    Method::DELETE => {
                        let k = list.remove(pos);
                        reply(200, &Braintrust::key_json(&k, None))
                    }
                    _ => text_reply(405, "Method not allowed"),
                }
            }
        }
    }
}

impl MockVendor for Braintrust {
    fn handle(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        let owner_token = if auth == Some(&format!("Bearer {TOKEN}")) {
            false
        } else if auth == Some(&format!("Bearer {SERVICE_TOKEN}")) {
            true
        } else {
            return text_reply(401, "Invalid API key");
        };
        let path = uri.path();
        if let Some(rest) = path.strip_prefix("/v1/api_key") {
            return self.objects(false, owner_token, method, uri, rest, body);
        }
        if let Some(rest) = path.strip_prefix("/v1/service_token") {
            return self.objects(true, owner_token, method, uri, rest, body);
        }
        match (method.clone(), path) {
            (Method::GET, "/v1/organization") => {
                let name = query_value(uri, "org_name");
                let objects: Vec<Value> = [ORG_ID, OTHER_ID]
                    .iter()
                    .filter_map(|id| org_json(id))
                    .filter(|o| name.as_deref().is_none_or(|n| o["name"] == n))
                    .collect();
                reply(200, &json!({ "objects": objects }))
            }
            (Method::GET, p) if p.starts_with("/v1/organization/") => {
                match org_json(&p["/v1/organization/".len()..]) {
                    Some(o) => reply(200, &o),
                    None => text_reply(404, "Organization not found"),
                }
            }
            _ => text_reply(404, "Not found"),
        }
    }
}

async fn mock() -> Mock<Braintrust> {
    Mock::start(Braintrust::default()).await
}

fn client_with(mock: &Mock<Braintrust>, timeout: Duration) -> BraintrustClient {
    BraintrustClient::new(BraintrustConfig {
        base_url: mock.url.clone(),
        api_key: Secret::new(TOKEN),
        http: settings(timeout),
    })
    .unwrap()
    .with_backoff(fast_backoff())
}

fn client(mock: &Mock<Braintrust>) -> BraintrustClient {
    client_with(mock, Duration::from_secs(5))
}

fn new_key(name: &str, org_name: Option<&str>) -> NewApiKey {
    NewApiKey {
        name: name.into(),
        org_name: org_name.map(String::from),
        ..NewApiKey::default()
    }
}

#[tokio::test]
async fn create_get_list_delete() {
    let mock = mock().await;
    let c = client(&mock);
    let created = c
        .create_api_key(&new_key("ci", Some(ORG_NAME)))
        .await
        .unwrap();
    assert_eq!(
        mock.with(|b| b.bodies[0].clone()),
        json!({"name": "ci", "org_name": ORG_NAME})
    );
    let key = &created.key;
    assert_eq!(created.secret.expose(), format!("sk-raw-secret-{}", key.id));
    assert_eq!(key.name, "ci");
    assert_eq!(key.org_id.as_deref(), Some(ORG_ID));
    assert_eq!(key.public_key, None);
    assert!(key
        .preview
        .as_deref()
        .is_some_and(|p| p.starts_with("sk-****")));
    assert!(key.roles.is_empty());
    assert!(key.created_at.is_some());

    // Without org_name the body has none.
    c.create_api_key(&new_key("plain", None)).await.unwrap();
    assert_eq!(mock.with(|b| b.bodies[1].clone()), json!({"name": "plain"}));
    // Only an org id: its name is resolved and sent.
    let other = c
        .create_api_key(&NewApiKey {
            org_id: Some(OTHER_ID.into()),
            ..new_key("elsewhere", None)
        })
        .await
        .unwrap();
    assert_eq!(other.key.org_id.as_deref(), Some(OTHER_ID));
    assert_eq!(
        mock.with(|b| b.bodies[2].clone()),
        json!({"name": "elsewhere", "org_name": OTHER_NAME})
    );

    assert_eq!(&c.get_api_key(ORG_ID, &key.id).await.unwrap(), key);
    assert_eq!(&c.get_api_key("", &key.id).await.unwrap(), key);
    let listed = c.list_api_keys(ORG_ID).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["plain", "ci"],
        "only this org's keys, newest first"
    );
    let all = c.list_api_keys("").await.unwrap();
    assert_eq!(all.len(), 3);

    c.delete_api_key(ORG_ID, &key.id).await.unwrap();
    assert!(c
        .get_api_key(ORG_ID, &key.id)
        .await
        .unwrap_err()
        .is_not_found());
    c.delete_api_key(ORG_ID, &key.id).await.unwrap();
    assert!(matches!(
        c.update_api_key(ORG_ID, &key.id, &ApiKeyUpdate::default())
            .await,
        Err(BackendError::NotSupported {
            vendor: "braintrust",
            ..
        })
    ));
}

#[tokio::test]
async fn inputs_are_checked_before_any_request() {
    let mock = mock().await;
    let c = client(&mock);
    let mut with_projects = new_key("a", None);
    with_projects
        .project_roles
        .insert("p".into(), ["Viewer".to_string()].into());
    for (new, field) in [
        (new_key(" ", None), "name"),
        (
            NewApiKey {
                roles: vec!["admin".into()],
                ..new_key("a", None)
            },
            "roles",
        ),
        (with_projects, "project_roles"),
        (new_key("a", Some("")), "org_name"),
        (
            NewApiKey {
                org_id: Some("a/b".into()),
                ..new_key("a", None)
            },
            "org_id",
        ),
    ] {
        match c.create_api_key(&new).await {
            Err(BackendError::Invalid {
                status: 0,
                field: Some(f),
                ..
            }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    for bad in ["", "x/y", "a b", "%2e"] {
        assert!(matches!(
            c.get_api_key(ORG_ID, bad).await,
            Err(BackendError::Invalid { status: 0, .. })
        ));
        assert!(matches!(
            c.delete_api_key(ORG_ID, bad).await,
            Err(BackendError::Invalid { status: 0, .. })
        ));
        assert!(matches!(
            c.get_org(bad).await,
            Err(BackendError::Invalid { status: 0, .. })
        ));
    }
    assert!(mock.seen().is_empty());
}

#[tokio::test]
async fn listings_follow_the_cursor_and_resolve_the_org_name_once() {
    let mock = mock().await;
    let c = client(&mock);
    mock.with(|b| {
        for i in 0..2500 {
            b.add_key(ORG_ID, &format!("k{i}"));
        }
        for i in 0..10 {
            b.add_key(OTHER_ID, &format!("o{i}"));
        }
    });
    let keys = c.list_api_keys(ORG_ID).await.unwrap();
    assert_eq!(keys.len(), 2500);
    assert_eq!(keys[0].name, "k2499", "newest first");
    let pages: Vec<Vec<(String, String)>> = mock
        .seen()
        .iter()
        .filter(|s| s.path == "/v1/api_key")
        .map(|s| query_pairs(&format!("/?{}", s.query).parse::<Uri>().unwrap()))
        .collect();
    assert_eq!(pages.len(), 3, "1000 + 1000 + 500");
    assert!(pages
        .iter()
        .all(|p| p.contains(&("org_name".into(), ORG_NAME.into()))));
    assert!(pages
        .iter()
        .all(|p| p.contains(&("limit".into(), "1000".into()))));
    assert!(!pages[0].iter().any(|(k, _)| k == "starting_after"));
    assert!(pages[1].contains(&("starting_after".into(), keys[999].id.clone())));
    assert_eq!(mock.count(Method::GET, "/v1/organization/"), 1);
    c.list_api_keys(ORG_ID).await.unwrap();
    assert_eq!(
        mock.count(Method::GET, "/v1/organization/"),
        1,
        "name remembered"
    );

    // A server that ignores the cursor cannot loop forever.
    mock.with(|b| b.ignore_cursor = true);
    let err = c.list_api_keys(ORG_ID).await.unwrap_err();
    assert!(matches!(err, BackendError::BadResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn a_refresh_of_many_keys_costs_one_listing() {
    let mock = mock().await;
    let c = Arc::new(client(&mock));
    let ids: Vec<String> = mock.with(|b| {
        (0..1000)
            .map(|i| b.add_key(ORG_ID, &format!("r{i}")))
            .collect()
    });
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let c = Arc::clone(&c);
        tasks.push(tokio::spawn(
            async move { c.get_api_key(ORG_ID, &id).await },
        ));
    }
    for (t, id) in tasks.into_iter().zip(&ids) {
        assert_eq!(&t.await.unwrap().unwrap().id, id);
    }
    let requests = mock.seen().len();
    assert!(requests <= 3, "{requests} requests for 1000 reads");
    // A key not in the listing is confirmed by id.
    mock.reset_seen();
    let missing = uuid(999_999);
    assert!(c
        .get_api_key(ORG_ID, &missing)
        .await
        .unwrap_err()
        .is_not_found());
    assert_eq!(
        mock.count(Method::GET, &format!("/v1/api_key/{missing}")),
        1
    );
    // Unknown organization: still readable by id.
    let err = c.get_api_key(&uuid(5), &ids[0]).await.unwrap();
    assert_eq!(err.id, ids[0]);
}

#[tokio::test]
async fn errors_text_json_and_rate_limits() {
    let mock = mock().await;
    let c = client(&mock);
    let err = c
        .create_api_key(&new_key("x", Some("stranger")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::PermissionDenied { status: 403, message, .. } if message == "You are not a member of stranger"),
        "{err:?}"
    );
    mock.fault(
        Method::POST,
        "/v1/api_key",
        FaultKind::Respond {
            status: 400,
            body: "name: String must contain at most 256 character(s)".into(),
            content_type: "text/plain; charset=utf-8",
            retry_after: None,
        },
        1,
    );
    let err = c.create_api_key(&new_key("x", None)).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { status: 400, message, .. } if message.contains("at most 256")),
        "{err:?}"
    );
    mock.fault(
        Method::GET,
        "/v1/organization",
        FaultKind::Respond {
            status: 500,
            body: r#"{"error":{"message":"database unavailable"}}"#.into(),
            content_type: "application/json",
            retry_after: None,
        },
        1,
    );
    let err = c.find_org_by_name(ORG_NAME).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Http { status: 500, message, .. } if message == "database unavailable"),
        "{err:?}"
    );
    // 429 with Retry-After: GET and POST are both retried.
    for (method, path) in [
        (Method::GET, "/v1/organization/"),
        (Method::POST, "/v1/api_key"),
    ] {
        mock.reset_seen();
        mock.fault(
            method.clone(),
            path,
            FaultKind::Respond {
                status: 429,
                body: "Too many requests".into(),
                content_type: "text/plain",
                retry_after: Some(0),
            },
            2,
        );
        if method == Method::GET {
            c.get_org(ORG_ID).await.unwrap();
        } else {
            c.create_api_key(&new_key("throttled", None)).await.unwrap();
        }
        assert_eq!(mock.count(method, path), 3);
    }
    let bad = BraintrustClient::new(BraintrustConfig {
        base_url: mock.url.clone(),
        api_key: Secret::new("sk-wrong-token"),
        http: settings(Duration::from_secs(5)),
    })
    .unwrap();
    let err = bad.get_org(ORG_ID).await.unwrap_err();
    assert!(matches!(err, BackendError::Unauthenticated { .. }));
    assert!(!format!("{err} {err:?}").contains("sk-wrong-token"));
}

#[tokio::test]
async fn lost_creates_are_reconciled_by_name_and_time() {
    let mock = mock().await;
    let c = client_with(&mock, Duration::from_millis(400));
    let older = mock.with(|b| {
        let id = b.add_key(ORG_ID, "lost");
        b.keys.last_mut().unwrap().created = "2020-01-01T00:00:00Z".into();
        id
    });
    mock.fault(
        Method::POST,
        "/v1/api_key",
        FaultKind::CommitThen(500, "Internal error".into()),
        1,
    );
    let created = c
        .create_api_key(&new_key("lost", Some(ORG_NAME)))
        .await
        .unwrap();
    let mut left = mock.with(|b| b.named("lost"));
    left.sort();
    let mut expected = vec![older, created.key.id.clone()];
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(mock.count(Method::DELETE, "/v1/api_key/"), 1);
    let lookup = mock
        .seen()
        .into_iter()
        .find(|s| {
            s.method == Method::GET && s.path == "/v1/api_key" && s.query.contains("api_key_name=")
        })
        .unwrap();
    assert!(lookup.query.contains("api_key_name=lost") && lookup.query.contains("org_name=acme"));

    mock.reset_seen();
    mock.fault(
        Method::POST,
        "/v1/api_key",
        FaultKind::CommitThenStall(Duration::from_secs(2)),
        1,
    );
    let created = c.create_api_key(&new_key("slow", None)).await.unwrap();
    assert_eq!(mock.with(|b| b.named("slow")), vec![created.key.id]);
    assert_eq!(mock.count(Method::DELETE, "/v1/api_key/"), 1);
}

#[tokio::test]
async fn a_create_lost_every_time_fails_and_leaves_nothing() {
    let mock = mock().await;
    let c = client(&mock);
    mock.fault(
        Method::POST,
        "/v1/api_key",
        FaultKind::CommitThen(502, "bad gateway".into()),
        100,
    );
    let err = c
        .create_api_key(&new_key("doomed", None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("were found and deleted"), "{err}");
    assert!(mock.with(|b| b.named("doomed").is_empty()));
}

#[tokio::test]
async fn organizations_are_read_only() {
    let mock = mock().await;
    let c = client(&mock);
    let org = c.get_org(ORG_ID).await.unwrap();
    assert_eq!(org.name, ORG_NAME);
    assert_eq!(org.created_at.as_deref(), Some("2025-01-01T00:00:00.000Z"));
    assert_eq!(c.find_org_by_name(OTHER_NAME).await.unwrap().id, OTHER_ID);
    assert!(c
        .find_org_by_name("nobody")
        .await
        .unwrap_err()
        .is_not_found());
    assert!(c.get_org(&uuid(77)).await.unwrap_err().is_not_found());
    for result in [
        c.create_org(&NewOrg {
            name: "n".into(),
            ..NewOrg::default()
        })
        .await
        .map(|_| ()),
        c.update_org(ORG_ID, &OrgUpdate { name: "n".into() })
            .await
            .map(|_| ()),
        c.delete_org(ORG_ID).await,
    ] {
        assert!(matches!(
            result,
            Err(BackendError::NotSupported {
                vendor: "braintrust",
                ..
            })
        ));
    }
    // Lookups fill the id → name memory: listing by id needs no extra request.
    mock.reset_seen();
    c.list_api_keys(OTHER_ID).await.unwrap();
    assert_eq!(mock.count(Method::GET, "/v1/organization"), 0);
}

#[tokio::test]
async fn conformance_suite_passes_against_the_mock() {
    let mock = mock().await;
    let c = client(&mock);
    let mut target = Target::for_kind(BackendKind::Braintrust, Some(ORG_ID.into()), "conf");
    target.org_name = Some(ORG_NAME.into());
    conformance::run(&c, &target).await.unwrap();
}

#[tokio::test]
async fn secrets_stay_out_of_logs_debug_errors_and_urls() {
    let logs = LogBuffer::default();
    let _guard = logs.install();
    let mock = mock().await;
    let c = client(&mock);
    let created = c.create_api_key(&new_key("logged", None)).await.unwrap();
    mock.fault(
        Method::POST,
        "/v1/api_key",
        FaultKind::CommitThen(500, "{}".into()),
        1,
    );
    let again = c.create_api_key(&new_key("logged", None)).await.unwrap();
    c.list_api_keys(ORG_ID).await.unwrap();
    mock.fault(
        Method::POST,
        "/v1/api_key",
        FaultKind::Respond {
            status: 200,
            body: r#"{"id":"x","key":"sk-hunter2-secret","name":7}"#.into(),
            content_type: "application/json",
            retry_after: None,
        },
        1,
    );
    let undecodable = c.create_api_key(&new_key("weird", None)).await;
    let text = logs.text();
    assert!(text.contains("http response"), "logging works: {text}");
    let debug = format!("{c:?} {created:?} {again:?} {undecodable:?}");
    for secret in [
        TOKEN,
        created.secret.expose(),
        again.secret.expose(),
        "sk-hunter2-secret",
        "Bearer ",
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked into logs");
        assert!(
            !debug.contains(secret),
            "{secret:?} leaked into Debug/errors"
        );
    }
    assert!(mock.seen().iter().all(|s| !s.query.contains("sk-")));
}

#[test]
fn configuration_and_error_bodies() {
    let cfg = |url: &str, key: &str| BraintrustConfig {
        base_url: url.into(),
        api_key: Secret::new(key),
        http: settings(Duration::from_secs(5)),
    };
    assert!(matches!(
        BraintrustClient::new(cfg(DEFAULT_BASE_URL, "")),
        Err(BackendError::Config { .. })
    ));
    assert!(matches!(
        BraintrustClient::new(cfg("ftp://api.braintrust.dev", "k")),
        Err(BackendError::Config { .. })
    ));
    assert_eq!(
        BraintrustClient::new(cfg(DEFAULT_BASE_URL, "k"))
            .unwrap()
            .kind(),
        BackendKind::Braintrust
    );
    let m = |v: Value| parse_braintrust_error(400, &v).map(|e| e.message);
    assert_eq!(m(json!({"message": "a"})), Some("a".into()));
    assert_eq!(m(json!({"error": "b"})), Some("b".into()));
    assert_eq!(m(json!({"error": {"message": "c"}})), Some("c".into()));
    assert_eq!(
        m(json!({"error": "d", "details": "more"})),
        Some("d: more".into())
    );
    assert_eq!(m(json!({"detail": "x"})), None);
}

#[tokio::test]
async fn a_same_named_key_made_just_before_a_lost_create_survives() {
    let mock = mock().await;
    let c = client_with(&mock, Duration::from_millis(400));
    // A person makes "console-key" seconds before the apply: same name, same second.
    let person = mock.with(|b| b.add_key(ORG_ID, "console-key"));
    mock.fault(
        Method::POST,
        "/v1/api_key",
        FaultKind::CommitThen(500, "Internal error".into()),
        1,
    );
    let created = c
        .create_api_key(&new_key("console-key", Some(ORG_NAME)))
        .await
        .unwrap();
    let mut left = mock.with(|b| b.named("console-key"));
    left.sort();
    let mut expected = vec![person, created.key.id.clone()];
    expected.sort();
    assert_eq!(
        left, expected,
        "the person's key survives; the lost one is deleted"
    );
    assert_eq!(mock.count(Method::DELETE, "/v1/api_key/"), 1);
}

#[tokio::test]
async fn two_runs_with_lost_creates_never_delete_each_others_keys() {
    let mock = mock().await;
    let a = client_with(&mock, Duration::from_millis(400));
    let b = client_with(&mock, Duration::from_millis(400));
    // Both runs take their baselines before either creates.
    a.list_api_keys(ORG_ID).await.unwrap();
    let warm = b.create_api_key(&new_key("warm", Some(ORG_NAME))).await;
    assert!(warm.is_ok());
    let first = a.create_api_key(&new_key("warm-a", Some(ORG_NAME))).await;
    assert!(first.is_ok());
    // Run B creates "shared" successfully and holds it; run A's create of the same name at
    // the same time loses its answer.
    let held = b
        .create_api_key(&new_key("shared", Some(ORG_NAME)))
        .await
        .unwrap();
    mock.fault(
        Method::POST,
        "/v1/api_key",
        FaultKind::CommitThen(500, "Internal error".into()),
        1,
    );
    let err = a
        .create_api_key(&new_key("shared", Some(ORG_NAME)))
        .await
        .unwrap_err();
    let left = mock.with(|m| m.named("shared"));
    assert_eq!(left.len(), 2, "nothing deleted: {left:?}");
    assert!(left.contains(&held.key.id), "B's key survives");
    let text = err.to_string();
    for id in &left {
        assert!(text.contains(id.as_str()), "{id} is named: {text}");
    }
    assert_eq!(mock.count(Method::DELETE, "/v1/api_key/"), 0);
}

mod service_tokens;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    #[test]
    fn braintrust_answers_of_any_shape_never_panic(
        value in crate::backend::test_support::vendor_json(&[
            "objects", "id", "created", "name", "preview_name", "org_id", "key", "user_id",
            "service_account_id",
            "message", "error", "details", "code",
        ]),
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
    ) {
        let body = serde_json::to_vec(&value).unwrap();
        for body in [&body[..], &bytes[..]] {
            crate::backend::test_support::decode_everything("braintrust", body, parse_braintrust_error, |resp| {
                if let Ok(page) = resp.json::<ListWire<KeyWire>>() {
                    for key in page.objects {
                        let _ = key.into_api_key(Kind::ServiceToken);
                    }
                }
                if let Ok(page) = resp.json::<ListWire<OrgWire>>() {
                    for org in page.objects {
                        let _ = org.into_org();
                    }
                }
                if let Ok(key) = resp.json::<KeyWire>() {
                    let _ = key.into_api_key(Kind::ApiKey);
                }
            });
        }
    }
}
