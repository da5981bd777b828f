//! Traceloop over real HTTP: `POST /v2/organizations`, its bearer authentication, validation,
//! the state view, reset, persistence and faults.

use serde_json::{json, Value};

use super::{send, Options, Reply, Server};

const ORGS: &str = "/v2/organizations";

async fn create(server: &Server, key: &str, body: &[u8]) -> Reply {
    let auth = format!("Bearer {key}");
    send(
        server.addr,
        "POST",
        ORGS,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body,
    )
    .await
    .expect("create")
}

fn seeded_key(server: &Server) -> String {
    server.sandbox.credentials().traceloop.api_key
}

fn assert_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    assert!(r.json()["error"].as_str().is_some_and(|e| !e.is_empty()));
}

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.split('-').map(str::len).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
            && s.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
    })
}

#[tokio::test]
async fn creates_organizations_with_one_key_per_environment() {
    let server = Server::start(Options::default()).await;
    let key = seeded_key(&server);

    let r = create(&server, &key, br#"{"org_name": "acme"}"#).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    assert!(is_uuid(&body["org_id"]));
    let envs = body["environments"].as_array().unwrap();
    let slugs: Vec<&str> = envs.iter().map(|e| e["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["dev", "stg", "prd"]);
    let keys: Vec<&str> = envs
        .iter()
        .map(|e| e["api_key"].as_str().unwrap())
        .collect();
    assert!(keys.iter().all(|k| k.len() > 20));
    assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
    let mut fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["environments", "org_id"]);

    let r = create(
        &server,
        &key,
        br#"{"org_name": "beta", "envs": ["qa", "prod-eu"], "retention_hours": 24}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let envs = r.json()["environments"].clone();
    assert_eq!(envs.as_array().unwrap().len(), 2);
    assert_eq!(envs[1]["slug"], "prod-eu");

    // The state lists both, with their settings and without any key.
    let state = server.state().await;
    let orgs = state["traceloop"]["orgs"].as_array().unwrap();
    assert_eq!(orgs.len(), 2);
    assert_eq!(orgs[0]["name"], "acme");
    assert_eq!(orgs[0]["envs"], json!(["dev", "stg", "prd"]));
    assert_eq!(orgs[0]["retention_hours"], 720);
    assert_eq!(orgs[1]["envs"], json!(["qa", "prod-eu"]));
    assert_eq!(orgs[1]["retention_hours"], 24);
    assert!(orgs[1]["created"].as_str().unwrap().ends_with('Z'));
    let text = state.to_string();
    for k in keys.iter().chain([&key.as_str()]) {
        assert!(!text.contains(k), "the state leaks a key");
    }
    assert_eq!(state["requests"]["traceloop.orgs.create"], 2);
    server.stop().await;
}

#[tokio::test]
async fn authentication_is_a_bearer_key() {
    let server = Server::start(Options::default()).await;
    let body = br#"{"org_name": "acme"}"#;
    let r = send(server.addr, "POST", ORGS, &[], body).await.unwrap();
    assert_error(&r, 401);
    for header in ["Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "tl_abc"] {
        let r = send(
            server.addr,
            "POST",
            ORGS,
            &[("Authorization", header)],
            body,
        )
        .await
        .unwrap();
        assert_error(&r, 401);
    }
    // An environment key is a real key, but it may not create organizations.
    let r = create(&server, &seeded_key(&server), body).await;
    let env_key = r.json()["environments"][0]["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = create(&server, &env_key, body).await;
    assert_error(&r, 403);
    assert_eq!(r.json()["error"], "Not allowed to create organizations");
    // The scheme is case-insensitive.
    let auth = format!("bearer {}", seeded_key(&server));
    let r = send(server.addr, "POST", ORGS, &[("Authorization", &auth)], body)
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    server.stop().await;
}

#[tokio::test]
async fn validation_errors_are_400_with_an_error_body() {
    let server = Server::start(Options::default()).await;
    let key = seeded_key(&server);
    for body in [
        &b""[..],
        b"{",
        b"[]",
        b"\xff",
        br#"{}"#,
        br#"{"org_name": ""}"#,
        br#"{"org_name": null}"#,
        br#"{"org_name": 1}"#,
        br#"{"org_name": "a", "envs": []}"#,
        br#"{"org_name": "a", "envs": ["Dev Env"]}"#,
        br#"{"org_name": "a", "envs": ["dev", "dev"]}"#,
        br#"{"org_name": "a", "envs": "dev"}"#,
        br#"{"org_name": "a", "retention_hours": 0}"#,
        br#"{"org_name": "a", "retention_hours": 721}"#,
        br#"{"org_name": "a", "retention_hours": 2.5}"#,
    ] {
        let r = create(&server, &key, body).await;
        assert_error(&r, 400);
    }
    let r = create(&server, &key, br#"{"envs": ["dev"]}"#).await;
    assert!(r.json()["error"].as_str().unwrap().contains("org_name"));
    let r = create(&server, &key, br#"{"org_name": "a", "retention_hours": 0}"#).await;
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("retention_hours"));
    // The bounds themselves are accepted.
    for hours in [1, 720] {
        let body = json!({ "org_name": "ok", "retention_hours": hours }).to_string();
        assert_eq!(create(&server, &key, body.as_bytes()).await.status, 201);
    }
    assert_eq!(
        server.state().await["traceloop"]["orgs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn there_is_no_read_update_or_delete() {
    let server = Server::start(Options::default()).await;
    let auth = format!("Bearer {}", seeded_key(&server));
    for (method, target) in [
        ("GET", ORGS),
        ("DELETE", ORGS),
        (
            "GET",
            "/v2/organizations/0f1e2d3c-4b5a-4697-8877-665544332211",
        ),
        ("PATCH", "/v2/organizations/x"),
        ("GET", "/v2/api-keys"),
    ] {
        let r = send(
            server.addr,
            method,
            target,
            &[("Authorization", &auth)],
            b"",
        )
        .await
        .unwrap();
        assert_eq!(r.status, 404, "{method} {target}");
        assert_eq!(r.text(), "404 page not found");
    }
    server.stop().await;
}

#[tokio::test]
async fn reset_persistence_and_faults() {
    let dir = std::env::temp_dir().join(format!(
        "keysmith-traceloop-{}",
        super::super::store::uuid_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let options = Options {
        state_file: Some(dir.join("state.json")),
        ..Options::default()
    };
    let server = Server::start(options.clone()).await;
    let key = seeded_key(&server);
    let r = create(&server, &key, br#"{"org_name": "kept", "envs": ["one"]}"#).await;
    let env_key = r.json()["environments"][0]["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    server.stop().await;

    let server = Server::start(options).await;
    assert_eq!(seeded_key(&server), key);
    let state = server.state().await;
    assert_eq!(state["traceloop"]["orgs"][0]["name"], "kept");
    assert_eq!(state["traceloop"]["orgs"][0]["envs"], json!(["one"]));
    // The environment key is still known (refused with 403, not 401).
    assert_eq!(create(&server, &env_key, b"{}").await.status, 403);

    server.set_faults("throttle_rate=1").await;
    let r = create(&server, &key, br#"{"org_name": "x"}"#).await;
    assert_error(&r, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    server.set_faults("error_rate=1").await;
    assert_error(&create(&server, &key, br#"{"org_name": "x"}"#).await, 503);
    server.set_faults("").await;

    let r = send(server.addr, "POST", "/_sandbox/reset", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.json()["traceloop"]["orgs"], json!([]));
    assert_eq!(
        create(&server, &key, br#"{"org_name": "after"}"#)
            .await
            .status,
        201
    );
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
