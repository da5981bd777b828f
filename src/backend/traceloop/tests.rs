//! Tests of the Traceloop client against a small in-process mock of `POST /v2/organizations`.

use std::time::Duration;

use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use super::*;
use crate::backend::conformance::{self, Target};
use crate::backend::test_support::{
    fast_backoff, reply, settings, FaultKind, LogBuffer, Mock, MockVendor,
};
use crate::backend::{ApiKeyUpdate, NewApiKey, OrgUpdate};

const API_KEY: &str = "tl_caller_key_0123456789";

#[derive(Default)]
struct Traceloop {
    orgs: Vec<(String, String, Vec<String>)>,
    bodies: Vec<Value>,
    seq: u32,
}

impl MockVendor for Traceloop {
    fn handle(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
        if uri.path() != "/v2/organizations" || *method != Method::POST {
            return reply(404, &json!({"error": "not found"}));
        }
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {API_KEY}")) {
            return reply(401, &json!({"error": "invalid API key"}));
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return reply(400, &json!({"error": "invalid request body"}));
        };
        self.bodies.push(v.clone());
        let Some(name) = v["org_name"].as_str().filter(|n| !n.is_empty()) else {
            return reply(400, &json!({"error": "org_name is required"}));
        };
        if name == "forbidden" {
            return reply(
                403,
                &json!({"error": "Not allowed to create organizations"}),
            );
        }
        if let Some(h) = v.get("retention_hours") {
            if !h.as_i64().is_some_and(|h| (1..=720).contains(&h)) {
                return reply(
                    400,
                    &json!({"error": "retention_hours must be between 1 and 720"}),
                );
            }
        }
        let envs: Vec<String> = match v.get("envs") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect(),
            _ => vec!["dev".into(), "stg".into(), "prd".into()],
        };
        self.seq += 1;
        let id = format!("org-{:04}", self.seq);
        self.orgs.push((id.clone(), name.to_string(), envs.clone()));
        let environments: Vec<Value> = envs
            .iter()
            .map(|slug| json!({"slug": slug, "api_key": format!("tl_{id}_{slug}_secret")}))
            .collect();
        reply(201, &json!({"org_id": id, "environments": environments}))
    }
}

async fn mock() -> Mock<Traceloop> {
    Mock::start(Traceloop::default()).await
}

fn client(mock: &Mock<Traceloop>, timeout: Duration) -> TraceloopClient {
    TraceloopClient::new(TraceloopConfig {
        base_url: mock.url.clone(),
        api_key: Secret::new(API_KEY),
        http: settings(timeout),
    })
    .unwrap()
    .with_backoff(fast_backoff())
}

fn new_org(name: &str) -> NewOrg {
    NewOrg {
        name: name.into(),
        ..NewOrg::default()
    }
}

#[tokio::test]
async fn create_sends_envs_and_retention_and_returns_one_key_per_environment() {
    let mock = mock().await;
    let c = client(&mock, Duration::from_secs(5));
    let created = c
        .create_org(&NewOrg {
            name: "acme".into(),
            environments: Some(vec!["dev".into(), "prd".into()]),
            retention_hours: Some(48),
            ..NewOrg::default()
        })
        .await
        .unwrap();
    assert_eq!(created.org.id, "org-0001");
    assert_eq!(created.org.name, "acme");
    assert_eq!(created.org.created_at, None);
    let keys: Vec<(&str, &str)> = created
        .environment_keys
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("dev", "tl_org-0001_dev_secret"),
            ("prd", "tl_org-0001_prd_secret")
        ]
    );
    let body = mock.with(|t| t.bodies[0].clone());
    assert_eq!(
        body,
        json!({"org_name": "acme", "envs": ["dev", "prd"], "retention_hours": 48})
    );

    // Unset environments and retention are left out: Traceloop's defaults apply.
    let created = c.create_org(&new_org("plain")).await.unwrap();
    assert_eq!(
        created.environment_keys.keys().collect::<Vec<_>>(),
        vec!["dev", "prd", "stg"]
    );
    assert_eq!(
        mock.with(|t| t.bodies[1].clone()),
        json!({"org_name": "plain"})
    );
}

#[tokio::test]
async fn inputs_are_checked_before_any_request() {
    let mock = mock().await;
    let c = client(&mock, Duration::from_secs(5));
    let cases = [
        (new_org("  "), "org_name"),
        (
            NewOrg {
                environments: Some(vec![]),
                ..new_org("a")
            },
            "envs",
        ),
        (
            NewOrg {
                environments: Some(vec!["dev".into(), "".into()]),
                ..new_org("a")
            },
            "envs",
        ),
        (
            NewOrg {
                environments: Some(vec!["dev".into(), "dev".into()]),
                ..new_org("a")
            },
            "envs",
        ),
        (
            NewOrg {
                retention_hours: Some(0),
                ..new_org("a")
            },
            "retention_hours",
        ),
        (
            NewOrg {
                retention_hours: Some(721),
                ..new_org("a")
            },
            "retention_hours",
        ),
        (
            NewOrg {
                description: Some("d".into()),
                ..new_org("a")
            },
            "description",
        ),
        (
            NewOrg {
                owner_id: Some("5f1a2b3c4d5e6f7a8b9c0d1e".into()),
                ..new_org("a")
            },
            "owner_id",
        ),
    ];
    for (new, field) in cases {
        match c.create_org(&new).await {
            Err(BackendError::Invalid {
                status: 0,
                field: Some(f),
                ..
            }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(mock.seen().is_empty());
}

#[tokio::test]
async fn vendor_errors_keep_traceloop_messages() {
    let mock = mock().await;
    let c = client(&mock, Duration::from_secs(5));
    let err = c.create_org(&new_org("forbidden")).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::PermissionDenied { status: 403, message, .. } if message == "Not allowed to create organizations"),
        "{err:?}"
    );
    mock.fault(
        Method::POST,
        "/v2/organizations",
        FaultKind::Respond {
            status: 400,
            body: r#"{"error":"org_name already taken"}"#.into(),
            content_type: "application/json",
            retry_after: None,
        },
        1,
    );
    let err = c.create_org(&new_org("taken")).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { status: 400, message, .. } if message == "org_name already taken"),
        "{err:?}"
    );
    let bad = TraceloopClient::new(TraceloopConfig {
        base_url: mock.url.clone(),
        api_key: Secret::new("tl_wrong_key"),
        http: settings(Duration::from_secs(5)),
    })
    .unwrap();
    let err = bad.create_org(&new_org("x")).await.unwrap_err();
    assert!(matches!(
        err,
        BackendError::Unauthenticated { status: 401, .. }
    ));
    assert!(!err.to_string().contains("tl_wrong_key"));

    // A wrong base URL is not "not found".
    let wrong = TraceloopClient::new(TraceloopConfig {
        base_url: format!("{}/nested", mock.url),
        api_key: Secret::new(API_KEY),
        http: settings(Duration::from_secs(5)),
    })
    .unwrap();
    let err = wrong.create_org(&new_org("x")).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Http { status: 404, message, .. } if message.contains("base_url")),
        "{err:?}"
    );
}

#[tokio::test]
async fn create_is_retried_on_429_only() {
    let mock = mock().await;
    let c = client(&mock, Duration::from_secs(5));
    mock.fault(
        Method::POST,
        "/v2/organizations",
        FaultKind::Respond {
            status: 429,
            body: r#"{"error":"slow down"}"#.into(),
            content_type: "application/json",
            retry_after: Some(0),
        },
        2,
    );
    let created = c.create_org(&new_org("patient")).await.unwrap();
    assert_eq!(created.org.name, "patient");
    assert_eq!(mock.count(Method::POST, "/v2/organizations"), 3);
    assert_eq!(mock.with(|t| t.orgs.len()), 1);
}

#[tokio::test]
async fn ambiguous_failures_are_never_reposted_and_say_to_check_the_ui() {
    let mock = mock().await;
    let c = client(&mock, Duration::from_millis(300));
    mock.fault(
        Method::POST,
        "/v2/organizations",
        FaultKind::CommitThen(500, r#"{"error":"Internal server error"}"#.into()),
        1,
    );
    let err = c.create_org(&new_org("lost-500")).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, BackendError::Http { status: 500, .. }),
        "{err:?}"
    );
    assert!(text.contains("Internal server error"), "{text}");
    assert!(
        text.contains("may have been created") && text.contains("Traceloop UI"),
        "{text}"
    );
    assert_eq!(mock.count(Method::POST, "/v2/organizations"), 1);

    mock.reset_seen();
    mock.fault(
        Method::POST,
        "/v2/organizations",
        FaultKind::CommitThenStall(Duration::from_secs(2)),
        1,
    );
    let err = c.create_org(&new_org("lost-timeout")).await.unwrap_err();
    assert!(matches!(err, BackendError::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("Traceloop UI"), "{err}");
    assert_eq!(mock.count(Method::POST, "/v2/organizations"), 1);
    assert_eq!(mock.with(|t| t.orgs.len()), 2, "both creates took effect");

    // 503 before anything happened is still ambiguous for a POST: never re-posted.
    mock.reset_seen();
    mock.fault(
        Method::POST,
        "/v2/organizations",
        FaultKind::Respond {
            status: 503,
            body: "upstream unavailable".into(),
            content_type: "text/plain",
            retry_after: None,
        },
        1,
    );
    let err = c.create_org(&new_org("lost-503")).await.unwrap_err();
    assert!(err.to_string().contains("upstream unavailable"), "{err}");
    assert_eq!(mock.count(Method::POST, "/v2/organizations"), 1);
}

#[tokio::test]
async fn unreadable_success_is_not_quoted_and_says_keys_are_lost() {
    let mock = mock().await;
    let c = client(&mock, Duration::from_secs(5));
    mock.fault(
        Method::POST,
        "/v2/organizations",
        FaultKind::Respond {
            status: 201,
            body: r#"{"org_id":"org-9","environments":[{"slug":"dev","api_key":"tl_leaked_secret"#
                .into(),
            content_type: "application/json",
            retry_after: None,
        },
        1,
    );
    let err = c.create_org(&new_org("garbled")).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, BackendError::BadResponse { .. }), "{err:?}");
    assert!(!text.contains("tl_leaked_secret"), "{text}");
    assert!(text.contains("keys are lost"), "{text}");
}

#[tokio::test]
async fn everything_but_org_create_is_not_supported() {
    let mock = mock().await;
    let c = client(&mock, Duration::from_secs(5));
    assert_eq!(c.kind(), BackendKind::Traceloop);
    for result in [
        c.get_org("org-1").await.map(|_| ()),
        c.find_org_by_name("acme").await.map(|_| ()),
        c.update_org("org-1", &OrgUpdate { name: "b".into() })
            .await
            .map(|_| ()),
        c.delete_org("org-1").await,
        c.create_api_key(&NewApiKey::default()).await.map(|_| ()),
        c.get_api_key("org-1", "k").await.map(|_| ()),
        c.list_api_keys("org-1").await.map(|_| ()),
        c.update_api_key("org-1", "k", &ApiKeyUpdate::default())
            .await
            .map(|_| ()),
        c.delete_api_key("org-1", "k").await,
    ] {
        assert!(
            matches!(
                result,
                Err(BackendError::NotSupported {
                    vendor: "traceloop",
                    ..
                })
            ),
            "{result:?}"
        );
    }
    assert!(mock.seen().is_empty());
}

#[tokio::test]
async fn conformance_suite_passes_against_the_mock() {
    let mock = mock().await;
    let c = client(&mock, Duration::from_secs(5));
    let target = Target::for_kind(BackendKind::Traceloop, None, "conf");
    conformance::run(&c, &target).await.unwrap();
}

#[tokio::test]
async fn secrets_stay_out_of_logs_debug_and_errors() {
    let logs = LogBuffer::default();
    let _guard = logs.install();
    let mock = mock().await;
    let c = client(&mock, Duration::from_secs(5));
    let created = c.create_org(&new_org("logged")).await.unwrap();
    mock.fault(
        Method::POST,
        "/v2/organizations",
        FaultKind::CommitThen(500, r#"{"error":"boom"}"#.into()),
        1,
    );
    let err = c.create_org(&new_org("logged-2")).await.unwrap_err();
    let text = logs.text();
    assert!(text.contains("http response"), "logging works: {text}");
    let debug = format!("{c:?} {created:?} {err:?} {err}");
    for secret in created
        .environment_keys
        .values()
        .map(|s| s.expose().to_string())
        .chain([API_KEY.to_string(), "Bearer ".to_string()])
    {
        assert!(!text.contains(&secret), "{secret:?} leaked into logs");
        assert!(
            !debug.contains(&secret),
            "{secret:?} leaked into Debug/errors"
        );
    }
    assert!(mock
        .seen()
        .iter()
        .all(|s| !s.query.contains(API_KEY) && !s.path.contains(API_KEY)));
}

#[test]
fn configuration_is_validated() {
    let cfg = |url: &str, key: &str| TraceloopConfig {
        base_url: url.into(),
        api_key: Secret::new(key),
        http: settings(Duration::from_secs(5)),
    };
    assert!(matches!(
        TraceloopClient::new(cfg(DEFAULT_BASE_URL, " ")),
        Err(BackendError::Config { .. })
    ));
    assert!(matches!(
        TraceloopClient::new(cfg("api.traceloop.com", "k")),
        Err(BackendError::Config { .. })
    ));
    let err = TraceloopClient::new(cfg(DEFAULT_BASE_URL, "bad\nkey")).unwrap_err();
    assert!(!err.to_string().contains("bad\nkey"));
    assert!(TraceloopClient::new(cfg(DEFAULT_BASE_URL, "k")).is_ok());
}

#[test]
fn traceloop_error_bodies() {
    assert_eq!(
        parse_traceloop_error(400, &json!({"error": "bad envs"})).map(|e| e.message),
        Some("bad envs".into())
    );
    assert!(parse_traceloop_error(400, &json!({"message": "x"})).is_none());
    assert!(parse_traceloop_error(400, &json!({"error": ""})).is_none());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    #[test]
    fn traceloop_answers_of_any_shape_never_panic(
        value in crate::backend::test_support::vendor_json(&[
            "org_id", "environments", "slug", "api_key", "error", "message",
        ]),
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
    ) {
        let body = serde_json::to_vec(&value).unwrap();
        for body in [&body[..], &bytes[..]] {
            crate::backend::test_support::decode_everything("traceloop", body, parse_traceloop_error, |resp| {
                let _ = resp.json::<CreateOrgResponse>();
            });
        }
    }
}
