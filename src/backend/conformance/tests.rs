//! Tests of the conformance suite itself (it must catch a backend that misbehaves), and the
//! suite run against every client pointed at `keysmith-sandbox`.
//!
//! The sandbox binary is taken from `KEYSMITH_SANDBOX_BIN`, else from the crate's
//! `target/<profile>/keysmith-sandbox` (or `$CARGO_TARGET_DIR/…`), which `cargo test` builds
//! before running tests. A missing sandbox, or a vendor it does not emulate, fails the tests.
//! The suite also runs against each client's own mock in `<vendor>/tests.rs`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::backend::atlas::{AtlasAuth, AtlasClient, AtlasConfig};
use crate::backend::braintrust::{BraintrustClient, BraintrustConfig};
use crate::backend::env0::{Env0Client, Env0Config, RateLimit};
use crate::backend::http::HttpSettings;
use crate::backend::traceloop::{TraceloopClient, TraceloopConfig};
use crate::backend::{CreatedOrg, Secret};

// ----- the suite catches misbehaviour ------------------------------------------------------

/// An in-memory env0-like backend with switchable faults.
#[derive(Debug, Default)]
struct Fake {
    keys: Mutex<BTreeMap<String, ApiKey>>,
    seq: Mutex<u32>,
    delete_is_a_no_op: bool,
    secret_in_preview: bool,
    fakes_org_update: bool,
}

#[async_trait::async_trait]
impl Backend for Fake {
    fn kind(&self) -> BackendKind {
        BackendKind::Env0
    }

    async fn create_api_key(&self, new: &NewApiKey) -> Result<CreatedApiKey, BackendError> {
        let mut seq = self.seq.lock().unwrap();
        *seq += 1;
        let secret = format!("secret-{seq}");
        let key = ApiKey {
            id: format!("k{seq}"),
            name: new.name.clone(),
            org_id: new.org_id.clone(),
            public_key: Some(format!("pk{seq}")),
            preview: self.secret_in_preview.then(|| secret.clone()),
            roles: new.roles.clone(),
            created_at: None,
            project_roles: Default::default(),
            service_account_id: None,
        };
        self.keys
            .lock()
            .unwrap()
            .insert(key.id.clone(), key.clone());
        Ok(CreatedApiKey {
            key,
            secret: crate::backend::Secret::new(secret),
        })
    }

    async fn get_api_key(&self, _org: &str, id: &str) -> Result<ApiKey, BackendError> {
        self.keys
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or(BackendError::NotFound { what: id.into() })
    }

    async fn list_api_keys(&self, _org: &str) -> Result<Vec<ApiKey>, BackendError> {
        Ok(self.keys.lock().unwrap().values().cloned().collect())
    }

    async fn delete_api_key(&self, _org: &str, id: &str) -> Result<(), BackendError> {
        if !self.delete_is_a_no_op {
            self.keys.lock().unwrap().remove(id);
        }
        Ok(())
    }

    async fn create_org(&self, new: &NewOrg) -> Result<CreatedOrg, BackendError> {
        Ok(CreatedOrg {
            org: Org {
                id: "o1".into(),
                name: new.name.clone(),
                description: new.description.clone(),
                policies: Some(Default::default()),
                ..Org::default()
            },
            ..CreatedOrg::default()
        })
    }

    async fn get_org(&self, id: &str) -> Result<Org, BackendError> {
        Ok(Org {
            id: id.into(),
            name: "conf-org".into(),
            ..Org::default()
        })
    }

    async fn find_org_by_name(&self, name: &str) -> Result<Org, BackendError> {
        if name == "conf-org" {
            self.get_org("o1").await
        } else {
            Err(BackendError::NotFound { what: name.into() })
        }
    }

    async fn update_org(&self, id: &str, update: &OrgUpdate) -> Result<Org, BackendError> {
        if self.fakes_org_update {
            Ok(Org {
                id: id.into(),
                name: update.name.clone(),
                ..Org::default()
            })
        } else {
            Err(BackendError::not_supported(
                self.kind(),
                "updating organizations",
            ))
        }
    }
}

fn target() -> Target {
    Target::for_kind(BackendKind::Env0, Some("org".into()), "conf")
}

#[tokio::test]
async fn a_well_behaved_backend_passes() {
    run(&Fake::default(), &target()).await.unwrap();
}

#[tokio::test]
async fn the_suite_catches_misbehaviour() {
    let cases = [
        (
            Fake {
                delete_is_a_no_op: true,
                ..Fake::default()
            },
            "api key: get after delete",
        ),
        (
            Fake {
                secret_in_preview: true,
                ..Fake::default()
            },
            "api key: create",
        ),
        (
            Fake {
                fakes_org_update: true,
                ..Fake::default()
            },
            "org: update",
        ),
    ];
    for (fake, step) in cases {
        let failure = run(&fake, &target()).await.unwrap_err();
        assert_eq!(failure.step, step, "{failure}");
        assert_eq!(failure.backend, "env0");
        assert!(!failure.to_string().contains("secret-1"), "{failure}");
    }
}

#[test]
fn capabilities_follow_the_spec() {
    let t = Capabilities::of(BackendKind::Traceloop);
    assert!(t.org_create && !t.org_read && !t.key_create);
    let e = Capabilities::of(BackendKind::Env0);
    assert!(e.org_create && e.org_read && !e.org_update && !e.org_delete);
    assert!(e.key_create && e.key_read && !e.key_update && e.key_delete);
    let b = Capabilities::of(BackendKind::Braintrust);
    assert!(!b.org_create && b.org_read && b.org_find && b.key_preview && !b.key_update);
    let a = Capabilities::of(BackendKind::Atlas);
    assert!(a.org_delete && a.org_update && a.key_update && a.key_public_key);
}

// ----- against keysmith-sandbox ------------------------------------------------------------

/// `KEYSMITH_SANDBOX_BIN`, else the sandbox of this build's profile: `cargo test` builds
/// the crate's binaries before it runs any test, so it is always there.
fn sandbox_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KEYSMITH_SANDBOX_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    Some(target.join(profile).join("keysmith-sandbox")).filter(|p| p.is_file())
}

/// A running sandbox, stopped (by its pid) when dropped.
struct Sandbox {
    child: Child,
    url: String,
    credentials: Value,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sandbox {
    fn start() -> Option<Sandbox> {
        // Never a silent skip: a missing sandbox is a failure.
        let bin = sandbox_binary().expect(
            "no keysmith-sandbox binary: build it (cargo build) or set KEYSMITH_SANDBOX_BIN",
        );
        let mut child = Command::new(&bin)
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut sandbox = Sandbox {
            child,
            url: String::new(),
            credentials: Value::Null,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the sandbox printed its JSON line");
        let v: Value = serde_json::from_str(&line).expect("the sandbox's line is JSON");
        sandbox.url = v["url"].as_str().expect("url").to_string();
        sandbox.credentials = v["credentials"].clone();
        Some(sandbox)
    }

    fn cred(&self, vendor: &str, name: &str) -> String {
        self.credentials[vendor][name]
            .as_str()
            .unwrap_or_else(|| panic!("credentials.{vendor}.{name}"))
            .to_string()
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: &str) {
        let status = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "POST {path}: {status}");
    }

    /// A new project in the seeded Atlas organization (a sandbox helper route); its id.
    async fn atlas_project(&self) -> String {
        let org = self.cred("atlas", "org_id");
        let made: Value = reqwest::Client::new()
            .post(format!("{}/_sandbox/atlas/orgs/{org}/projects", self.url))
            .json(&serde_json::json!({"name": "conformance"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        made["id"].as_str().expect("the project's id").to_string()
    }

    /// Whether the sandbox emulates `vendor` yet (its state is not an empty object).
    async fn serves(&self, vendor: &str) -> bool {
        let state = self.get("/_sandbox/state").await;
        let served = state
            .get(vendor)
            .is_some_and(|v| v.as_object().is_none_or(|o| !o.is_empty()));
        assert!(served, "keysmith-sandbox does not emulate {vendor}");
        served
    }

    fn http(&self) -> HttpSettings {
        HttpSettings {
            max_retries: 5,
            request_timeout: Duration::from_secs(10),
            user_agent: "keysmith-conformance".into(),
            interrupt: Default::default(),
        }
    }

    fn atlas_digest(&self) -> AtlasClient {
        AtlasClient::new(AtlasConfig {
            base_url: self.url.clone(),
            auth: AtlasAuth::Digest {
                public_key: self.cred("atlas", "public_key"),
                private_key: Secret::new(self.cred("atlas", "private_key")),
            },
            http: self.http(),
        })
        .unwrap()
        .with_backoff(fast())
    }

    fn atlas_oauth(&self) -> AtlasClient {
        AtlasClient::new(AtlasConfig {
            base_url: self.url.clone(),
            auth: AtlasAuth::ServiceAccount {
                client_id: self.cred("atlas", "client_id"),
                client_secret: Secret::new(self.cred("atlas", "client_secret")),
            },
            http: self.http(),
        })
        .unwrap()
        .with_backoff(fast())
    }

    /// A Braintrust client authenticated with `credential` (`api_key`, or the
    /// organization-owner `service_token`).
    fn braintrust(&self, credential: &str) -> BraintrustClient {
        BraintrustClient::new(BraintrustConfig {
            base_url: self.url.clone(),
            api_key: Secret::new(self.cred("braintrust", credential)),
            http: self.http(),
        })
        .unwrap()
        .with_backoff(fast())
    }

    fn env0(&self) -> Env0Client {
        Env0Client::new(Env0Config {
            base_url: self.url.clone(),
            api_key_id: self.cred("env0", "api_key_id"),
            api_key_secret: Secret::new(self.cred("env0", "api_key_secret")),
            http: self.http(),
            rate_limit: RateLimit::ENV0,
        })
        .unwrap()
        .with_backoff(fast())
    }

    fn traceloop(&self) -> TraceloopClient {
        TraceloopClient::new(TraceloopConfig {
            base_url: self.url.clone(),
            api_key: Secret::new(self.cred("traceloop", "api_key")),
            http: self.http(),
        })
        .unwrap()
        .with_backoff(fast())
    }

    fn targets(&self) -> Vec<(&'static str, Target)> {
        let mut digest = Target::for_kind(
            BackendKind::Atlas,
            Some(self.cred("atlas", "org_id")),
            "conf-atlas-digest",
        );
        // Atlas needs an owner when an API key creates an organization.
        digest.org_owner_id = Some("5e5e5e5e5e5e5e5e5e5e5e5e".into());
        let oauth = Target::for_kind(
            BackendKind::Atlas,
            Some(self.cred("atlas", "org_id")),
            "conf-atlas-sa",
        );
        let mut braintrust = Target::for_kind(
            BackendKind::Braintrust,
            Some(self.cred("braintrust", "org_id")),
            "conf-braintrust",
        );
        braintrust.org_name = Some(self.cred("braintrust", "org_name"));
        // Service tokens of the seeded service account, created with its owner token.
        let mut tokens = braintrust.clone();
        tokens.prefix = "conf-braintrust-st".into();
        tokens.service_account_id = Some(self.cred("braintrust", "service_account_id"));
        let env0 = Target::for_kind(
            BackendKind::Env0,
            Some(self.cred("env0", "organization_id")),
            "conf-env0",
        );
        let traceloop = Target::for_kind(BackendKind::Traceloop, None, "conf-traceloop");
        vec![
            ("atlas-digest", digest),
            ("atlas-sa", oauth),
            ("braintrust", braintrust),
            ("braintrust-st", tokens),
            ("env0", env0),
            ("traceloop", traceloop),
        ]
    }

    fn client(&self, which: &str) -> Box<dyn Backend> {
        match which {
            "atlas-digest" => Box::new(self.atlas_digest()),
            "atlas-sa" => Box::new(self.atlas_oauth()),
            "braintrust" => Box::new(self.braintrust("api_key")),
            "braintrust-st" => Box::new(self.braintrust("service_token")),
            "env0" => Box::new(self.env0()),
            _ => Box::new(self.traceloop()),
        }
    }
}

fn fast() -> crate::backend::http::Backoff {
    crate::backend::http::Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(2),
    }
}

fn vendor_of(which: &str) -> &str {
    which.split('-').next().unwrap_or(which)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_passes_the_suite_against_the_sandbox() {
    let Some(sandbox) = Sandbox::start() else {
        return;
    };
    let mut ran = 0;
    for (which, mut target) in sandbox.targets() {
        if !sandbox.serves(vendor_of(which)).await {
            continue;
        }
        if vendor_of(which) == "atlas" {
            target.project_id = Some(sandbox.atlas_project().await);
        }
        let client = sandbox.client(which);
        if let Err(failure) = run(client.as_ref(), &target).await {
            panic!("{which}: {failure}");
        }
        // Nothing the suite deleted is left behind.
        let state = sandbox.get("/_sandbox/state").await.to_string();
        for key_name in [
            format!("{}-key", target.prefix),
            format!("{}-assigned", target.prefix),
        ] {
            assert!(
                !state.contains(&key_name),
                "{which}: {key_name} left behind"
            );
        }
        if vendor_of(which) == "atlas" {
            let org_name = format!("{}-org", target.prefix);
            assert!(
                !state.contains(&org_name),
                "{which}: {org_name} left behind"
            );
        }
        eprintln!("{which}: conformance suite passed against keysmith-sandbox");
        ran += 1;
    }
    assert!(ran > 0, "the sandbox serves no vendor at all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creates_under_sandbox_faults_leave_exactly_the_keys_returned() {
    let Some(sandbox) = Sandbox::start() else {
        return;
    };
    for (which, target) in sandbox.targets() {
        let vendor = vendor_of(which);
        if vendor == "traceloop" || which == "atlas-sa" || !sandbox.serves(vendor).await {
            continue;
        }
        let client: std::sync::Arc<dyn Backend> = sandbox.client(which).into();
        sandbox
            .post(
                "/_sandbox/faults",
                "ambiguous_rate=0.3,error_rate=0.1,throttle_rate=0.1",
            )
            .await;
        let name = format!("{}-faulty", target.prefix);
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let client = std::sync::Arc::clone(&client);
            let new = NewApiKey {
                org_id: target.org_id.clone(),
                org_name: target.org_name.clone(),
                name: name.clone(),
                roles: target.roles.clone(),
                service_account_id: target.service_account_id.clone(),
                ..NewApiKey::default()
            };
            tasks.push(tokio::spawn(
                async move { client.create_api_key(&new).await },
            ));
        }
        let mut returned = Vec::new();
        let mut failed = 0;
        let mut errors = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(created) => returned.push(created.key.id),
                Err(e) => {
                    eprintln!("{which}: a create failed under faults: {e}");
                    errors.push(e.to_string());
                    failed += 1;
                }
            }
        }
        sandbox.post("/_sandbox/faults", "").await;
        let mut listed: Vec<String> = client
            .list_api_keys(target.org_id.as_deref().unwrap_or(""))
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.name == name)
            .map(|k| k.id)
            .collect();
        listed.sort();
        returned.sort();
        // A key no create returned may exist only where a failed create said so: an ambiguous
        // create racing others of the same name cannot prove which key is its own (SPEC §6),
        // so it deletes nothing and names every candidate in its error.
        let (extra, unreported): (Vec<String>, Vec<String>) = listed
            .iter()
            .filter(|id| !returned.contains(id))
            .cloned()
            .partition(|id| errors.iter().any(|e| e.contains(&format!("id {id} "))));
        assert!(
            unreported.is_empty() && returned.iter().all(|id| listed.contains(id)),
            "{which}: every key returned exists, and every other one was named by a failed \
             create ({failed} creates failed): listed {listed:?}, returned {returned:?}"
        );
        for id in returned.iter().chain(&extra) {
            client
                .delete_api_key(target.org_id.as_deref().unwrap_or(""), id)
                .await
                .unwrap();
        }
        let requests = sandbox.get("/_sandbox/state").await["requests"].clone();
        let counts: Vec<String> = requests
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(family, _)| family.starts_with(vendor))
            .map(|(family, n)| format!("{family}={n}"))
            .collect();
        eprintln!(
            "{which}: {} creates under faults, {failed} failed cleanly, {} unproven keys named, \
             nothing unreported, no duplicate (sandbox requests: {})",
            returned.len(),
            extra.len(),
            counts.join(" ")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn env0_pacing_avoids_the_sandbox_rate_limit() {
    let Some(sandbox) = Sandbox::start() else {
        return;
    };
    if !sandbox.serves("env0").await {
        return;
    }
    // Shrink the sandbox's limit (sandbox-only route) so the test is quick.
    let set = reqwest::Client::new()
        .post(format!("{}/_sandbox/env0/rate_limit", sandbox.url))
        .body(r#"{"limit": 10, "window_secs": 1, "per": "template"}"#)
        .send()
        .await
        .unwrap();
    assert!(
        set.status().is_success(),
        "the sandbox's env0 rate limit cannot be changed: {}",
        set.status()
    );
    let org = sandbox.cred("env0", "organization_id");
    let client_with = |requests: u32| {
        Env0Client::new(Env0Config {
            base_url: sandbox.url.clone(),
            api_key_id: sandbox.cred("env0", "api_key_id"),
            api_key_secret: Secret::new(sandbox.cred("env0", "api_key_secret")),
            http: sandbox.http(),
            rate_limit: RateLimit {
                requests,
                window: Duration::from_secs(1),
            },
        })
        .unwrap()
        .with_backoff(fast())
    };
    let lists = |client: std::sync::Arc<Env0Client>, n: usize| {
        let org = org.clone();
        async move {
            let mut tasks = Vec::new();
            for _ in 0..n {
                let c = std::sync::Arc::clone(&client);
                let org = org.clone();
                tasks.push(tokio::spawn(async move { c.list_api_keys(&org).await }));
            }
            let mut refused = 0;
            for t in tasks {
                if t.await.unwrap().is_err() {
                    refused += 1;
                }
            }
            refused
        }
    };
    let count = |state: &Value| {
        state["requests"]["env0.api_keys.list"]
            .as_u64()
            .unwrap_or(0)
    };

    // Paced to the sandbox's limit: 30 listings, 30 requests, no 429.
    let before = count(&sandbox.get("/_sandbox/state").await);
    let started = std::time::Instant::now();
    assert_eq!(lists(std::sync::Arc::new(client_with(10)), 30).await, 0);
    let sent = count(&sandbox.get("/_sandbox/state").await) - before;
    assert_eq!(sent, 30, "every listing went out once: no 429 was retried");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The control: a client that paces above the limit does meet 429s (and retries them).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = count(&sandbox.get("/_sandbox/state").await);
    let refused = lists(std::sync::Arc::new(client_with(1000)), 30).await;
    let sent = count(&sandbox.get("/_sandbox/state").await) - before;
    assert!(sent > 30, "unpaced: {sent} requests for 30 listings");
    eprintln!(
        "env0 pacing: 30 requests for 30 listings; the unpaced control sent {sent} and {refused} \
         listings still ended rate limited"
    );
}
