//! Tests of the sandbox over real HTTP: an in-process server on a free port and a minimal
//! HTTP/1.1 client written here, so faults that drop connections are observed as a client
//! sees them. Digest responses are computed here independently of `digest.rs`.

use std::net::SocketAddr;
use std::time::Duration;

use md5::{Digest as _, Md5};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Faults, Options, Sandbox, SandboxError};

mod atlas_access;
mod braintrust;
mod braintrust_tokens;
mod connections;
mod env0;
mod traceloop;

const ACCEPT: &str = "application/vnd.atlas.2023-01-01+json";

/// A sandbox served in-process until dropped or stopped.
struct Server {
    addr: SocketAddr,
    sandbox: Sandbox,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), SandboxError>>>,
}

impl Server {
    async fn start(options: Options) -> Server {
        let sandbox = Sandbox::open(options).expect("open");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(sandbox.clone().serve(listener, async move {
            let _ = rx.await;
        }));
        Server {
            addr,
            sandbox,
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("serve");
        }
    }

    fn atlas(&self) -> AtlasClient {
        let c = self.sandbox.credentials().atlas;
        AtlasClient {
            addr: self.addr,
            public_key: c.public_key,
            private_key: c.private_key,
        }
    }

    async fn state(&self) -> Value {
        send(self.addr, "GET", "/_sandbox/state", &[], b"")
            .await
            .expect("state")
            .json()
    }

    async fn set_faults(&self, spec: &str) {
        let r = send(self.addr, "POST", "/_sandbox/faults", &[], spec.as_bytes())
            .await
            .expect("faults");
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
}

/// Sends one request on a fresh connection and reads the whole answer. An `Err` of kind
/// `UnexpectedEof` means the server closed the connection without answering.
async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    match tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if raw.is_empty() => {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, e))
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(std::io::Error::other("timed out")),
    }
    if raw.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed without a response",
        ));
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 2 + size + 2..];
        }
        body = out;
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// Value of `name="…"` in a challenge.
fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let end = challenge[start..].find('"')? + start;
    Some(challenge[start..end].to_owned())
}

fn digest_header(user: &str, pass: &str, method: &str, uri: &str, nonce: &str, nc: u32) -> String {
    let realm = "MMS Public API";
    let cnonce = "f00dfeed";
    let nc = format!("{nc:08x}");
    let ha1 = md5_hex(&format!("{user}:{realm}:{pass}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm=MD5, response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\""
    )
}

/// Speaks Atlas with Digest authentication: one challenge per request.
#[derive(Clone)]
struct AtlasClient {
    addr: SocketAddr,
    public_key: String,
    private_key: String,
}

impl AtlasClient {
    async fn nonce(&self, method: &str, target: &str) -> String {
        let r = send(self.addr, method, target, &[("Accept", ACCEPT)], b"")
            .await
            .expect("challenge");
        assert_eq!(r.status, 401, "{}", r.text());
        challenge_param(r.header("www-authenticate").expect("challenge"), "nonce").unwrap()
    }

    async fn call(&self, method: &str, target: &str, body: Option<Value>) -> Reply {
        self.try_call(method, target, body).await.expect("call")
    }

    async fn try_call(
        &self,
        method: &str,
        target: &str,
        body: Option<Value>,
    ) -> std::io::Result<Reply> {
        let nonce = self.nonce(method, target).await;
        let auth = digest_header(
            &self.public_key,
            &self.private_key,
            method,
            target,
            &nonce,
            1,
        );
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        send(
            self.addr,
            method,
            target,
            &[
                ("Authorization", &auth),
                ("Accept", ACCEPT),
                ("Content-Type", ACCEPT),
            ],
            body.as_bytes(),
        )
        .await
    }
}

fn keys_path(org: &str) -> String {
    format!("/api/atlas/v2/orgs/{org}/apiKeys")
}

#[tokio::test]
async fn digest_challenge_then_correct_and_incorrect_responses() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    let uri = format!("{}?pageNum=1", keys_path(&c.org_id));

    let r = send(server.addr, "GET", &uri, &[("Accept", ACCEPT)], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap().to_owned();
    assert!(challenge.starts_with("Digest realm=\"MMS Public API\", domain=\"\", nonce=\""));
    assert!(challenge.ends_with("algorithm=MD5, qop=\"auth\", stale=false"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["error"], 401);
    assert_eq!(body["reason"], "Unauthorized");
    assert_eq!(body["detail"], "You are not authorized for this resource.");
    let nonce = challenge_param(&challenge, "nonce").unwrap();

    // Wrong password: a new challenge, not stale.
    let bad = digest_header(&c.public_key, "wrong", "GET", &uri, &nonce, 1);
    let r = send(
        server.addr,
        "GET",
        &uri,
        &[("Authorization", &bad), ("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .ends_with("stale=false"));

    // Right password, and the same nonce again with a higher count.
    for nc in [1, 2] {
        let good = digest_header(&c.public_key, &c.private_key, "GET", &uri, &nonce, nc);
        let r = send(
            server.addr,
            "GET",
            &uri,
            &[("Authorization", &good), ("Accept", ACCEPT)],
            b"",
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.atlas.2023-01-01+json;charset=utf-8")
        );
    }

    // A replayed count: stale, with a fresh nonce.
    let replay = digest_header(&c.public_key, &c.private_key, "GET", &uri, &nonce, 2);
    let r = send(
        server.addr,
        "GET",
        &uri,
        &[("Authorization", &replay), ("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    let again = r.header("www-authenticate").unwrap();
    assert!(again.ends_with("stale=true"));
    assert_ne!(challenge_param(again, "nonce").unwrap(), nonce);

    // Signed for another URI: refused.
    let other = digest_header(
        &c.public_key,
        &c.private_key,
        "GET",
        "/elsewhere",
        &nonce,
        3,
    );
    let r = send(
        server.addr,
        "GET",
        &uri,
        &[("Authorization", &other), ("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);

    // Basic is not accepted.
    let r = send(
        server.addr,
        "GET",
        &uri,
        &[("Authorization", "Basic YTpi"), ("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn expired_nonces_are_stale() {
    let server = Server::start(Options {
        nonce_ttl: Duration::from_millis(50),
        ..Options::default()
    })
    .await;
    let c = server.sandbox.credentials().atlas;
    let uri = "/api/atlas/v2/orgs";
    let client = server.atlas();
    let nonce = client.nonce("GET", uri).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let auth = digest_header(&c.public_key, &c.private_key, "GET", uri, &nonce, 1);
    let r = send(
        server.addr,
        "GET",
        uri,
        &[("Authorization", &auth), ("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .ends_with("stale=true"));
    server.stop().await;
}

#[tokio::test]
async fn oauth_tokens_authenticate_as_bearer() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    assert!(c.client_id.starts_with("mdb_sa_id_") && c.client_id.len() == 34);
    assert!(c.client_secret.starts_with("mdb_sa_sk_"));
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", c.client_id, c.client_secret))
    );
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    ];

    let r = send(
        server.addr,
        "POST",
        "/api/oauth/token",
        &[form[0], form[1], ("Authorization", &basic)],
        b"grant_type=client_credentials",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");

    let r = send(
        server.addr,
        "GET",
        "/api/atlas/v2/orgs",
        &[("Authorization", &bearer), ("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["totalCount"], 1);

    // Wrong secret, wrong grant, unknown token.
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:nope", c.client_id))
    );
    let r = send(
        server.addr,
        "POST",
        "/api/oauth/token",
        &[form[0], ("Authorization", &wrong)],
        b"grant_type=client_credentials",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    let r = send(
        server.addr,
        "POST",
        "/api/oauth/token",
        &[form[0], ("Authorization", &basic)],
        b"grant_type=password",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    let r = send(
        server.addr,
        "GET",
        "/api/atlas/v2/orgs",
        &[("Authorization", "Bearer nope"), ("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Digest "));

    // Credentials in the form body work too.
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        c.client_id, c.client_secret
    );
    let r = send(
        server.addr,
        "POST",
        "/api/oauth/token",
        &[form[0]],
        body.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);

    // Revoked tokens stop working.
    let r = send(
        server.addr,
        "POST",
        "/api/oauth/revoke",
        &[form[0], ("Authorization", &basic)],
        format!("token={token}&token_type_hint=access_token").as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let r = send(
        server.addr,
        "GET",
        "/api/atlas/v2/orgs",
        &[("Authorization", &bearer), ("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);

    let state = server.state().await;
    assert_eq!(state["atlas"]["tokens_issued"], 2);
    assert_eq!(state["atlas"]["tokens_active"], 1);
    server.stop().await;
}

#[tokio::test]
async fn version_is_required() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    let client = server.atlas();
    let uri = "/api/atlas/v2/orgs";
    for accept in [
        None,
        Some("application/json"),
        Some("application/vnd.atlas.2020-01-01+json"),
    ] {
        let nonce = client.nonce("GET", uri).await;
        let auth = digest_header(&c.public_key, &c.private_key, "GET", uri, &nonce, 1);
        let mut headers = vec![("Authorization", auth.as_str())];
        if let Some(a) = accept {
            headers.push(("Accept", a));
        }
        let r = send(server.addr, "GET", uri, &headers, b"").await.unwrap();
        assert_eq!(r.status, 406, "{accept:?}");
        let body = r.json();
        assert_eq!(body["errorCode"], "INVALID_VERSION_DATE");
        assert_eq!(body["detail"], "Invalid accept header or version date.");
        assert_eq!(body["reason"], "Not Acceptable");
    }
    // A later date is served by the 2023-01-01 resource version.
    let nonce = client.nonce("GET", uri).await;
    let auth = digest_header(&c.public_key, &c.private_key, "GET", uri, &nonce, 1);
    let r = send(
        server.addr,
        "GET",
        uri,
        &[
            ("Authorization", &auth),
            ("Accept", "application/vnd.atlas.2025-03-12+json"),
        ],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn api_key_lifecycle_and_created_keys_authenticate() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    let client = server.atlas();
    let r = client
        .call(
            "POST",
            &keys_path(&c.org_id),
            Some(
                json!({ "desc": "ci key", "roles": ["ORG_MEMBER", "ORG_READ_ONLY", "ORG_MEMBER"] }),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_owned();
    let public_key = created["publicKey"].as_str().unwrap().to_owned();
    let private_key = created["privateKey"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    assert!(public_key.len() == 8 && public_key.bytes().all(|b| b.is_ascii_lowercase()));
    assert_eq!(private_key.split('-').count(), 5);
    assert_eq!(created["desc"], "ci key");
    assert_eq!(
        created["roles"],
        json!([
            { "orgId": c.org_id, "roleName": "ORG_MEMBER" },
            { "orgId": c.org_id, "roleName": "ORG_READ_ONLY" }
        ])
    );
    assert_eq!(created["links"][0]["rel"], "self");

    // The new key authenticates.
    let new_client = AtlasClient {
        addr: server.addr,
        public_key: public_key.clone(),
        private_key: private_key.clone(),
    };
    let key_path = format!("{}/{id}", keys_path(&c.org_id));
    let r = new_client.call("GET", &key_path, None).await;
    assert_eq!(r.status, 200);
    let read = r.json();
    let redacted = format!(
        "********-****-****-{}",
        &private_key[private_key.len() - 12..]
    );
    assert_eq!(read["privateKey"], redacted);
    assert_eq!(read["publicKey"], public_key);

    // Update desc only, then roles only.
    let r = client
        .call("PATCH", &key_path, Some(json!({ "desc": "renamed" })))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["desc"], "renamed");
    assert_eq!(r.json()["roles"].as_array().unwrap().len(), 2);
    assert_eq!(r.json()["privateKey"], redacted);
    let r = client
        .call("PATCH", &key_path, Some(json!({ "roles": ["ORG_OWNER"] })))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["desc"], "renamed");
    assert_eq!(
        r.json()["roles"],
        json!([{ "orgId": c.org_id, "roleName": "ORG_OWNER" }])
    );

    // Project roles (sandbox helper) show up in reads.
    let r = send(
        server.addr,
        "POST",
        &format!("/_sandbox/atlas/orgs/{}/projects", c.org_id),
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201);
    let group = r.json()["id"].as_str().unwrap().to_owned();
    let r = send(
        server.addr,
        "POST",
        &format!(
            "/_sandbox/atlas/orgs/{}/apiKeys/{id}/projectRoles",
            c.org_id
        ),
        &[],
        json!({ "groupId": group, "roleName": "GROUP_READ_ONLY" })
            .to_string()
            .as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = client.call("GET", &key_path, None).await;
    assert_eq!(
        r.json()["roles"][1],
        json!({ "groupId": group, "roleName": "GROUP_READ_ONLY" })
    );

    // Delete: 204, then 404, and the key no longer authenticates.
    let r = client.call("DELETE", &key_path, None).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let r = client.call("GET", &key_path, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["errorCode"], "API_KEY_NOT_FOUND");
    let r = client.call("DELETE", &key_path, None).await;
    assert_eq!(r.status, 404);
    let nonce = new_client.nonce("GET", &keys_path(&c.org_id)).await;
    let auth = digest_header(
        &public_key,
        &private_key,
        "GET",
        &keys_path(&c.org_id),
        &nonce,
        1,
    );
    let r = send(
        server.addr,
        "GET",
        &keys_path(&c.org_id),
        &[("Authorization", &auth), ("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn validation_errors_have_atlas_bodies() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    let client = server.atlas();
    let keys = keys_path(&c.org_id);

    let check = |r: Reply, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body = r.json();
        assert_eq!(body["error"], status);
        assert_eq!(body["errorCode"], code, "{body}");
        assert!(body["detail"].is_string());
        assert!(body["reason"].is_string());
        assert!(body["parameters"].is_array());
        body
    };

    let r = client
        .call("GET", "/api/atlas/v2/orgs/not-an-id/apiKeys", None)
        .await;
    check(r, 400, "PATH_PARAM_PARSE_ERROR");
    let r = client
        .call(
            "GET",
            "/api/atlas/v2/orgs/0123456789ABCDEF01234567/apiKeys",
            None,
        )
        .await;
    check(r, 400, "PATH_PARAM_PARSE_ERROR");
    let r = client.call("GET", &format!("{keys}/abc"), None).await;
    check(r, 400, "PATH_PARAM_PARSE_ERROR");
    let r = client
        .call("GET", "/api/atlas/v2/orgs/%FF%FE/apiKeys", None)
        .await;
    check(r, 400, "PATH_PARAM_PARSE_ERROR");
    let r = client
        .call(
            "GET",
            "/api/atlas/v2/orgs/0123456789abcdef01234567/apiKeys",
            None,
        )
        .await;
    let body = check(r, 404, "ORG_NOT_FOUND");
    assert_eq!(
        body["detail"],
        "No organization with ID 0123456789abcdef01234567 exists."
    );
    let r = client
        .call("GET", &format!("{keys}/0123456789abcdef01234567"), None)
        .await;
    check(r, 404, "API_KEY_NOT_FOUND");

    let nonce = client.nonce("POST", &keys).await;
    let auth = digest_header(&c.public_key, &c.private_key, "POST", &keys, &nonce, 1);
    let r = send(
        server.addr,
        "POST",
        &keys,
        &[("Authorization", &auth), ("Accept", ACCEPT)],
        b"{not json",
    )
    .await
    .unwrap();
    check(r, 400, "INVALID_JSON");
    let r = client.call("POST", &keys, Some(json!(["array"]))).await;
    check(r, 400, "INVALID_JSON");
    let r = client
        .call("POST", &keys, Some(json!({ "roles": ["ORG_OWNER"] })))
        .await;
    let body = check(r, 400, "MISSING_ATTRIBUTE");
    assert_eq!(body["parameters"], json!(["desc"]));
    let r = client
        .call("POST", &keys, Some(json!({ "desc": "x" })))
        .await;
    check(r, 400, "MISSING_ATTRIBUTE");
    let r = client
        .call(
            "POST",
            &keys,
            Some(json!({ "desc": "", "roles": ["ORG_OWNER"] })),
        )
        .await;
    check(r, 400, "VALIDATION_ERROR");
    let r = client
        .call(
            "POST",
            &keys,
            Some(json!({ "desc": "é".repeat(251), "roles": ["ORG_OWNER"] })),
        )
        .await;
    let body = check(r, 400, "VALIDATION_ERROR");
    assert_eq!(body["badRequestDetail"]["fields"][0]["field"], "desc");
    let r = client
        .call(
            "POST",
            &keys,
            Some(json!({ "desc": "é".repeat(250), "roles": ["ORG_OWNER"] })),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = client
        .call("POST", &keys, Some(json!({ "desc": "x", "roles": [] })))
        .await;
    check(r, 400, "VALIDATION_ERROR");
    let r = client
        .call(
            "POST",
            &keys,
            Some(json!({ "desc": "x", "roles": ["GROUP_OWNER"] })),
        )
        .await;
    let body = check(r, 400, "INVALID_ENUM_VALUE");
    assert!(body["detail"].as_str().unwrap().contains("roles"));
    assert!(body["detail"].as_str().unwrap().contains("GROUP_OWNER"));
    let r = client
        .call("POST", &keys, Some(json!({ "desc": "x", "roles": [1] })))
        .await;
    check(r, 400, "INVALID_ENUM_VALUE");
    let r = client
        .call(
            "POST",
            &keys,
            Some(json!({ "desc": 5, "roles": ["ORG_OWNER"] })),
        )
        .await;
    check(r, 400, "INVALID_ATTRIBUTE");
    let r = client
        .call(
            "POST",
            &keys,
            Some(json!({ "desc": "x", "roles": ["ORG_OWNER"], "extra": 1 })),
        )
        .await;
    let body = check(r, 400, "INVALID_ATTRIBUTE");
    assert_eq!(body["detail"], "Invalid attribute extra specified.");
    let seeded_key = format!(
        "{keys}/{}",
        server.state().await["atlas"]["orgs"][0]["api_keys"][0]["id"]
            .as_str()
            .unwrap()
    );
    let r = client.call("PATCH", &seeded_key, Some(json!({}))).await;
    check(r, 400, "VALIDATION_ERROR");
    let r = client
        .call("PATCH", &seeded_key, Some(json!({ "roles": ["NOPE"] })))
        .await;
    check(r, 400, "INVALID_ENUM_VALUE");
    let r = send(server.addr, "GET", "/api/atlas/v2/nothing-here", &[], b"")
        .await
        .unwrap();
    check(r, 404, "RESOURCE_NOT_FOUND");
    // Nothing invalid was created: the seeded key and the one 250-character key.
    let state = server.state().await;
    assert_eq!(
        state["atlas"]["orgs"][0]["api_keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn api_keys_paginate() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    let client = server.atlas();
    let keys = keys_path(&c.org_id);
    for i in 0..7 {
        let r = client
            .call(
                "POST",
                &keys,
                Some(json!({ "desc": format!("key {i}"), "roles": ["ORG_MEMBER"] })),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let mut seen = Vec::new();
    for page in 1..=3 {
        let r = client
            .call(
                "GET",
                &format!("{keys}?pageNum={page}&itemsPerPage=3"),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        let body = r.json();
        assert_eq!(body["totalCount"], 8);
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), if page < 3 { 3 } else { 2 });
        for k in results {
            assert!(k["privateKey"]
                .as_str()
                .unwrap()
                .starts_with("********-****-****-"));
            seen.push(k["id"].as_str().unwrap().to_owned());
        }
        let rels: Vec<&str> = body["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap())
            .collect();
        match page {
            1 => assert_eq!(rels, ["self", "next"]),
            2 => assert_eq!(rels, ["previous", "self", "next"]),
            _ => assert_eq!(rels, ["previous", "self"]),
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 8);
    assert_eq!(sorted, seen, "results come in creation (id) order");

    let r = client
        .call("GET", &format!("{keys}?includeCount=false"), None)
        .await;
    let body = r.json();
    assert!(body.get("totalCount").is_none());
    assert_eq!(body["results"].as_array().unwrap().len(), 8);
    let r = client.call("GET", &format!("{keys}?pageNum=9"), None).await;
    assert_eq!(r.json()["results"], json!([]));
    for bad in [
        "itemsPerPage=501",
        "itemsPerPage=0",
        "pageNum=0",
        "pageNum=-1",
    ] {
        let r = client.call("GET", &format!("{keys}?{bad}"), None).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["errorCode"], "VALIDATION_ERROR");
    }

    // The request counter saw every list call (each one plus its challenge).
    let state = server.state().await;
    assert_eq!(state["requests"]["atlas.api_keys.list"], 2 * 9);
    assert_eq!(state["requests"]["atlas.api_keys.create"], 2 * 7);
    server.stop().await;
}

#[tokio::test]
async fn organizations() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    let client = server.atlas();

    // With an API key, orgOwnerId is required.
    let r = client
        .call(
            "POST",
            "/api/atlas/v2/orgs",
            Some(json!({ "name": "acme" })),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errorCode"], "MISSING_ATTRIBUTE");
    let r = client
        .call(
            "POST",
            "/api/atlas/v2/orgs",
            Some(json!({ "name": "has space", "orgOwnerId": c.org_id })),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = client
        .call(
            "POST",
            "/api/atlas/v2/orgs",
            Some(json!({
                "name": "acme-prod",
                "orgOwnerId": "aaaaaaaaaaaaaaaaaaaaaaaa",
                "apiKey": { "desc": "org key", "roles": ["ORG_OWNER"] }
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let org_id = created["organization"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["organization"]["name"], "acme-prod");
    assert_eq!(created["organization"]["isDeleted"], false);
    assert_eq!(created["orgOwnerId"], "aaaaaaaaaaaaaaaaaaaaaaaa");
    let key = &created["apiKey"];
    assert_eq!(key["roles"][0]["orgId"], org_id);
    let org_client = AtlasClient {
        addr: server.addr,
        public_key: key["publicKey"].as_str().unwrap().to_owned(),
        private_key: key["privateKey"].as_str().unwrap().to_owned(),
    };
    let r = org_client
        .call("GET", &format!("/api/atlas/v2/orgs/{org_id}"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "acme-prod");

    // Service account at create: its credentials get tokens.
    let r = client
        .call(
            "POST",
            "/api/atlas/v2/orgs",
            Some(json!({
                "name": "Acme-staging",
                "orgOwnerId": "aaaaaaaaaaaaaaaaaaaaaaaa",
                "serviceAccount": { "name": "ci", "description": "ci bot", "roles": ["ORG_OWNER"], "secretExpiresAfterHours": 24 }
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let sa = r.json()["serviceAccount"].clone();
    let secret = sa["secrets"][0]["secret"].as_str().unwrap();
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={secret}",
        sa["clientId"].as_str().unwrap()
    );
    let r = send(
        server.addr,
        "POST",
        "/api/oauth/token",
        &[],
        body.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // List with a case-insensitive name prefix, and paginate.
    let r = client
        .call("GET", "/api/atlas/v2/orgs?name=ACME", None)
        .await;
    let body = r.json();
    assert_eq!(body["totalCount"], 2);
    let r = client
        .call("GET", "/api/atlas/v2/orgs?itemsPerPage=1&pageNum=3", None)
        .await;
    let body = r.json();
    assert_eq!(body["totalCount"], 3);
    assert_eq!(body["results"][0]["name"], "Acme-staging");

    // Rename.
    let org_path = format!("/api/atlas/v2/orgs/{org_id}");
    let r = client
        .call(
            "PATCH",
            &org_path,
            Some(json!({ "skipDefaultAlertsSettings": true })),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = client
        .call(
            "PATCH",
            &org_path,
            Some(json!({ "name": "acme-production" })),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "acme-production");

    // Projects block deletion.
    let r = send(
        server.addr,
        "POST",
        &format!("/_sandbox/atlas/orgs/{org_id}/projects"),
        &[],
        br#"{"name":"p1"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201);
    let r = client.call("DELETE", &org_path, None).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["errorCode"], "CANNOT_DELETE_ORG_ACTIVE_PROJECTS");
    let r = send(
        server.addr,
        "DELETE",
        &format!("/_sandbox/atlas/orgs/{org_id}/projects"),
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 204);
    let r = client.call("DELETE", &org_path, None).await;
    assert_eq!(r.status, 204);
    let r = client.call("GET", &org_path, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["errorCode"], "ORG_NOT_FOUND");
    // Its key went with it.
    let nonce = client.nonce("GET", "/api/atlas/v2/orgs").await;
    let auth = digest_header(
        &org_client.public_key,
        &org_client.private_key,
        "GET",
        "/api/atlas/v2/orgs",
        &nonce,
        1,
    );
    let r = send(
        server.addr,
        "GET",
        "/api/atlas/v2/orgs",
        &[("Authorization", &auth), ("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn envelope_and_pretty() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    let client = server.atlas();
    let r = client
        .call(
            "GET",
            &format!("/api/atlas/v2/orgs/{}?envelope=true&pretty=true", c.org_id),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("\n"));
    let body = r.json();
    assert_eq!(body["status"], 200);
    assert_eq!(body["content"]["id"], c.org_id);
    let r = client
        .call(
            "GET",
            "/api/atlas/v2/orgs/0123456789abcdef01234567?envelope=true",
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], 404);
    assert_eq!(r.json()["content"]["errorCode"], "ORG_NOT_FOUND");
    let r = client
        .call("GET", "/api/atlas/v2/orgs?envelope=true", None)
        .await;
    assert_eq!(r.json()["status"], 200);
    assert!(r.json()["results"].is_array());
    server.stop().await;
}

#[tokio::test]
async fn state_view_has_no_secrets_and_reset_keeps_seeds() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    let client = server.atlas();
    let r = client
        .call(
            "POST",
            &keys_path(&c.org_id),
            Some(json!({ "desc": "temp", "roles": ["ORG_MEMBER"] })),
        )
        .await;
    let private_key = r.json()["privateKey"].as_str().unwrap().to_owned();
    let r = client
        .call(
            "POST",
            "/api/atlas/v2/orgs",
            Some(json!({ "name": "other", "orgOwnerId": c.org_id })),
        )
        .await;
    assert_eq!(r.status, 201);

    let state = server.state().await;
    let text = state.to_string();
    for secret in [&c.private_key, &c.client_secret, &private_key] {
        assert!(!text.contains(secret.as_str()), "state leaks a secret");
    }
    let orgs = state["atlas"]["orgs"].as_array().unwrap();
    assert_eq!(orgs.len(), 2);
    assert_eq!(orgs[0]["seeded"], true);
    assert_eq!(orgs[0]["api_keys"].as_array().unwrap().len(), 2);
    assert_eq!(orgs[0]["api_keys"][1]["desc"], "temp");
    assert_eq!(orgs[0]["api_keys"][1]["roles"], json!(["ORG_MEMBER"]));
    assert!(orgs[0]["api_keys"][1]["created"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(state["braintrust"]["api_keys"][0]["seeded"], true);
    assert_eq!(state["env0"]["orgs"][0]["seeded"], true);
    assert_eq!(state["traceloop"]["orgs"], json!([]));
    assert_eq!(state["faults"]["error_rate"], 0.0);
    assert!(state["requests"]["atlas.orgs.create"].as_u64().unwrap() >= 1);

    let r = send(server.addr, "POST", "/_sandbox/reset", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let state = r.json();
    let orgs = state["atlas"]["orgs"].as_array().unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["id"], c.org_id);
    assert_eq!(orgs[0]["api_keys"].as_array().unwrap().len(), 1);
    assert_eq!(orgs[0]["api_keys"][0]["public_key"], c.public_key);
    assert_eq!(state["requests"], json!({}));
    // The seeded credentials still work.
    let r = client.call("GET", &keys_path(&c.org_id), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["totalCount"], 1);
    server.stop().await;
}

#[tokio::test]
async fn state_persists_across_restart() {
    let dir =
        std::env::temp_dir().join(format!("keysmith-sandbox-test-{}", super::store::uuid_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let options = Options {
        state_file: Some(path.clone()),
        ..Options::default()
    };

    let server = Server::start(options.clone()).await;
    let credentials = server.sandbox.credentials();
    assert!(path.exists(), "the seeded state is written at start");
    let c = credentials.atlas.clone();
    let client = server.atlas();
    let r = client
        .call(
            "POST",
            &keys_path(&c.org_id),
            Some(json!({ "desc": "durable", "roles": ["ORG_OWNER"] })),
        )
        .await;
    let key = r.json();
    let r = client
        .call(
            "POST",
            "/api/atlas/v2/orgs",
            Some(json!({ "name": "kept", "orgOwnerId": c.org_id })),
        )
        .await;
    assert_eq!(r.status, 201);
    server.stop().await;

    let server = Server::start(options).await;
    assert_eq!(server.sandbox.credentials(), credentials);
    let state = server.state().await;
    assert_eq!(state["atlas"]["orgs"].as_array().unwrap().len(), 2);
    assert_eq!(state["atlas"]["orgs"][1]["name"], "kept");
    let durable = AtlasClient {
        addr: server.addr,
        public_key: key["publicKey"].as_str().unwrap().to_owned(),
        private_key: key["privateKey"].as_str().unwrap().to_owned(),
    };
    let r = durable
        .call(
            "GET",
            &format!("{}/{}", keys_path(&c.org_id), key["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["desc"], "durable");
    server.stop().await;

    // A corrupt file is refused, not overwritten.
    std::fs::write(&path, b"{ not json").unwrap();
    let err = Sandbox::open(Options {
        state_file: Some(path.clone()),
        ..Options::default()
    })
    .unwrap_err();
    assert!(matches!(err, SandboxError::StateFile { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn faults_are_injected() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    let client = server.atlas();

    server.set_faults("throttle_rate=1").await;
    let r = send(
        server.addr,
        "GET",
        "/api/atlas/v2/orgs",
        &[("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["errorCode"], "RATE_LIMITED");
    // Control routes are never faulted.
    let state = server.state().await;
    assert_eq!(state["faults"]["throttle_rate"], 1.0);

    server.set_faults(r#"{"error_rate": 1}"#).await;
    let r = send(
        server.addr,
        "GET",
        "/api/atlas/v2/orgs",
        &[("Accept", ACCEPT)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["errorCode"], "SERVICE_UNAVAILABLE");
    assert_eq!(r.json()["error"], 503);

    let bad = send(
        server.addr,
        "POST",
        "/_sandbox/faults",
        &[],
        b"error_rate=2",
    )
    .await
    .unwrap();
    assert_eq!(bad.status, 400);

    // Ambiguous: the create is committed, the connection dropped without an answer. Reads
    // and refused writes (here: the Digest challenge of a POST) are answered.
    server.set_faults("ambiguous_rate=1").await;
    let target = keys_path(&c.org_id);
    let nonce = client.nonce("POST", &target).await;
    let auth = digest_header(&c.public_key, &c.private_key, "POST", &target, &nonce, 1);
    let body = json!({ "desc": "maybe", "roles": ["ORG_MEMBER"] }).to_string();
    let err = send(
        server.addr,
        "POST",
        &target,
        &[("Authorization", &auth), ("Accept", ACCEPT)],
        body.as_bytes(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    server.set_faults("").await;
    let state = server.state().await;
    let keys = state["atlas"]["orgs"][0]["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1]["desc"], "maybe");

    // Latency.
    server.sandbox.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let r = send(server.addr, "GET", "/api/atlas/v2/orgs", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert!(started.elapsed() >= Duration::from_millis(150));
    server.sandbox.set_faults(Faults::default());
    server.stop().await;
}

#[tokio::test]
async fn faults_can_aim_at_methods() {
    let server = Server::start(Options::default()).await;
    let client = server.atlas();
    let c = server.sandbox.credentials().atlas;
    for spec in [
        "error_rate=1,methods=POST+DELETE",
        r#"{"error_rate": 1, "methods": ["DELETE", "POST"]}"#,
    ] {
        server.set_faults(spec).await;
        let shown = send(server.addr, "GET", "/_sandbox/faults", &[], b"")
            .await
            .unwrap()
            .json();
        assert_eq!(shown["methods"], json!(["POST", "DELETE"]), "{spec}");
        assert_eq!(
            server.state().await["faults"]["methods"],
            json!(["POST", "DELETE"])
        );
        // Reads pass (an authenticated GET answers 200), creates and deletes fail.
        let r = client.call("GET", &keys_path(&c.org_id), None).await;
        assert_eq!(r.status, 200, "{spec}: {}", r.text());
        let r = send(
            server.addr,
            "POST",
            "/api/atlas/v2/orgs",
            &[("Accept", ACCEPT)],
            b"{}",
        )
        .await
        .unwrap();
        assert_eq!(r.status, 503, "{spec}");
        let r = send(
            server.addr,
            "DELETE",
            &format!("/api/atlas/v2/orgs/{}", c.org_id),
            &[("Accept", ACCEPT)],
            b"",
        )
        .await
        .unwrap();
        assert_eq!(r.status, 503, "{spec}");
    }
    server.set_faults("error_rate=1").await;
    assert!(server.state().await["faults"]["methods"].is_null());
    let r = send(server.addr, "GET", "/api/atlas/v2/orgs", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 503, "no methods: every method");
    let bad = send(
        server.addr,
        "POST",
        "/_sandbox/faults",
        &[],
        b"error_rate=1,methods=FETCH",
    )
    .await
    .unwrap();
    assert_eq!(bad.status, 400);
    server.set_faults("").await;
    server.stop().await;
}

#[tokio::test]
async fn garbage_never_breaks_the_server() {
    let server = Server::start(Options::default()).await;
    let c = server.sandbox.credentials().atlas;
    let client = server.atlas();
    let keys = keys_path(&c.org_id);
    let bodies: [&[u8]; 8] = [
        b"",
        b"null",
        b"\xff\xfe\x00",
        b"{\"desc\": {\"nested\": []}, \"roles\": \"ORG_OWNER\"}",
        b"{\"desc\": \"x\", \"roles\": [null]}",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        b"{\"desc\": \"\\ud800\", \"roles\": [\"ORG_OWNER\"]}",
        b"9999999999999999999999999999999",
    ];
    for body in bodies {
        for target in [keys.clone(), "/api/atlas/v2/orgs".to_owned()] {
            let nonce = client.nonce("POST", &target).await;
            let auth = digest_header(&c.public_key, &c.private_key, "POST", &target, &nonce, 1);
            let r = send(
                server.addr,
                "POST",
                &target,
                &[("Authorization", &auth), ("Accept", ACCEPT)],
                body,
            )
            .await
            .unwrap();
            assert_eq!(
                r.status,
                400,
                "{:?} → {}",
                String::from_utf8_lossy(body),
                r.text()
            );
            assert!(r.json()["errorCode"].is_string());
        }
    }
    for header in [
        "Digest",
        "Digest ,,,",
        "Digest username=\"a\", realm=\"MMS Public API\", nonce=\"n\", uri=\"/\", response=\"r\", nc=zzzzzzzz, cnonce=\"c\", qop=auth",
        "Bearer",
    ] {
        let r = send(server.addr, "GET", "/api/atlas/v2/orgs", &[("Authorization", header), ("Accept", ACCEPT)], b"")
            .await
            .unwrap();
        assert_eq!(r.status, 401, "{header}");
    }
    let r = send(
        server.addr,
        "POST",
        "/api/oauth/token",
        &[("Authorization", "Basic !!!")],
        b"\xff",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    let r = send(
        server.addr,
        "POST",
        "/_sandbox/atlas/orgs/nope/projects",
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 404);
    // Still serving.
    let r = client.call("GET", "/api/atlas/v2/orgs", None).await;
    assert_eq!(r.status, 200);
    server.stop().await;
}
