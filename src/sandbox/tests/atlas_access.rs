//! Atlas API-key access lists and project assignments over real HTTP, with Digest.

use serde_json::{json, Value};

use super::{keys_path, send, AtlasClient, Options, Reply, Server, ACCEPT};

fn assert_api_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let body = r.json();
    assert_eq!(body["error"], status);
    assert_eq!(body["errorCode"], code, "{body}");
    assert!(body["detail"].is_string());
}

/// A new key of the seeded org, with its client.
async fn new_key(server: &Server, roles: &[&str]) -> (Value, AtlasClient) {
    let org = server.sandbox.credentials().atlas.org_id;
    let r = server
        .atlas()
        .call(
            "POST",
            &keys_path(&org),
            Some(json!({ "desc": "scoped", "roles": roles })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let key = r.json();
    let client = AtlasClient {
        addr: server.addr,
        public_key: key["publicKey"].as_str().unwrap().to_owned(),
        private_key: key["privateKey"].as_str().unwrap().to_owned(),
    };
    (key, client)
}

async fn add_project(server: &Server, org: &str) -> String {
    let r = send(
        server.addr,
        "POST",
        &format!("/_sandbox/atlas/orgs/{org}/projects"),
        &[],
        br#"{"name": "p"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201);
    r.json()["id"].as_str().unwrap().to_owned()
}

fn blocks(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cidrBlock"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn access_list_entries_are_added_listed_read_and_removed() {
    let server = Server::start(Options::default()).await;
    let owner = server.atlas();
    let org = server.sandbox.credentials().atlas.org_id;
    let (key, _) = new_key(&server, &["ORG_MEMBER"]).await;
    let id = key["id"].as_str().unwrap();
    let list = format!("{}/{id}/accessList", keys_path(&org));

    let r = owner.call("GET", &list, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["results"], json!([]));
    assert_eq!(r.json()["totalCount"], 0);

    let r = owner
        .call(
            "POST",
            &list,
            Some(json!([
                { "ipAddress": "203.0.113.7" },
                { "cidrBlock": "198.51.100.0/24" },
                { "ipAddress": "2001:DB8::0001" },
                { "cidrBlock": "2001:db8:abcd::/48" },
            ])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/vnd.atlas.2023-01-01+json")));
    let page = r.json();
    assert_eq!(
        blocks(&page),
        [
            "203.0.113.7/32",
            "198.51.100.0/24",
            "2001:db8:0:0:0:0:0:1/128",
            "2001:db8:abcd:0:0:0:0:0/48"
        ]
    );
    assert_eq!(page["totalCount"], 4);
    let first = &page["results"][0];
    assert_eq!(first["ipAddress"], "203.0.113.7");
    assert!(first["created"].as_str().unwrap().ends_with('Z'));
    assert!(first["links"][0]["href"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/apiKeys/{id}/accessList/203.0.113.7")));
    assert!(page["results"][1].get("ipAddress").is_none());
    assert!(page["results"][1]["links"][0]["href"]
        .as_str()
        .unwrap()
        .ends_with("/accessList/198.51.100.0%2F24"));
    assert_eq!(page["results"][2]["ipAddress"], "2001:db8:0:0:0:0:0:1");

    // Paginated like the other lists.
    let r = owner
        .call("GET", &format!("{list}?pageNum=2&itemsPerPage=3"), None)
        .await;
    assert_eq!(blocks(&r.json()), ["2001:db8:abcd:0:0:0:0:0/48"]);
    assert_eq!(r.json()["links"][0]["rel"], "previous");

    // One entry: by address, by the URL-encoded block, IPv6 in any spelling.
    for (target, block) in [
        ("203.0.113.7", "203.0.113.7/32"),
        ("203.0.113.7%2F32", "203.0.113.7/32"),
        ("198.51.100.0%2F24", "198.51.100.0/24"),
        ("198.51.100.0%2f24", "198.51.100.0/24"),
        ("2001:db8::1", "2001:db8:0:0:0:0:0:1/128"),
    ] {
        let r = owner.call("GET", &format!("{list}/{target}"), None).await;
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        assert_eq!(r.json()["cidrBlock"], block);
    }
    let r = owner
        .call("GET", &format!("{list}/198.51.100.1%2F32"), None)
        .await;
    assert_api_error(&r, 404, "ACCESS_LIST_ENTRY_NOT_FOUND");
    let r = owner.call("GET", &format!("{list}/not-an-ip"), None).await;
    assert_api_error(&r, 400, "PATH_PARAM_PARSE_ERROR");

    // Kept in the store and shown (without secrets) in the state.
    let state = server.state().await;
    let entries = state["atlas"]["orgs"][0]["api_keys"][1]["access_list"].clone();
    assert_eq!(entries.as_array().unwrap().len(), 4);
    assert_eq!(entries[1]["cidr_block"], "198.51.100.0/24");

    let r = owner
        .call("DELETE", &format!("{list}/198.51.100.0%2F24"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    let r = owner
        .call("DELETE", &format!("{list}/198.51.100.0%2F24"), None)
        .await;
    assert_api_error(&r, 404, "ACCESS_LIST_ENTRY_NOT_FOUND");
    let r = owner
        .call("DELETE", &format!("{list}/2001:db8::1"), None)
        .await;
    assert_eq!(r.status, 204);
    let r = owner.call("GET", &list, None).await;
    assert_eq!(
        blocks(&r.json()),
        ["203.0.113.7/32", "2001:db8:abcd:0:0:0:0:0/48"]
    );

    let state = server.state().await;
    assert!(state["requests"]["atlas.access_list.create"].as_u64() >= Some(1));
    assert!(state["requests"]["atlas.access_list.delete"].as_u64() >= Some(3));
    server.stop().await;
}

#[tokio::test]
async fn access_list_requests_are_validated() {
    let server = Server::start(Options::default()).await;
    let owner = server.atlas();
    let org = server.sandbox.credentials().atlas.org_id;
    let (key, _) = new_key(&server, &["ORG_MEMBER"]).await;
    let id = key["id"].as_str().unwrap();
    let list = format!("{}/{id}/accessList", keys_path(&org));
    let r = owner
        .call("POST", &list, Some(json!([{ "ipAddress": "192.0.2.1" }])))
        .await;
    assert_eq!(r.status, 200);

    for (body, status, code) in [
        (
            json!([{ "cidrBlock": "203.0.113.7/24" }]),
            400,
            "INVALID_IP_ADDRESS_OR_CIDR_NOTATION",
        ),
        (
            json!([{ "cidrBlock": "203.0.113.0" }]),
            400,
            "INVALID_IP_ADDRESS_OR_CIDR_NOTATION",
        ),
        (
            json!([{ "ipAddress": "203.0.113.0/24" }]),
            400,
            "INVALID_IP_ADDRESS_OR_CIDR_NOTATION",
        ),
        (
            json!([{ "ipAddress": "300.0.113.1" }]),
            400,
            "INVALID_IP_ADDRESS_OR_CIDR_NOTATION",
        ),
        (
            json!([{ "ipAddress": "192.0.2.9", "cidrBlock": "192.0.2.0/24" }]),
            400,
            "VALIDATION_ERROR",
        ),
        (json!([{}]), 400, "VALIDATION_ERROR"),
        (json!([]), 400, "VALIDATION_ERROR"),
        (json!([{ "ip": "192.0.2.9" }]), 400, "INVALID_ATTRIBUTE"),
        (json!({ "ipAddress": "192.0.2.9" }), 400, "INVALID_JSON"),
        (json!([{ "ipAddress": 7 }]), 400, "INVALID_ATTRIBUTE"),
        // The same entry, however spelled: nothing is added.
        (
            json!([{ "cidrBlock": "192.0.2.1/32" }]),
            409,
            "DUPLICATE_ACCESS_LIST_ENTRY",
        ),
        (
            json!([{ "ipAddress": "192.0.2.50" }, { "cidrBlock": "192.0.2.50/32" }]),
            409,
            "DUPLICATE_ACCESS_LIST_ENTRY",
        ),
    ] {
        let r = owner.call("POST", &list, Some(body.clone())).await;
        assert_api_error(&r, status, code);
    }
    let r = owner.call("GET", &list, None).await;
    assert_eq!(
        blocks(&r.json()),
        ["192.0.2.1/32"],
        "nothing else was added"
    );

    let missing = "0123456789abcdef01234567";
    let r = owner
        .call(
            "GET",
            &format!("{}/{missing}/accessList", keys_path(&org)),
            None,
        )
        .await;
    assert_api_error(&r, 404, "API_KEY_NOT_FOUND");
    let r = owner
        .call(
            "GET",
            &format!("/api/atlas/v2/orgs/{missing}/apiKeys/{id}/accessList"),
            None,
        )
        .await;
    assert_api_error(&r, 404, "ORG_NOT_FOUND");
    let r = owner
        .call(
            "GET",
            &format!("{}/nothex/accessList", keys_path(&org)),
            None,
        )
        .await;
    assert_api_error(&r, 400, "PATH_PARAM_PARSE_ERROR");
    server.stop().await;
}

#[tokio::test]
async fn an_access_list_admits_only_its_addresses() {
    let server = Server::start(Options::default()).await;
    let owner = server.atlas();
    let org = server.sandbox.credentials().atlas.org_id;
    let (key, scoped) = new_key(&server, &["ORG_OWNER"]).await;
    let id = key["id"].as_str().unwrap();
    let list = format!("{}/{id}/accessList", keys_path(&org));
    // No entries: usable from anywhere.
    assert_eq!(
        scoped.call("GET", "/api/atlas/v2/orgs", None).await.status,
        200
    );

    let r = owner
        .call(
            "POST",
            &list,
            Some(json!([{ "cidrBlock": "203.0.113.0/24" }])),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = scoped.call("GET", "/api/atlas/v2/orgs", None).await;
    assert_api_error(&r, 403, "IP_ADDRESS_NOT_ON_ACCESS_LIST");
    assert!(r.json()["detail"].as_str().unwrap().contains("127.0.0.1"));
    // The other keys are not affected.
    assert_eq!(
        owner.call("GET", "/api/atlas/v2/orgs", None).await.status,
        200
    );

    let r = owner
        .call("POST", &list, Some(json!([{ "ipAddress": "127.0.0.1" }])))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        scoped.call("GET", "/api/atlas/v2/orgs", None).await.status,
        200
    );
    let r = scoped.call("GET", &format!("{list}/127.0.0.1"), None).await;
    assert_eq!(r.status, 200);
    let entry = r.json();
    assert!(entry["count"].as_u64() >= Some(1), "{entry}");
    assert_eq!(entry["lastUsedAddress"], "127.0.0.1");
    assert!(entry["lastUsed"].is_string());

    // A key cannot remove the entry that admits its own request; another key can.
    let r = scoped
        .call("DELETE", &format!("{list}/127.0.0.1"), None)
        .await;
    assert_api_error(&r, 400, "CANNOT_REMOVE_CALLER_ACCESS_LIST_ENTRY");
    let r = owner
        .call("DELETE", &format!("{list}/127.0.0.1"), None)
        .await;
    assert_eq!(r.status, 204);
    let r = scoped.call("GET", "/api/atlas/v2/orgs", None).await;
    assert_api_error(&r, 403, "IP_ADDRESS_NOT_ON_ACCESS_LIST");
    server.stop().await;
}

#[tokio::test]
async fn access_list_routes_check_roles() {
    let server = Server::start(Options::default()).await;
    let org = server.sandbox.credentials().atlas.org_id;
    let (key, member) = new_key(&server, &["ORG_MEMBER"]).await;
    let id = key["id"].as_str().unwrap();
    let list = format!("{}/{id}/accessList", keys_path(&org));
    assert_eq!(member.call("GET", &list, None).await.status, 200);
    let r = member
        .call("POST", &list, Some(json!([{ "ipAddress": "127.0.0.1" }])))
        .await;
    assert_api_error(&r, 403, "USER_UNAUTHORIZED");
    // A key of another organization reads nothing here.
    let r = server
        .atlas()
        .call(
            "POST",
            "/api/atlas/v2/orgs",
            Some(json!({ "name": "other", "orgOwnerId": org, "apiKey": { "desc": "o", "roles": ["ORG_OWNER"] } })),
        )
        .await;
    assert_eq!(r.status, 201);
    let other = AtlasClient {
        addr: server.addr,
        public_key: r.json()["apiKey"]["publicKey"].as_str().unwrap().to_owned(),
        private_key: r.json()["apiKey"]["privateKey"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    let r = other.call("GET", &list, None).await;
    assert_api_error(&r, 403, "USER_UNAUTHORIZED");
    server.stop().await;
}

#[tokio::test]
async fn keys_are_assigned_to_projects_with_roles() {
    let server = Server::start(Options::default()).await;
    let owner = server.atlas();
    let org = server.sandbox.credentials().atlas.org_id;
    let project = add_project(&server, &org).await;
    let other_project = add_project(&server, &org).await;
    let (key, member) = new_key(&server, &["ORG_MEMBER"]).await;
    let id = key["id"].as_str().unwrap();
    let group_keys = format!("/api/atlas/v2/groups/{project}/apiKeys");
    let assigned = format!("{group_keys}/{id}");

    let r = owner.call("GET", &group_keys, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["results"], json!([]));

    let r = owner
        .call(
            "POST",
            &assigned,
            Some(json!([{ "roles": ["GROUP_READ_ONLY", "GROUP_DATA_ACCESS_READ_ONLY"] }])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    let r = owner
        .call(
            "POST",
            &assigned,
            Some(json!([{ "roles": ["GROUP_OWNER"] }])),
        )
        .await;
    assert_api_error(&r, 409, "API_KEY_ALREADY_IN_GROUP");

    // The project roles appear in `roles` on every key route and in the project's listing.
    let expect = json!([
        { "orgId": org, "roleName": "ORG_MEMBER" },
        { "groupId": project, "roleName": "GROUP_READ_ONLY" },
        { "groupId": project, "roleName": "GROUP_DATA_ACCESS_READ_ONLY" },
    ]);
    let r = owner
        .call("GET", &format!("{}/{id}", keys_path(&org)), None)
        .await;
    assert_eq!(r.json()["roles"], expect);
    let r = owner.call("GET", &keys_path(&org), None).await;
    assert_eq!(r.json()["results"][1]["roles"], expect);
    let r = owner.call("GET", &group_keys, None).await;
    assert_eq!(r.json()["totalCount"], 1);
    assert_eq!(r.json()["results"][0]["id"], id);
    assert_eq!(r.json()["results"][0]["roles"], expect);
    assert!(r.json()["results"][0]["privateKey"]
        .as_str()
        .unwrap()
        .starts_with("********"));
    // The assigned key reads its project (Project Read Only), but not another.
    assert_eq!(member.call("GET", &group_keys, None).await.status, 200);
    let r = member
        .call(
            "GET",
            &format!("/api/atlas/v2/groups/{other_project}/apiKeys"),
            None,
        )
        .await;
    assert_api_error(&r, 403, "USER_UNAUTHORIZED");
    let r = member.call("DELETE", &assigned, None).await;
    assert_api_error(&r, 403, "USER_UNAUTHORIZED");

    // PATCH replaces this project's roles (and may change desc).
    let r = owner
        .call(
            "PATCH",
            &assigned,
            Some(json!({ "roles": ["GROUP_OWNER"], "desc": "renamed" })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["roles"],
        json!([
            { "orgId": org, "roleName": "ORG_MEMBER" },
            { "groupId": project, "roleName": "GROUP_OWNER" },
        ])
    );
    assert_eq!(r.json()["desc"], "renamed");
    let state = server.state().await;
    assert_eq!(
        state["atlas"]["orgs"][0]["api_keys"][1]["project_roles"],
        json!([{ "group_id": project, "role_name": "GROUP_OWNER" }])
    );
    // GROUP_OWNER in the project lets the key manage it.
    let r = member
        .call(
            "PATCH",
            &assigned,
            Some(json!({ "roles": ["GROUP_OWNER", "GROUP_READ_ONLY"] })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // DELETE unassigns; again is 404.
    let r = owner.call("DELETE", &assigned, None).await;
    assert_eq!(r.status, 204);
    let r = owner.call("DELETE", &assigned, None).await;
    assert_api_error(&r, 404, "API_KEY_NOT_IN_GROUP");
    let r = owner
        .call(
            "PATCH",
            &assigned,
            Some(json!({ "roles": ["GROUP_OWNER"] })),
        )
        .await;
    assert_api_error(&r, 404, "API_KEY_NOT_IN_GROUP");
    let r = owner
        .call("GET", &format!("{}/{id}", keys_path(&org)), None)
        .await;
    assert_eq!(
        r.json()["roles"],
        json!([{ "orgId": org, "roleName": "ORG_MEMBER" }])
    );
    let state = server.state().await;
    assert!(state["requests"]["atlas.project_keys.assign"].as_u64() >= Some(2));
    assert!(state["requests"]["atlas.project_keys.unassign"].as_u64() >= Some(2));
    server.stop().await;
}

#[tokio::test]
async fn project_assignments_are_validated() {
    let server = Server::start(Options::default()).await;
    let owner = server.atlas();
    let org = server.sandbox.credentials().atlas.org_id;
    let project = add_project(&server, &org).await;
    let (key, _) = new_key(&server, &["ORG_MEMBER"]).await;
    let id = key["id"].as_str().unwrap();
    let assigned = format!("/api/atlas/v2/groups/{project}/apiKeys/{id}");
    for (body, code) in [
        (
            json!([{ "roles": ["GROUP_MAGICIAN"] }]),
            "INVALID_ENUM_VALUE",
        ),
        (json!([{ "roles": ["ORG_OWNER"] }]), "INVALID_ENUM_VALUE"),
        (json!([{ "roles": [] }]), "VALIDATION_ERROR"),
        (json!([]), "MISSING_ATTRIBUTE"),
        (json!([{}]), "MISSING_ATTRIBUTE"),
        (json!({ "roles": ["GROUP_OWNER"] }), "INVALID_JSON"),
        (
            json!([{ "roles": ["GROUP_OWNER"], "extra": 1 }]),
            "INVALID_ATTRIBUTE",
        ),
    ] {
        let r = owner.call("POST", &assigned, Some(body)).await;
        assert_api_error(&r, 400, code);
    }
    let r = owner.call("PATCH", &assigned, Some(json!({}))).await;
    assert_api_error(&r, 400, "VALIDATION_ERROR");

    // Unknown project, foreign key, malformed ids.
    let missing = "0123456789abcdef01234567";
    let r = owner
        .call(
            "POST",
            &format!("/api/atlas/v2/groups/{missing}/apiKeys/{id}"),
            Some(json!([{ "roles": ["GROUP_OWNER"] }])),
        )
        .await;
    assert_api_error(&r, 404, "GROUP_NOT_FOUND");
    let r = owner
        .call(
            "GET",
            &format!("/api/atlas/v2/groups/{missing}/apiKeys"),
            None,
        )
        .await;
    assert_api_error(&r, 404, "GROUP_NOT_FOUND");
    let r = owner
        .call(
            "POST",
            &format!("/api/atlas/v2/groups/{project}/apiKeys/{missing}"),
            Some(json!([{ "roles": ["GROUP_OWNER"] }])),
        )
        .await;
    assert_api_error(&r, 404, "API_KEY_NOT_FOUND");
    let r = owner
        .call(
            "POST",
            "/api/atlas/v2/orgs",
            Some(json!({ "name": "elsewhere", "orgOwnerId": org })),
        )
        .await;
    let elsewhere = r.json()["organization"]["id"].as_str().unwrap().to_owned();
    let foreign = add_project(&server, &elsewhere).await;
    let r = owner
        .call(
            "POST",
            &format!("/api/atlas/v2/groups/{foreign}/apiKeys/{id}"),
            Some(json!([{ "roles": ["GROUP_OWNER"] }])),
        )
        .await;
    assert_api_error(&r, 403, "USER_UNAUTHORIZED");
    let r = owner
        .call("GET", "/api/atlas/v2/groups/nothex/apiKeys", None)
        .await;
    assert_api_error(&r, 400, "PATH_PARAM_PARSE_ERROR");
    server.stop().await;
}

#[tokio::test]
async fn a_key_can_be_created_in_a_project() {
    let server = Server::start(Options::default()).await;
    let owner = server.atlas();
    let org = server.sandbox.credentials().atlas.org_id;
    let project = add_project(&server, &org).await;
    let r = owner
        .call(
            "POST",
            &format!("/api/atlas/v2/groups/{project}/apiKeys"),
            Some(json!({ "desc": "project key", "roles": ["GROUP_READ_ONLY"] })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let key = r.json();
    assert!(!key["privateKey"].as_str().unwrap().starts_with('*'));
    assert_eq!(
        key["roles"],
        json!([
            { "orgId": org, "roleName": "ORG_MEMBER" },
            { "groupId": project, "roleName": "GROUP_READ_ONLY" },
        ])
    );
    let created = AtlasClient {
        addr: server.addr,
        public_key: key["publicKey"].as_str().unwrap().to_owned(),
        private_key: key["privateKey"].as_str().unwrap().to_owned(),
    };
    let r = created
        .call(
            "GET",
            &format!("/api/atlas/v2/groups/{project}/apiKeys"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["results"][0]["id"], key["id"]);
    let r = owner
        .call(
            "POST",
            &format!("/api/atlas/v2/groups/{project}/apiKeys"),
            Some(json!({ "desc": "x", "roles": ["ORG_OWNER"] })),
        )
        .await;
    assert_api_error(&r, 400, "INVALID_ENUM_VALUE");
    server.stop().await;
}

#[tokio::test]
async fn access_lists_and_assignments_persist_and_take_faults() {
    let dir = std::env::temp_dir().join(format!(
        "keysmith-sandbox-test-{}",
        crate::sandbox::store::uuid_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let options = Options {
        state_file: Some(dir.join("state.json")),
        ..Options::default()
    };
    let server = Server::start(options.clone()).await;
    let owner = server.atlas();
    let org = server.sandbox.credentials().atlas.org_id;
    let project = add_project(&server, &org).await;
    let (key, _) = new_key(&server, &["ORG_MEMBER"]).await;
    let id = key["id"].as_str().unwrap().to_owned();
    let list = format!("{}/{id}/accessList", keys_path(&org));
    let assigned = format!("/api/atlas/v2/groups/{project}/apiKeys/{id}");
    owner
        .call("POST", &list, Some(json!([{ "cidrBlock": "10.0.0.0/8" }])))
        .await;
    owner
        .call(
            "POST",
            &assigned,
            Some(json!([{ "roles": ["GROUP_READ_ONLY"] }])),
        )
        .await;
    server.stop().await;

    let server = Server::start(options).await;
    let owner = server.atlas();
    let r = owner.call("GET", &list, None).await;
    assert_eq!(blocks(&r.json()), ["10.0.0.0/8"]);
    let r = owner
        .call("GET", &format!("{}/{id}", keys_path(&org)), None)
        .await;
    assert_eq!(r.json()["roles"][1]["groupId"], project.as_str());

    // Faults apply to the new routes (with Atlas's bodies).
    let nonce = owner.nonce("POST", &list).await;
    server.set_faults("error_rate=1,methods=POST").await;
    let auth = super::digest_header(
        &owner.public_key,
        &owner.private_key,
        "POST",
        &list,
        &nonce,
        1,
    );
    let r = send(
        server.addr,
        "POST",
        &list,
        &[("Authorization", &auth), ("Accept", ACCEPT)],
        br#"[{"ipAddress": "10.1.1.1"}]"#,
    )
    .await
    .unwrap();
    assert_api_error(&r, 503, "SERVICE_UNAVAILABLE");
    server.set_faults("").await;
    // Deleting the key deletes its entries and assignments with it.
    let r = owner
        .call("DELETE", &format!("{}/{id}", keys_path(&org)), None)
        .await;
    assert_eq!(r.status, 204);
    let r = owner
        .call(
            "GET",
            &format!("/api/atlas/v2/groups/{project}/apiKeys"),
            None,
        )
        .await;
    assert_eq!(r.json()["results"], json!([]));
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
