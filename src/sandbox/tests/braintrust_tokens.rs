//! Braintrust service accounts and service tokens over real HTTP: who may create them, the
//! routes' shapes, listing, authentication with a token, persistence, reset and faults.

use serde_json::{json, Value};

use super::{send, Options, Reply, Server};

/// Speaks Braintrust with a bearer credential.
#[derive(Clone)]
struct Bt {
    addr: std::net::SocketAddr,
    key: String,
}

impl Bt {
    /// The seeded organization-owner service token.
    fn owner(server: &Server) -> Bt {
        Bt {
            addr: server.addr,
            key: server.sandbox.credentials().braintrust.service_token,
        }
    }

    /// The seeded user API key.
    fn user(server: &Server) -> Bt {
        Bt {
            addr: server.addr,
            key: server.sandbox.credentials().braintrust.api_key,
        }
    }

    fn with(&self, key: &Value) -> Bt {
        Bt {
            addr: self.addr,
            key: key["key"].as_str().unwrap().to_owned(),
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

    async fn create_token(&self, name: &str, account: &str) -> Reply {
        self.call(
            "POST",
            "/v1/service_token",
            Some(json!({ "name": name, "service_account_id": account })),
        )
        .await
    }

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

fn account(server: &Server) -> String {
    server.sandbox.credentials().braintrust.service_account_id
}

fn assert_json_error(r: &Reply, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let error = r.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains(needle), "{error:?} lacks {needle:?}");
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// Adds a service account through the sandbox helper; its id.
async fn add_account(server: &Server, body: Value) -> String {
    let r = send(
        server.addr,
        "POST",
        "/_sandbox/braintrust/service_accounts",
        &[],
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn service_token_lifecycle_and_created_tokens_authenticate() {
    let server = Server::start(Options::default()).await;
    let owner = Bt::owner(&server);
    let c = server.sandbox.credentials().braintrust;
    let r = owner.create_token("ci", &c.service_account_id).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json();
    assert_eq!(
        sorted_keys(&token),
        [
            "created",
            "id",
            "key",
            "name",
            "org_id",
            "preview_name",
            "service_account_email",
            "service_account_id",
            "service_account_name",
        ]
    );
    let key = token["key"].as_str().unwrap();
    assert!(key.starts_with("bt-st-"));
    assert_eq!(
        token["preview_name"],
        format!("bt-st-****{}", &key[key.len() - 4..])
    );
    assert_eq!(token["org_id"], c.org_id);
    assert_eq!(token["service_account_id"], c.service_account_id);
    assert_eq!(token["service_account_name"], "keysmith-sandbox");
    assert!(token["created"].as_str().unwrap().ends_with('Z'));
    let id = token["id"].as_str().unwrap().to_owned();

    // The new token authenticates (it is the owner's service account's, so it creates too).
    let created = owner.with(&token);
    let r = created.call("GET", "/v1/organization", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["objects"][0]["id"], c.org_id);

    // Reads never show the raw key.
    let r = owner
        .call("GET", &format!("/v1/service_token/{id}"), None)
        .await;
    assert_eq!(r.status, 200);
    let mut shown = token.clone();
    shown.as_object_mut().unwrap().remove("key");
    assert_eq!(r.json(), shown);

    let second = created
        .create_token("ci", &c.service_account_id)
        .await
        .json();
    let newest = owner.ids("/v1/service_token").await;
    assert_eq!(newest.len(), 3, "the seeded token and two");
    assert_eq!(newest[0], second["id"].as_str().unwrap());
    assert_eq!(newest[1], id);
    assert_eq!(
        owner
            .ids("/v1/service_token?service_token_name=ci&limit=1")
            .await,
        [second["id"].as_str().unwrap()]
    );
    assert_eq!(
        owner
            .ids(&format!("/v1/service_token?starting_after={}", newest[0]))
            .await,
        newest[1..]
    );
    assert_eq!(
        owner.ids(&format!("/v1/service_token?ids={id}")).await,
        [id.as_str()]
    );
    assert_eq!(
        owner
            .ids(&format!("/v1/service_token?org_name={}", c.org_name))
            .await
            .len(),
        3
    );
    assert!(owner
        .ids("/v1/service_token?org_name=nowhere")
        .await
        .is_empty());
    // A user API key reads them too.
    assert_eq!(Bt::user(&server).ids("/v1/service_token").await.len(), 3);

    let r = owner
        .call("DELETE", &format!("/v1/service_token/{id}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), shown, "the deleted object");
    assert_eq!(
        created.call("GET", "/v1/organization", None).await.status,
        401,
        "a deleted token stops authenticating"
    );
    let r = owner
        .call("GET", &format!("/v1/service_token/{id}"), None)
        .await;
    assert_json_error(&r, 404, "not found");
    let r = owner
        .call("DELETE", &format!("/v1/service_token/{id}"), None)
        .await;
    assert_json_error(&r, 404, "not found");
    // The single-token DELETE with a body.
    let r = owner
        .call(
            "DELETE",
            "/v1/service_token",
            Some(json!({ "id": second["id"] })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(owner.ids("/v1/service_token").await.len(), 1);

    let state = server.state().await;
    assert!(state["requests"]["braintrust.service_tokens.create"].as_u64() >= Some(2));
    assert!(state["requests"]["braintrust.service_tokens.delete"].as_u64() >= Some(3));
    server.stop().await;
}

#[tokio::test]
async fn only_an_organization_owner_service_token_creates_service_tokens() {
    let server = Server::start(Options::default()).await;
    let owner = Bt::owner(&server);
    let sa = account(&server);

    let r = Bt::user(&server).create_token("nope", &sa).await;
    assert_json_error(&r, 403, "User API keys cannot be used");
    assert!(r.text().contains("organization-owner permissions"));
    let r = Bt::user(&server)
        .call(
            "PUT",
            "/v1/service_token",
            Some(json!({ "name": "nope", "service_account_id": sa })),
        )
        .await;
    assert_json_error(&r, 403, "User API keys cannot be used");
    // An API key made with the owner token is a user-style key of the service account: it
    // cannot create service tokens either.
    let r = owner
        .call("POST", "/v1/api_key", Some(json!({ "name": "by-token" })))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let api_key = r.json();
    assert_eq!(api_key["user_id"], sa);
    assert!(api_key["user_email"].as_str().unwrap().contains(&sa));
    let r = owner.with(&api_key).create_token("nope", &sa).await;
    assert_json_error(&r, 403, "User API keys cannot be used");

    // A service account that is not an owner: its tokens authenticate but cannot create.
    let member = add_account(&server, json!({ "name": "member" })).await;
    let r = owner.create_token("member-token", &member).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let member_token = owner.with(&r.json());
    assert_eq!(
        member_token
            .call("GET", "/v1/service_token", None)
            .await
            .status,
        200
    );
    let r = member_token.create_token("nope", &member).await;
    assert_json_error(&r, 403, "organization-owner permissions");
    // An owner service account added later can.
    let boss = add_account(&server, json!({ "name": "boss", "org_owner": true })).await;
    let boss_token = owner.with(&owner.create_token("boss", &boss).await.json());
    assert_eq!(boss_token.create_token("x", &member).await.status, 200);

    // Nothing was created by the refused requests.
    let names: Vec<Value> = owner.call("GET", "/v1/service_token", None).await.json()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert!(!names.contains(&json!("nope")), "{names:?}");
    server.stop().await;
}

#[tokio::test]
async fn service_token_requests_are_validated() {
    let server = Server::start(Options::default()).await;
    let owner = Bt::owner(&server);
    let sa = account(&server);
    let missing = "00000000-0000-4000-8000-000000000000";
    for (body, needle) in [
        (json!({ "service_account_id": sa }), "name: Required"),
        (json!({ "name": " ", "service_account_id": sa }), "name"),
        (json!({ "name": "x" }), "service_account_id: Required"),
        (
            json!({ "name": "x", "service_account_id": "sa-1" }),
            "not a UUID",
        ),
        (
            json!({ "name": 5, "service_account_id": sa }),
            "Expected string",
        ),
        (
            json!({ "name": "x", "service_account_id": missing }),
            "service_account_id",
        ),
        (json!([1]), "JSON object"),
    ] {
        let r = owner
            .call("POST", "/v1/service_token", Some(body.clone()))
            .await;
        assert_json_error(&r, 400, needle);
    }
    // A service account of another organization is unknown here.
    let r = send(
        server.addr,
        "POST",
        "/_sandbox/braintrust/organizations",
        &[],
        br#"{"name": "elsewhere"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201);
    let foreign = add_account(&server, json!({ "name": "f", "org_name": "elsewhere" })).await;
    let r = owner.create_token("x", &foreign).await;
    assert_json_error(&r, 400, "service_account_id");
    // The seeded service account belongs to its organization only.
    let r = owner
        .call(
            "POST",
            "/v1/service_token",
            Some(json!({ "name": "x", "service_account_id": sa, "org_name": "elsewhere" })),
        )
        .await;
    assert_json_error(&r, 403, "does not belong");
    let orgs: Vec<String> = owner.ids("/v1/organization").await;
    assert_eq!(orgs, [server.sandbox.credentials().braintrust.org_id]);
    assert_eq!(Bt::user(&server).ids("/v1/organization").await.len(), 2);
    for target in ["/v1/service_token/nope", "/v1/service_token?limit=x"] {
        let r = owner.call("GET", target, None).await;
        assert_json_error(&r, 400, "Invalid");
    }
    let r = owner
        .call("DELETE", "/v1/service_token", Some(json!({})))
        .await;
    assert_json_error(&r, 400, "id: Required");
    server.stop().await;
}

#[tokio::test]
async fn put_creates_or_replaces_by_name() {
    let server = Server::start(Options::default()).await;
    let owner = Bt::owner(&server);
    let sa = account(&server);
    let put = |name: &str| {
        let owner = owner.clone();
        let body = json!({ "name": name, "service_account_id": sa });
        async move { owner.call("PUT", "/v1/service_token", Some(body)).await }
    };
    let r = put("deploy").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let first = r.json();
    let r = put("deploy").await;
    assert_eq!(r.status, 200);
    let second = r.json();
    assert_eq!(second["id"], first["id"], "replaced, not added");
    assert_ne!(second["key"], first["key"]);
    assert_eq!(
        owner
            .with(&first)
            .call("GET", "/v1/organization", None)
            .await
            .status,
        401,
        "the replaced key stops authenticating"
    );
    assert_eq!(
        owner
            .with(&second)
            .call("GET", "/v1/organization", None)
            .await
            .status,
        200
    );
    assert_eq!(
        owner
            .ids("/v1/service_token?service_token_name=deploy")
            .await
            .len(),
        1
    );
    assert_eq!(
        server.state().await["requests"]["braintrust.service_tokens.replace"],
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn service_tokens_persist_reset_and_show_in_the_state() {
    let dir = std::env::temp_dir().join(format!(
        "keysmith-braintrust-tokens-{}",
        crate::sandbox::store::uuid_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let options = Options {
        state_file: Some(path.clone()),
        ..Options::default()
    };
    let server = Server::start(options.clone()).await;
    let owner = Bt::owner(&server);
    let member = add_account(&server, json!({ "name": "member" })).await;
    let token = owner.create_token("durable", &member).await.json();
    let state = server.state().await;
    let text = state.to_string();
    assert!(
        !text.contains(token["key"].as_str().unwrap()),
        "no raw token"
    );
    assert!(!text.contains(&owner.key), "no raw seeded token");
    let bt = &state["braintrust"];
    assert_eq!(bt["service_accounts"].as_array().unwrap().len(), 2);
    assert_eq!(bt["service_accounts"][0]["seeded"], true);
    assert_eq!(bt["service_accounts"][0]["org_owner"], true);
    assert_eq!(bt["service_accounts"][1]["org_owner"], false);
    assert_eq!(bt["service_tokens"][0]["seeded"], true);
    assert_eq!(bt["service_tokens"][1]["name"], "durable");
    assert_eq!(bt["service_tokens"][1]["service_account_id"], member);
    server.stop().await;

    let server = Server::start(options).await;
    let durable = Bt::owner(&server).with(&token);
    assert_eq!(
        durable.call("GET", "/v1/organization", None).await.status,
        200
    );
    let r = send(server.addr, "POST", "/_sandbox/reset", &[], b"")
        .await
        .unwrap();
    let bt = r.json()["braintrust"].clone();
    assert_eq!(bt["service_accounts"].as_array().unwrap().len(), 1);
    assert_eq!(bt["service_tokens"].as_array().unwrap().len(), 1);
    assert_eq!(
        durable.call("GET", "/v1/organization", None).await.status,
        401
    );
    assert_eq!(
        Bt::owner(&server)
            .create_token("after-reset", &account(&server))
            .await
            .status,
        200
    );
    server.stop().await;

    // A state file written before service tokens were emulated gets a seeded one.
    let mut old: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let creds = old["credentials"]["braintrust"].as_object_mut().unwrap();
    creds.remove("service_token");
    creds.remove("service_account_id");
    let data = old["braintrust"].as_object_mut().unwrap();
    data.remove("service_accounts");
    data.remove("service_tokens");
    data["seed"]
        .as_object_mut()
        .unwrap()
        .remove("service_token_id");
    std::fs::write(&path, old.to_string()).unwrap();
    let server = Server::start(Options {
        state_file: Some(path.clone()),
        ..Options::default()
    })
    .await;
    let c = server.sandbox.credentials().braintrust;
    assert!(c.service_token.starts_with("bt-st-"));
    let r = Bt::owner(&server)
        .create_token("legacy", &c.service_account_id)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn service_token_routes_take_rate_limits_faults_and_the_created_hook() {
    let server = Server::start(Options::default()).await;
    let owner = Bt::owner(&server);
    let token = owner.create_token("dated", &account(&server)).await.json();
    let id = token["id"].as_str().unwrap();

    let hook = format!("/_sandbox/braintrust/service_tokens/{id}/created");
    let r = send(
        server.addr,
        "POST",
        &hook,
        &[],
        br#"{"created": "9999-12-31T23:00:00Z"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = owner
        .call("GET", &format!("/v1/service_token/{id}"), None)
        .await;
    assert_eq!(r.json()["created"], "9999-12-31T23:00:00Z");
    let r = send(
        server.addr,
        "POST",
        "/_sandbox/braintrust/service_tokens/00000000-0000-4000-8000-000000000000/created",
        &[],
        br#"{"created": "9999-12-31T23:00:00Z"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 404);

    server.set_faults("error_rate=1,methods=PUT").await;
    let r = owner
        .call(
            "PUT",
            "/v1/service_token",
            Some(json!({ "name": "x", "service_account_id": account(&server) })),
        )
        .await;
    assert_json_error(&r, 503, "unavailable");
    assert_eq!(
        owner.call("GET", "/v1/service_token", None).await.status,
        200
    );
    server.set_faults("").await;

    let r = send(
        server.addr,
        "POST",
        "/_sandbox/braintrust/rate_limit",
        &[],
        br#"{"limit": 1, "window_secs": 60}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        owner.call("GET", "/v1/service_token", None).await.status,
        200
    );
    let r = owner.call("GET", "/v1/service_token", None).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    server.stop().await;
}
