//! env0 over real HTTP: Basic authentication, organizations, API keys, validation, the rate
//! limit, the state view, persistence and a state file written before env0 was emulated.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use super::{send, Options, Reply, Server};

/// Speaks env0 with HTTP Basic.
#[derive(Clone)]
struct Env0 {
    addr: std::net::SocketAddr,
    id: String,
    secret: String,
}

impl Env0 {
    fn seeded(server: &Server) -> Env0 {
        let c = server.sandbox.credentials().env0;
        Env0 {
            addr: server.addr,
            id: c.api_key_id,
            secret: c.api_key_secret,
        }
    }

    /// The client of a key returned by `POST /api-keys`.
    fn of(&self, key: &Value) -> Env0 {
        Env0 {
            addr: self.addr,
            id: key["apiKeyId"].as_str().unwrap().to_owned(),
            secret: key["apiKeySecret"].as_str().unwrap().to_owned(),
        }
    }

    async fn call(&self, method: &str, target: &str, body: Option<Value>) -> Reply {
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.id, self.secret))
        );
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
        .expect("env0 call")
    }
}

fn org_id(server: &Server) -> String {
    server.sandbox.credentials().env0.organization_id
}

/// A plain-text backend error.
fn assert_text_error(r: &Reply, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    assert!(r.text().contains(needle), "{:?} lacks {needle:?}", r.text());
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn basic_authentication() {
    let server = Server::start(Options::default()).await;
    let seeded = Env0::seeded(&server);
    let wrong = Env0 {
        secret: "wrong".into(),
        ..seeded.clone()
    };
    for r in [
        send(server.addr, "GET", "/organizations", &[], b"")
            .await
            .unwrap(),
        send(
            server.addr,
            "GET",
            "/organizations",
            &[("Authorization", "Basic !!!")],
            b"",
        )
        .await
        .unwrap(),
        send(
            server.addr,
            "GET",
            "/organizations",
            &[("Authorization", "Bearer x")],
            b"",
        )
        .await
        .unwrap(),
        wrong.call("GET", "/organizations", None).await,
    ] {
        assert_eq!(r.status, 401);
        assert_eq!(r.json(), json!({ "message": "Unauthorized" }));
    }
    let r = seeded.call("GET", "/organizations", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let orgs = r.json();
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert_eq!(orgs[0]["id"], org_id(&server));
    assert_eq!(orgs[0]["role"], "Admin");
    assert_eq!(orgs[0]["mode"], "paying");
    server.stop().await;
}

#[tokio::test]
async fn organizations_are_created_and_listed() {
    let server = Server::start(Options::default()).await;
    let client = Env0::seeded(&server);
    let r = client
        .call(
            "POST",
            "/organizations",
            Some(json!({ "name": "acme", "description": "d", "photoUrl": "https://x/p.png" })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let org = r.json();
    assert_eq!(
        sorted_keys(&org),
        [
            "allowEnv0Secrets",
            "allowMergeableBypassForPrApply",
            "createdAt",
            "createdBy",
            "defaultTtl",
            "description",
            "doNotConsiderMergeCommitsForPrPlans",
            "doNotReportSkippedStatusChecks",
            "enableOidc",
            "enforcePrCommenterPermissions",
            "id",
            "isSelfHostedK8s",
            "maxTtl",
            "mode",
            "name",
            "photoUrl",
            "projectCustomFlowsPolicy",
            "requireApprovalForPrApplies",
            "trialEnd",
            "updatedAt",
        ]
    );
    assert_eq!(org["mode"], "trial");
    assert_eq!(org["name"], "acme");
    assert_eq!(org["photoUrl"], "https://x/p.png");
    assert_eq!(org["maxTtl"], Value::Null);
    assert_eq!(org["projectCustomFlowsPolicy"], "MERGE_WITH_TEMPLATES");
    let seeded_key_id = server.state().await["env0"]["orgs"][0]["api_keys"][0]["id"].clone();
    assert_eq!(org["createdBy"], seeded_key_id);
    let id = org["id"].as_str().unwrap();

    let r = client.call("GET", "/organizations", None).await;
    let orgs = r.json();
    assert_eq!(orgs.as_array().unwrap().len(), 2);
    assert_eq!(orgs[1]["id"], id);
    assert_eq!(orgs[1]["role"], "Admin");
    assert_eq!(orgs[1]["description"], "d");

    let r = client
        .call("GET", &format!("/organizations/{id}"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "acme");
    let r = client.call("GET", "/organizations/nope", None).await;
    assert_text_error(&r, 404, "not found");

    for (body, needle) in [
        (json!({}), "/body must have required property 'name'"),
        (json!({ "name": "" }), "/body/name"),
        (json!({ "name": 3 }), "/body/name must be string"),
        (
            json!({ "name": "a", "photoURL": "x" }),
            "additional properties",
        ),
        (json!(["a"]), "/body must be object"),
    ] {
        let r = client.call("POST", "/organizations", Some(body)).await;
        assert_text_error(&r, 400, needle);
    }
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", client.id, client.secret))
    );
    let r = send(
        server.addr,
        "POST",
        "/organizations",
        &[("Authorization", &auth)],
        b"{not json",
    )
    .await
    .unwrap();
    assert_text_error(&r, 400, "JSON");
    // Not emulated: a plain 404 under env0's prefixes; another method: 405.
    let r = client.call("GET", "/organizations/x/users", None).await;
    assert_text_error(&r, 404, "no env0 route");
    let r = client.call("PUT", "/organizations", None).await;
    assert_eq!(r.status, 405);
    let state = server.state().await;
    assert_eq!(state["requests"]["env0.orgs.create"], 7);
    assert_eq!(state["requests"]["env0.orgs.list"], 1);
    assert_eq!(state["requests"]["env0.orgs.get"], 2);
    server.stop().await;
}

#[tokio::test]
async fn api_key_lifecycle_and_created_keys_authenticate() {
    let server = Server::start(Options::default()).await;
    let admin = Env0::seeded(&server);
    let org = org_id(&server);
    let r = admin
        .call(
            "POST",
            "/api-keys",
            Some(json!({
                "name": "ci",
                "organizationId": org,
                "permissions": { "organizationRole": "Admin" },
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let key = r.json();
    assert_eq!(
        sorted_keys(&key),
        [
            "apiKeyId",
            "apiKeySecret",
            "createdAt",
            "createdBy",
            "id",
            "lastUsedAt",
            "name",
            "organizationId",
            "organizationRole",
        ]
    );
    assert_eq!(key["organizationRole"], "Admin");
    assert_eq!(key["organizationId"], org);
    assert_eq!(key["lastUsedAt"], Value::Null);
    let secret = key["apiKeySecret"].as_str().unwrap().to_owned();
    let id = key["id"].as_str().unwrap().to_owned();

    // The new key authenticates, sees its organization and records its use.
    let ci = admin.of(&key);
    let r = ci.call("GET", "/organizations", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["id"], org);

    // Listing: no secret; organizationId defaults to the caller's organization.
    for target in [
        format!("/api-keys?organizationId={org}"),
        "/api-keys".into(),
    ] {
        let r = admin.call("GET", &target, None).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let keys = r.json();
        assert_eq!(keys.as_array().unwrap().len(), 2);
        assert!(!r.text().contains(&secret));
        assert!(keys[1].get("apiKeySecret").is_none());
        assert_eq!(keys[1]["id"], id.as_str());
        assert!(keys[1]["lastUsedAt"].as_str().unwrap().ends_with('Z'));
    }

    // A User key reads its organization but may not manage keys.
    let r = admin
        .call(
            "POST",
            "/api-keys",
            Some(json!({ "name": "viewer", "permissions": { "organizationRole": "User" } })),
        )
        .await;
    let user = admin.of(&r.json());
    assert_eq!(user.call("GET", "/organizations", None).await.status, 200);
    let r = user
        .call(
            "POST",
            "/api-keys",
            Some(json!({ "name": "x", "permissions": { "organizationRole": "Admin" } })),
        )
        .await;
    assert_text_error(&r, 403, "permission");
    assert_text_error(
        &user.call("GET", "/api-keys", None).await,
        403,
        "permission",
    );
    assert_text_error(
        &user.call("DELETE", &format!("/api-keys/{id}"), None).await,
        404,
        "not found",
    );

    // Delete: 200, then 404; the deleted key stops authenticating.
    let r = admin.call("DELETE", &format!("/api-keys/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin.call("DELETE", &format!("/api-keys/{id}"), None).await;
    assert_text_error(&r, 404, "not found");
    assert_eq!(ci.call("GET", "/organizations", None).await.status, 401);
    assert_text_error(
        &admin.call("DELETE", "/api-keys/%FF", None).await,
        404,
        "not found",
    );
    assert_text_error(
        &admin.call("GET", "/organizations/%FF", None).await,
        404,
        "not found",
    );

    // Keys of an organization the caller created; another key cannot see it.
    let r = admin
        .call("POST", "/organizations", Some(json!({ "name": "second" })))
        .await;
    let second = r.json()["id"].as_str().unwrap().to_owned();
    let r = admin
        .call(
            "POST",
            "/api-keys",
            Some(json!({
                "name": "in-second",
                "organizationId": second,
                "permissions": { "organizationRole": "Admin" },
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let in_second = admin.of(&r.json());
    let r = in_second.call("GET", "/organizations", None).await;
    let orgs = r.json();
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert_eq!(orgs[0]["id"], second.as_str());
    let r = in_second
        .call("GET", &format!("/api-keys?organizationId={org}"), None)
        .await;
    assert_text_error(&r, 403, "permission");
    let r = admin
        .call(
            "GET",
            "/api-keys?organizationId=00000000-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_text_error(&r, 404, "not found");

    let state = server.state().await;
    let text = state.to_string();
    assert!(!text.contains(&secret));
    assert!(!text.contains(&admin.secret));
    assert_eq!(state["requests"]["env0.api_keys.create"], 4);
    assert_eq!(state["requests"]["env0.api_keys.delete"], 4);
    server.stop().await;
}

#[tokio::test]
async fn api_key_validation() {
    let server = Server::start(Options::default()).await;
    let admin = Env0::seeded(&server);
    let state = server.state().await;
    let seeded_org = &state["env0"]["orgs"][0];
    let project = seeded_org["projects"][0]["id"].as_str().unwrap().to_owned();
    let role = seeded_org["custom_roles"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let perms = |v: Value| json!({ "name": "k", "permissions": v });
    for (body, needle) in [
        (
            json!({ "permissions": { "organizationRole": "Admin" } }),
            "required property 'name'",
        ),
        (json!({ "name": "k" }), "required property 'permissions'"),
        (perms(json!({})), "required property 'organizationRole'"),
        (
            perms(json!({ "organizationRole": "Owner" })),
            "organizationRole",
        ),
        (
            perms(json!({ "organizationRole": "00000000-0000-4000-8000-000000000000" })),
            "organizationRole",
        ),
        (
            perms(json!({ "organizationRole": "Admin",
                "projectsPermissions": [{ "projectId": project, "projectRole": "Viewer" }] })),
            "non-Admin",
        ),
        (
            perms(json!({ "organizationRole": "User",
                "projectsPermissions": [{ "projectId": project, "projectRole": "Owner" }] })),
            "projectRole",
        ),
        (
            perms(json!({ "organizationRole": "User",
                "projectsPermissions": [{ "projectId": "nope", "projectRole": "Viewer" }] })),
            "not found",
        ),
        (
            perms(json!({ "organizationRole": "User", "projectsPermissions": [
                { "projectId": project, "projectRole": "Viewer" },
                { "projectId": project, "projectRole": "Planner" }] })),
            "twice",
        ),
        (
            perms(json!({ "organizationRole": "User",
                "projectPermissions": [{ "projectId": project, "projectRole": "Viewer" }] })),
            "additional properties ('projectPermissions')",
        ),
        (
            json!({ "name": "k", "role": "Admin", "permissions": { "organizationRole": "Admin" } }),
            "additional",
        ),
        (perms(json!("Admin")), "/body/permissions must be object"),
    ] {
        let r = admin.call("POST", "/api-keys", Some(body.clone())).await;
        assert_text_error(&r, 400, needle);
    }
    // Valid: a custom role, and a User with project roles.
    let r = admin
        .call(
            "POST",
            "/api-keys",
            Some(perms(json!({ "organizationRole": role }))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["organizationRole"], role.as_str());
    let r = admin
        .call(
            "POST",
            "/api-keys",
            Some(perms(json!({ "organizationRole": "User",
                "projectsPermissions": [{ "projectId": project, "projectRole": "Deployer" }] }))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let state = server.state().await;
    let keys = &state["env0"]["orgs"][0]["api_keys"];
    assert_eq!(
        keys[2]["projects_permissions"],
        json!([{ "project_id": project, "project_role": "Deployer" }])
    );
    // Sandbox helpers add projects and roles to an organization.
    let org = org_id(&server);
    let r = send(
        server.addr,
        "POST",
        &format!("/_sandbox/env0/organizations/{org}/roles"),
        &[],
        br#"{"name": "auditor"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201);
    let new_role = r.json()["id"].as_str().unwrap().to_owned();
    let r = admin
        .call(
            "POST",
            "/api-keys",
            Some(perms(json!({ "organizationRole": new_role }))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(
        server.addr,
        "POST",
        "/_sandbox/env0/organizations/nope/projects",
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 404);
    server.stop().await;
}

async fn set_limit(server: &Server, body: &str) -> Reply {
    send(
        server.addr,
        "POST",
        "/_sandbox/env0/rate_limit",
        &[],
        body.as_bytes(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn rate_limit_per_method_and_uri() {
    let server = Server::start(Options::default()).await;
    let client = Env0::seeded(&server);
    let r = send(server.addr, "GET", "/_sandbox/env0/rate_limit", &[], b"")
        .await
        .unwrap();
    assert_eq!(
        r.json(),
        json!({ "limit": 1000, "window_secs": 60, "per": "path" })
    );
    let r = set_limit(&server, r#"{"limit": 3, "window_secs": 2}"#).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["per"], "path");

    for _ in 0..3 {
        assert_eq!(client.call("GET", "/organizations", None).await.status, 200);
    }
    let r = client.call("GET", "/organizations", None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json(), json!({ "message": "Too Many Requests" }));
    assert_eq!(r.header("retry-after"), None);
    // Counted before authentication, and per method + URI.
    let r = send(server.addr, "GET", "/organizations", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(client.call("GET", "/api-keys", None).await.status, 200);
    let r = client
        .call("POST", "/organizations", Some(json!({ "name": "o" })))
        .await;
    assert_eq!(r.status, 200);
    // The query is not part of the URI.
    for _ in 0..2 {
        assert_eq!(
            client
                .call("GET", "/api-keys?organizationId=x", None)
                .await
                .status,
            404
        );
    }
    assert_eq!(client.call("GET", "/api-keys?a=b", None).await.status, 429);
    // The window slides.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(client.call("GET", "/organizations", None).await.status, 200);

    // Per concrete path by default; per route template when asked.
    set_limit(&server, r#"{"limit": 1, "window_secs": 60}"#).await;
    assert_eq!(client.call("DELETE", "/api-keys/a", None).await.status, 404);
    assert_eq!(client.call("DELETE", "/api-keys/b", None).await.status, 404);
    assert_eq!(client.call("DELETE", "/api-keys/a", None).await.status, 429);
    set_limit(&server, r#"{"limit": 1, "per": "template"}"#).await;
    assert_eq!(client.call("DELETE", "/api-keys/a", None).await.status, 404);
    assert_eq!(client.call("DELETE", "/api-keys/b", None).await.status, 429);
    // Reset empties the windows and keeps the limit; 0 disables it.
    send(server.addr, "POST", "/_sandbox/reset", &[], b"")
        .await
        .unwrap();
    assert_eq!(client.call("DELETE", "/api-keys/b", None).await.status, 404);
    let state = server.state().await;
    assert_eq!(state["env0"]["rate_limit"]["per"], "template");
    set_limit(&server, r#"{"limit": 0}"#).await;
    for _ in 0..5 {
        assert_eq!(client.call("DELETE", "/api-keys/b", None).await.status, 404);
    }
    for bad in [
        r#"{"limit": -1}"#,
        r#"{"window_secs": 0}"#,
        r#"{"per": "ip"}"#,
        "x",
    ] {
        assert_eq!(set_limit(&server, bad).await.status, 400, "{bad}");
    }
    assert_eq!(set_limit(&server, "").await.json()["limit"], 1000);
    server.stop().await;
}

#[tokio::test]
async fn persistence_and_legacy_state_files() {
    let dir =
        std::env::temp_dir().join(format!("keysmith-env0-{}", super::super::store::uuid_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let options = Options {
        state_file: Some(path.clone()),
        ..Options::default()
    };
    let server = Server::start(options.clone()).await;
    let admin = Env0::seeded(&server);
    let r = admin
        .call("POST", "/organizations", Some(json!({ "name": "durable" })))
        .await;
    let org = r.json()["id"].as_str().unwrap().to_owned();
    let r = admin
        .call(
            "POST",
            "/api-keys",
            Some(json!({ "name": "k", "organizationId": org,
                "permissions": { "organizationRole": "Admin" } })),
        )
        .await;
    let key = admin.of(&r.json());
    server.stop().await;

    let server = Server::start(options.clone()).await;
    let key = Env0 {
        addr: server.addr,
        ..key
    };
    let r = key.call("GET", "/api-keys", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()[0]["name"], "k");
    let credentials = server.sandbox.credentials();
    server.stop().await;

    // A state file written before env0, Braintrust and Traceloop were emulated: their parts
    // are `{}`; they are seeded from the credentials the file holds.
    let mut file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for vendor in ["env0", "braintrust", "traceloop"] {
        file[vendor] = json!({});
    }
    std::fs::write(&path, file.to_string()).unwrap();
    let server = Server::start(options).await;
    assert_eq!(server.sandbox.credentials(), credentials);
    let r = Env0::seeded(&server)
        .call("GET", "/organizations", None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["id"], credentials.env0.organization_id);
    let auth = format!("Bearer {}", credentials.braintrust.api_key);
    let r = send(
        server.addr,
        "GET",
        "/v1/organization",
        &[("Authorization", &auth)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["objects"][0]["id"], credentials.braintrust.org_id);
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn faults_use_env0_bodies() {
    let server = Server::start(Options::default()).await;
    let client = Env0::seeded(&server);
    server.set_faults("throttle_rate=1").await;
    let r = client.call("GET", "/organizations", None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["message"], "Too Many Requests");
    server.set_faults("error_rate=1").await;
    let r = client.call("GET", "/api-keys", None).await;
    assert_eq!(r.status, 503);
    assert!(r.json()["message"].is_string());
    // Ambiguous: the key is created, the answer lost.
    server.set_faults("ambiguous_rate=1").await;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", client.id, client.secret))
    );
    let body = json!({ "name": "maybe", "permissions": { "organizationRole": "Admin" } });
    let err = send(
        server.addr,
        "POST",
        "/api-keys",
        &[("Authorization", &auth)],
        body.to_string().as_bytes(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    server.set_faults("").await;
    let state = server.state().await;
    assert_eq!(state["env0"]["orgs"][0]["api_keys"][1]["name"], "maybe");
    server.stop().await;
}

#[tokio::test]
async fn a_test_hook_sets_the_reported_creation_date() {
    let server = Server::start(Options::default()).await;
    let env0 = Env0::seeded(&server);
    let r = env0
        .call(
            "POST",
            "/api-keys",
            Some(json!({ "name": "dated", "permissions": { "organizationRole": "User" } })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let hook = format!("/_sandbox/env0/api_keys/{id}/created");
    for created in ["9999-12-31T23:00:00Z", "2020-02-29T12:34:56.789+02:00"] {
        let body = json!({ "created": created }).to_string();
        let r = send(server.addr, "POST", &hook, &[], body.as_bytes())
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["createdAt"], created);
        let keys = env0.call("GET", "/api-keys", None).await.json();
        let key = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id.as_str())
            .cloned()
            .unwrap();
        assert_eq!(key["createdAt"], created, "reported verbatim");
        let state = server.state().await;
        assert!(state.to_string().contains(created));
    }
    for (target, body, status) in [
        (hook.as_str(), r#"{"created": "yesterday"}"#, 400),
        (hook.as_str(), r#"{"created": 5}"#, 400),
        (hook.as_str(), r#"{}"#, 400),
        (hook.as_str(), "not json", 400),
        (
            "/_sandbox/env0/api_keys/nope/created",
            r#"{"created": "2030-01-01T00:00:00Z"}"#,
            404,
        ),
    ] {
        let r = send(server.addr, "POST", target, &[], body.as_bytes())
            .await
            .unwrap();
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.json()["error"].is_string());
    }
    server.stop().await;
}
