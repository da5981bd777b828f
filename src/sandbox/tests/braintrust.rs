//! Braintrust over real HTTP: bearer authentication, API keys, organizations, cursor
//! pagination, validation, the rate limit, the state view, persistence and faults.

use serde_json::{json, Value};

use super::{send, Options, Reply, Server};

/// Speaks Braintrust with a bearer key.
#[derive(Clone)]
struct Bt {
    addr: std::net::SocketAddr,
    key: String,
}

impl Bt {
    fn seeded(server: &Server) -> Bt {
        Bt {
            addr: server.addr,
            key: server.sandbox.credentials().braintrust.api_key,
        }
    }

    async fn call(&self, method: &str, target: &str, body: Option<Value>) -> Reply {
        let auth = format!("Bearer {}", self.key);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        send(
            self.addr,
            method,
            target,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
        .await
        .expect("braintrust call")
    }

    async fn create(&self, name: &str) -> Value {
        let r = self
            .call("POST", "/v1/api_key", Some(json!({ "name": name })))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Ids of a list answer, in order.
    async fn ids(&self, target: &str) -> Vec<String> {
        let r = self.call("GET", target, None).await;
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        r.json()["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn assert_json_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    assert!(r.json()["error"].as_str().is_some_and(|e| !e.is_empty()));
}

fn assert_text_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    assert!(!r.text().is_empty());
}

const MISSING: &str = "00000000-0000-4000-8000-000000000000";

#[tokio::test]
async fn api_key_lifecycle_and_created_keys_authenticate() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().braintrust;
    let seeded = Bt::seeded(&server);
    let key = seeded.create("ci").await;
    let mut fields: Vec<&String> = key.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "created",
            "id",
            "key",
            "name",
            "org_id",
            "preview_name",
            "user_email",
            "user_family_name",
            "user_given_name",
            "user_id",
        ]
    );
    let raw = key["key"].as_str().unwrap().to_owned();
    assert!(raw.starts_with("sk-") && raw.len() > 40);
    assert_eq!(
        key["preview_name"],
        format!("sk-****{}", &raw[raw.len() - 4..])
    );
    assert_eq!(key["org_id"], c.org_id);
    assert_eq!(key["name"], "ci");
    assert_eq!(key["user_email"], "sandbox@keysmith.invalid");
    let created = key["created"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
    let id = key["id"].as_str().unwrap().to_owned();

    // The new key authenticates; reads never show the raw key.
    let ci = Bt {
        addr: server.addr,
        key: raw.clone(),
    };
    let r = ci.call("GET", &format!("/v1/api_key/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let read = r.json();
    assert!(read.get("key").is_none());
    assert_eq!(read["preview_name"], key["preview_name"]);
    assert_eq!(read["created"], key["created"]);
    let r = seeded.call("GET", "/v1/api_key", None).await;
    assert!(!r.text().contains(&raw));
    assert_eq!(r.json()["objects"].as_array().unwrap().len(), 2);

    // Duplicate names are allowed.
    let again = seeded.create("ci").await;
    assert_ne!(again["id"], key["id"]);

    // Delete answers the deleted object; then 404, and the key no longer authenticates.
    let r = seeded
        .call("DELETE", &format!("/v1/api_key/{id}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], id.as_str());
    assert!(r.json().get("key").is_none());
    assert_json_error(
        &seeded.call("GET", &format!("/v1/api_key/{id}"), None).await,
        404,
    );
    assert_json_error(
        &seeded
            .call("DELETE", &format!("/v1/api_key/{id}"), None)
            .await,
        404,
    );
    assert_text_error(&ci.call("GET", "/v1/api_key", None).await, 401);
    assert_json_error(
        &seeded.call("GET", "/v1/api_key/not-a-uuid", None).await,
        400,
    );
    assert_json_error(&seeded.call("DELETE", "/v1/api_key/%FF", None).await, 400);
    assert_json_error(
        &seeded
            .call("GET", &format!("/v1/api_key/{MISSING}"), None)
            .await,
        404,
    );

    let state = server.state().await;
    let text = state.to_string();
    assert!(!text.contains(&raw) && !text.contains(&c.api_key));
    let keys = state["braintrust"]["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["seeded"], true);
    assert_eq!(keys[1]["name"], "ci");
    assert_eq!(state["requests"]["braintrust.api_keys.create"], 2);
    assert_eq!(state["requests"]["braintrust.api_keys.delete"], 3);
    server.stop().await;
}

#[tokio::test]
async fn authentication_and_validation() {
    let server = Server::start(Options::default()).await;
    let seeded = Bt::seeded(&server);
    for header in [
        None,
        Some("Bearer"),
        Some("Bearer sk-nope"),
        Some("Basic eDp5"),
    ] {
        let headers: Vec<(&str, &str)> = header.map(|h| ("Authorization", h)).into_iter().collect();
        let r = send(server.addr, "GET", "/v1/api_key", &headers, b"")
            .await
            .unwrap();
        assert_text_error(&r, 401);
    }
    let auth = format!("Bearer {}", seeded.key);
    for body in [
        &b""[..],
        b"{}",
        b"{",
        b"[1]",
        br#"{"name": null}"#,
        br#"{"name": ""}"#,
        br#"{"name": 5}"#,
        br#"{"name": "a", "org_name": 5}"#,
    ] {
        let r = send(
            server.addr,
            "POST",
            "/v1/api_key",
            &[("Authorization", &auth)],
            body,
        )
        .await
        .unwrap();
        assert_json_error(&r, 400);
    }
    let r = seeded
        .call(
            "POST",
            "/v1/api_key",
            Some(json!({ "name": "x", "org_name": "elsewhere" })),
        )
        .await;
    assert_json_error(&r, 403);
    // org_name picks another organization of the user.
    let r = send(
        server.addr,
        "POST",
        "/_sandbox/braintrust/organizations",
        &[],
        br#"{"name": "elsewhere", "api_url": "https://eu.example"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let elsewhere = r.json()["id"].as_str().unwrap().to_owned();
    let r = seeded
        .call(
            "POST",
            "/v1/api_key",
            Some(json!({ "name": "x", "org_name": "elsewhere" })),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["org_id"], elsewhere.as_str());
    // A key of that organization creates keys there by default.
    let there = Bt {
        addr: server.addr,
        key: r.json()["key"].as_str().unwrap().to_owned(),
    };
    assert_eq!(there.create("y").await["org_id"], elsewhere.as_str());
    let r = seeded
        .call("GET", "/v1/api_key?org_name=elsewhere", None)
        .await;
    assert_eq!(r.json()["objects"].as_array().unwrap().len(), 2);
    let r = seeded.call("GET", "/v1/api_key?org_name=none", None).await;
    assert_eq!(r.json(), json!({ "objects": [] }));
    // Unknown paths under /v1/: a JSON 404.
    assert_json_error(&seeded.call("GET", "/v1/project", None).await, 404);
    server.stop().await;
}

#[tokio::test]
async fn cursor_pagination_newest_first() {
    let server = Server::start(Options::default()).await;
    let bt = Bt::seeded(&server);
    let seeded_id = bt.ids("/v1/api_key").await[0].clone();
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(
            bt.create(&format!("k{}", i % 2)).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut newest_first: Vec<String> = created.iter().rev().cloned().collect();
    newest_first.push(seeded_id);
    assert_eq!(bt.ids("/v1/api_key").await, newest_first);

    // Page by two until a short page.
    let mut seen = Vec::new();
    let mut target = "/v1/api_key?limit=2".to_owned();
    loop {
        let page = bt.ids(&target).await;
        seen.extend(page.iter().cloned());
        if page.len() < 2 {
            break;
        }
        target = format!("/v1/api_key?limit=2&starting_after={}", page[1]);
    }
    assert_eq!(seen, newest_first);
    // ending_before walks back towards the newest.
    let before = format!("/v1/api_key?limit=2&ending_before={}", newest_first[3]);
    assert_eq!(bt.ids(&before).await, newest_first[1..3]);
    assert_eq!(
        bt.ids(&format!("/v1/api_key?ending_before={}", newest_first[1]))
            .await,
        newest_first[..1]
    );
    assert!(bt.ids("/v1/api_key?limit=0").await.is_empty());
    // Filters: ids (repeated), api_key_name, combined with a cursor.
    let by_ids = format!("/v1/api_key?ids={}&ids={}", created[0], created[4]);
    assert_eq!(
        bt.ids(&by_ids).await,
        [created[4].clone(), created[0].clone()]
    );
    assert_eq!(
        bt.ids("/v1/api_key?api_key_name=k1").await,
        [created[3].clone(), created[1].clone()]
    );
    let named = format!("/v1/api_key?api_key_name=k0&starting_after={}", created[4]);
    assert_eq!(
        bt.ids(&named).await,
        [created[2].clone(), created[0].clone()]
    );

    for bad in [
        format!(
            "/v1/api_key?starting_after={}&ending_before={}",
            created[0], created[1]
        ),
        format!("/v1/api_key?starting_after={MISSING}"),
        "/v1/api_key?starting_after=nope".to_owned(),
        "/v1/api_key?limit=-1".to_owned(),
        "/v1/api_key?ids=1".to_owned(),
    ] {
        assert_json_error(&bt.call("GET", &bad, None).await, 400);
    }
    server.stop().await;
}

#[tokio::test]
async fn organizations_are_read_only() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().braintrust;
    let bt = Bt::seeded(&server);
    let r = bt.call("GET", "/v1/organization", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let org = r.json()["objects"][0].clone();
    let mut fields: Vec<&String> = org.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "api_url",
            "created",
            "id",
            "image_rendering_mode",
            "is_dataplane_private",
            "is_universal_api",
            "name",
            "proxy_url",
            "realtime_url",
        ]
    );
    assert_eq!(org["id"], c.org_id);
    assert_eq!(org["name"], c.org_name);

    let r = send(
        server.addr,
        "POST",
        "/_sandbox/braintrust/organizations",
        &[],
        br#"{"name": "second", "image_rendering_mode": "blocked"}"#,
    )
    .await
    .unwrap();
    let second = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        bt.ids("/v1/organization").await,
        [second.clone(), c.org_id.clone()]
    );
    assert_eq!(bt.ids("/v1/organization?limit=1").await, [second.as_str()]);
    assert_eq!(
        bt.ids(&format!("/v1/organization?starting_after={second}"))
            .await,
        [c.org_id.as_str()]
    );
    let by_name = format!("/v1/organization?org_name={}", c.org_name);
    assert_eq!(bt.ids(&by_name).await, [c.org_id.as_str()]);
    let r = bt
        .call("GET", &format!("/v1/organization/{second}"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["image_rendering_mode"], "blocked");
    assert_json_error(
        &bt.call("GET", &format!("/v1/organization/{MISSING}"), None)
            .await,
        404,
    );
    assert_json_error(&bt.call("GET", "/v1/organization/x", None).await, 400);
    // No create, update or delete.
    assert_eq!(
        bt.call("POST", "/v1/organization", Some(json!({ "name": "n" })))
            .await
            .status,
        405
    );
    assert_eq!(
        bt.call("DELETE", &format!("/v1/organization/{second}"), None)
            .await
            .status,
        405
    );
    for bad in [
        &br#"{"name": "second"}"#[..],
        br#"{"name": ""}"#,
        br#"{"x": 1}"#,
        br#"{"name": "z", "image_rendering_mode": "eager"}"#,
    ] {
        let r = send(
            server.addr,
            "POST",
            "/_sandbox/braintrust/organizations",
            &[],
            bad,
        )
        .await
        .unwrap();
        assert!(r.status == 400 || r.status == 409, "{}", r.text());
    }
    server.stop().await;
}

#[tokio::test]
async fn rate_limits_and_faults_send_retry_after() {
    let server = Server::start(Options::default()).await;
    let bt = Bt::seeded(&server);
    let r = send(
        server.addr,
        "POST",
        "/_sandbox/braintrust/rate_limit",
        &[],
        br#"{"limit": 2, "window_secs": 30}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(bt.call("GET", "/v1/api_key", None).await.status, 200);
    assert_eq!(
        bt.call("GET", "/v1/api_key?limit=1", None).await.status,
        200
    );
    let r = bt.call("GET", "/v1/api_key", None).await;
    assert_text_error(&r, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    // Per endpoint: another one is not limited.
    assert_eq!(bt.call("GET", "/v1/organization", None).await.status, 200);
    let state = server.state().await;
    assert_eq!(state["braintrust"]["rate_limit"]["limit"], 2);
    send(
        server.addr,
        "POST",
        "/_sandbox/braintrust/rate_limit",
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(bt.call("GET", "/v1/api_key", None).await.status, 200);

    server.set_faults("throttle_rate=1").await;
    let r = bt
        .call("POST", "/v1/api_key", Some(json!({ "name": "t" })))
        .await;
    assert_text_error(&r, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    server.set_faults("error_rate=1").await;
    assert_json_error(&bt.call("GET", "/v1/api_key", None).await, 503);
    server.set_faults("").await;
    server.stop().await;
}

#[tokio::test]
async fn state_persists_and_reset_keeps_the_seeds() {
    let dir = std::env::temp_dir().join(format!(
        "keysmith-braintrust-{}",
        super::super::store::uuid_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let options = Options {
        state_file: Some(dir.join("state.json")),
        ..Options::default()
    };
    let server = Server::start(options.clone()).await;
    let key = Bt::seeded(&server).create("durable").await;
    server.stop().await;

    let server = Server::start(options).await;
    let durable = Bt {
        addr: server.addr,
        key: key["key"].as_str().unwrap().to_owned(),
    };
    let id = key["id"].as_str().unwrap();
    let r = durable
        .call("GET", &format!("/v1/api_key/{id}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "durable");

    let r = send(server.addr, "POST", "/_sandbox/reset", &[], b"")
        .await
        .unwrap();
    let keys = r.json()["braintrust"]["api_keys"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["seeded"], true);
    assert_text_error(&durable.call("GET", "/v1/api_key", None).await, 401);
    assert_eq!(
        Bt::seeded(&server)
            .call("GET", "/v1/api_key", None)
            .await
            .status,
        200
    );
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_test_hook_sets_the_reported_creation_date() {
    let server = Server::start(Options::default()).await;
    let bt = Bt::seeded(&server);
    let id = bt.create("dated").await["id"].as_str().unwrap().to_owned();
    let hook = format!("/_sandbox/braintrust/api_keys/{id}/created");
    for created in ["9999-12-31T23:00:00Z", "2020-02-29T12:34:56.789+02:00"] {
        let body = json!({ "created": created }).to_string();
        let r = send(server.addr, "POST", &hook, &[], body.as_bytes())
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["created"], created);
        let r = bt.call("GET", &format!("/v1/api_key/{id}"), None).await;
        assert_eq!(r.json()["created"], created, "reported verbatim");
        let r = bt.call("GET", "/v1/api_key?api_key_name=dated", None).await;
        assert_eq!(r.json()["objects"][0]["created"], created);
        assert!(server.state().await.to_string().contains(created));
    }
    for (target, body, status) in [
        (hook.clone(), r#"{"created": "2030-13-01T00:00:00Z"}"#, 400),
        (hook.clone(), r#"{"created": null}"#, 400),
        (hook.clone(), "", 400),
        (
            format!("/_sandbox/braintrust/api_keys/{MISSING}/created"),
            r#"{"created": "2030-01-01T00:00:00Z"}"#,
            404,
        ),
    ] {
        let r = send(server.addr, "POST", &target, &[], body.as_bytes())
            .await
            .unwrap();
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.json()["error"].is_string());
    }
    server.stop().await;
}
