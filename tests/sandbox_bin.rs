//! Starts the `keysmith-sandbox` binary as a user would, reads its one JSON line, talks to
//! it, and stops it with SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
    line: Value,
}

fn start(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keysmith-sandbox"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn keysmith-sandbox");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let result = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send((result, reader));
    });
    let (line, stdout) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the JSON line within 20 s");
    let line = line.expect("read line");
    assert!(line.ends_with('\n'), "one whole line: {line:?}");
    let line: Value = serde_json::from_str(line.trim_end()).expect("the line is JSON");
    Running {
        child,
        stdout,
        line,
    }
}

impl Running {
    fn addr(&self) -> String {
        self.line["url"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://")
            .to_owned()
    }

    /// One request with the given headers and body; the status and the whole raw answer.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr(),
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        write!(stream, "{head}\r\n{body}").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        (status, response)
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/vnd.atlas.2023-01-01+json\r\nConnection: close\r\n\r\n",
            self.addr()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        (status, response)
    }

    /// SIGTERM, then the exit status and whatever else was printed on stdout.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let (tx, rx) = mpsc::channel();
        let mut child = self.child;
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let exit = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("exits within 20 s of SIGTERM")
            .expect("wait");
        let mut rest = String::new();
        self.stdout
            .read_to_string(&mut rest)
            .expect("rest of stdout");
        (exit, rest)
    }
}

fn is_hex24(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 24 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn prints_one_json_line_then_serves_until_sigterm() {
    let running = start(&["--addr", "127.0.0.1:0"]);
    let line = &running.line;
    assert_eq!(keys(line), ["credentials", "url"]);
    assert!(line["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    let c = &line["credentials"];
    assert_eq!(keys(c), ["atlas", "braintrust", "env0", "traceloop"]);
    let atlas = &c["atlas"];
    assert_eq!(
        keys(atlas),
        [
            "client_id",
            "client_secret",
            "org_id",
            "private_key",
            "public_key"
        ]
    );
    assert!(is_hex24(&atlas["org_id"]));
    let public_key = atlas["public_key"].as_str().unwrap();
    assert!(public_key.len() == 8 && public_key.bytes().all(|b| b.is_ascii_lowercase()));
    let client_id = atlas["client_id"].as_str().unwrap();
    assert!(is_hex24(&Value::from(
        client_id.trim_start_matches("mdb_sa_id_")
    )));
    assert!(client_id.starts_with("mdb_sa_id_"));
    assert!(atlas["client_secret"]
        .as_str()
        .unwrap()
        .starts_with("mdb_sa_sk_"));
    assert_eq!(
        keys(&c["braintrust"]),
        [
            "api_key",
            "org_id",
            "org_name",
            "service_account_id",
            "service_token"
        ]
    );
    assert_eq!(
        c["braintrust"]["service_account_id"]
            .as_str()
            .unwrap()
            .split('-')
            .count(),
        5
    );
    assert_eq!(
        c["braintrust"]["org_id"]
            .as_str()
            .unwrap()
            .split('-')
            .count(),
        5
    );
    assert_eq!(
        keys(&c["env0"]),
        ["api_key_id", "api_key_secret", "organization_id"]
    );
    assert_eq!(keys(&c["traceloop"]), ["api_key"]);

    let (status, body) = running.get("/_sandbox/state");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(atlas["org_id"].as_str().unwrap()));
    let (status, body) = running.get("/api/atlas/v2/orgs");
    assert_eq!(status, 401);
    assert!(
        body.contains("WWW-Authenticate: Digest realm=\"MMS Public API\"")
            || body.contains("www-authenticate: Digest realm=\"MMS Public API\"")
    );

    let (exit, rest) = running.terminate();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(rest, "", "exactly one line on stdout");
}

#[test]
fn printed_credentials_authenticate_every_vendor() {
    use base64::Engine as _;
    let running = start(&[]);
    let c = running.line["credentials"].clone();
    let text = |v: &Value| v.as_str().unwrap().to_owned();

    let bearer = format!("Bearer {}", text(&c["braintrust"]["api_key"]));
    let (status, body) =
        running.request("GET", "/v1/organization", &[("Authorization", &bearer)], "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&text(&c["braintrust"]["org_id"])));
    let (status, body) = running.request(
        "POST",
        "/v1/api_key",
        &[("Authorization", &bearer)],
        r#"{"name": "from-bin"}"#,
    );
    assert_eq!(status, 200, "{body}");
    // Only the organization-owner service token creates service tokens.
    let token_request = format!(
        r#"{{"name": "from-bin", "service_account_id": "{}"}}"#,
        text(&c["braintrust"]["service_account_id"])
    );
    let (status, body) = running.request(
        "POST",
        "/v1/service_token",
        &[("Authorization", &bearer)],
        &token_request,
    );
    assert_eq!(status, 403, "{body}");
    let owner = format!("Bearer {}", text(&c["braintrust"]["service_token"]));
    let (status, body) = running.request(
        "POST",
        "/v1/service_token",
        &[("Authorization", &owner)],
        &token_request,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""key":"bt-st-"#), "{body}");

    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            text(&c["env0"]["api_key_id"]),
            text(&c["env0"]["api_key_secret"])
        ))
    );
    let (status, body) = running.request("GET", "/organizations", &[("Authorization", &basic)], "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&text(&c["env0"]["organization_id"])));
    let (status, _) = running.request("GET", "/organizations", &[], "");
    assert_eq!(status, 401);

    let bearer = format!("Bearer {}", text(&c["traceloop"]["api_key"]));
    let (status, body) = running.request(
        "POST",
        "/v2/organizations",
        &[("Authorization", &bearer)],
        r#"{"org_name": "from-bin"}"#,
    );
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"slug\":\"prd\""));

    let (status, state) = running.get("/_sandbox/state");
    assert_eq!(status, 200);
    assert!(state.contains("from-bin"));
    assert!(state.contains("\"traceloop.orgs.create\":1"));
    let (exit, _) = running.terminate();
    assert!(exit.success());
}

#[test]
fn state_file_keeps_the_credentials_across_restarts() {
    let dir = std::env::temp_dir().join(format!(
        "keysmith-sandbox-bin-{}-{}",
        std::process::id(),
        line!()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let state_arg = state.to_str().unwrap();

    let first = start(&["--state", state_arg]);
    let credentials = first.line["credentials"].clone();
    let (exit, _) = first.terminate();
    assert!(exit.success());
    assert!(state.exists());

    let second = start(&["--state", state_arg, "--addr=127.0.0.1:0"]);
    assert_eq!(second.line["credentials"], credentials);
    let (exit, _) = second.terminate();
    assert!(exit.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn faults_flag_applies_from_the_start() {
    let running = start(&["--faults", "throttle_rate=1"]);
    let (status, body) = running.get("/api/atlas/v2/orgs");
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("Retry-After: 1") || body.contains("retry-after: 1"));
    let (exit, _) = running.terminate();
    assert!(exit.success());
}

#[test]
fn faults_can_aim_at_some_methods() {
    let running = start(&["--faults", "error_rate=1,methods=POST+DELETE"]);
    let (status, body) = running.get("/api/atlas/v2/orgs");
    assert_eq!(status, 401, "a GET is not faulted: {body}");
    let (status, body) = running.request("POST", "/v1/api_key", &[], "{}");
    assert_eq!(status, 503, "{body}");
    let (status, body) = running.get("/_sandbox/faults");
    assert_eq!(status, 200);
    assert!(body.contains(r#""methods":["POST","DELETE"]"#), "{body}");
    let (exit, _) = running.terminate();
    assert!(exit.success());
}

#[test]
fn bad_arguments_exit_with_usage() {
    for args in [
        &["--bogus"][..],
        &["--addr"],
        &["--addr", "nowhere"],
        &["--faults", "error_rate=7"],
        &["--faults", "methods=FETCH"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_keysmith-sandbox"))
            .args(args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage: keysmith-sandbox"));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_keysmith-sandbox"))
        .arg("--help")
        .output()
        .expect("run");
    assert!(out.status.success());
}

/// The process's state letter from `/proc/<pid>/stat` (`Z` for a zombie), or `None` when the
/// process is gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Stopped: gone, or a zombie nobody reaped (PID 1 of a container may not reap).
fn stopped_within(pid: u32, limit: Duration) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if matches!(process_state(pid), None | Some('Z')) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Runs `script` with `sh -c` (at most 30 s) and returns its stdout lines.
fn sh(script: &str) -> Vec<String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("SANDBOX", env!("CARGO_BIN_EXE_keysmith-sandbox"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh");
    let (tx, rx) = mpsc::channel();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut out = String::new();
        let mut err = String::new();
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut err);
        let _ = tx.send((out, err));
    });
    let (out, err) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the shell returns: the background sandbox holds none of its pipes");
    let status = child.wait().unwrap();
    assert!(status.success(), "{script}: {status:?}\n{err}");
    out.lines().map(str::to_owned).collect()
}

#[test]
fn env_readies_a_shell_like_ssh_agent() {
    let lines = sh(r#"eval "$("$SANDBOX" --env)" || exit 9
        printf '%s\n' "$KEYSMITH_SANDBOX_PID" "$KEYSMITH_SANDBOX_URL" "$BRAINTRUST_API_URL" \
          "$BRAINTRUST_API_KEY" "$ENV0_API_ENDPOINT" "$ENV0_API_KEY" "$ENV0_API_SECRET" \
          "$ENV0_ORGANIZATION_ID" "$MONGODB_ATLAS_BASE_URL" "$MONGODB_ATLAS_PUBLIC_API_KEY" \
          "$MONGODB_ATLAS_PRIVATE_API_KEY" "$KEYSMITH_SANDBOX_ATLAS_ORG_ID" \
          "$TRACELOOP_BASE_URL" "$TRACELOOP_API_KEY" "$BRAINTRUST_ORG_NAME" \
          "$KEYSMITH_SANDBOX_BRAINTRUST_ORG_ID" "$KEYSMITH_SANDBOX_ATLAS_CLIENT_ID" \
          "${MONGODB_ATLAS_CLIENT_ID-unset}" "$KEYSMITH_SANDBOX_BRAINTRUST_SERVICE_ACCOUNT_ID" \
          "$KEYSMITH_SANDBOX_BRAINTRUST_USER_API_KEY""#);
    assert_eq!(lines.len(), 20, "{lines:?}");
    let pid: u32 = lines[0].parse().expect("a pid");
    let url = &lines[1];
    for same in [2, 4, 8, 12] {
        assert_eq!(&lines[same], url);
    }
    assert!(lines.iter().all(|l| !l.is_empty()), "{lines:?}");
    assert_eq!(
        lines[17], "unset",
        "no Atlas service account beside the key pair"
    );

    // The pid is the server, alive, in a process group of its own.
    assert_eq!(process_state(pid).map(|s| s != 'Z'), Some(true));
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.contains("keysmith-sandbox"), "{cmdline:?}");
    assert!(!cmdline.contains("--env"), "{cmdline:?}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let pgrp = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(2);
    assert_eq!(
        pgrp,
        Some(pid.to_string().as_str()),
        "its own process group"
    );

    // The exported credentials authenticate.
    let running = Remote {
        addr: url.trim_start_matches("http://").to_owned(),
    };
    let bearer = format!("Bearer {}", lines[3]);
    let (status, body) = running.request("GET", "/v1/organization", &[("Authorization", &bearer)]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&lines[15]));
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", lines[5], lines[6]))
    );
    // BRAINTRUST_API_KEY is the organization-owner service token: it creates service tokens.
    assert!(lines[3].starts_with("bt-st-"), "{}", lines[3]);
    assert!(lines[19].starts_with("sk-"));
    let (status, body) = running.request_with_body(
        "POST",
        "/v1/service_token",
        &[("Authorization", &bearer)],
        &format!(
            r#"{{"name": "env", "service_account_id": "{}"}}"#,
            lines[18]
        ),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = running.request("GET", "/organizations", &[("Authorization", &basic)]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&lines[7]));
    let (status, body) = running.request("GET", "/_sandbox/state", &[]);
    assert_eq!(status, 200);
    assert!(body.contains(&lines[11]) && body.contains(&lines[9]));

    // `kill $KEYSMITH_SANDBOX_PID` stops it.
    sh(&format!("kill {pid}"));
    assert!(
        stopped_within(pid, Duration::from_secs(20)),
        "stopped by kill"
    );
    assert!(
        TcpStream::connect(&running.addr).is_err(),
        "no longer listening"
    );
}

#[test]
fn env_combines_with_the_other_flags() {
    let dir = std::env::temp_dir().join(format!(
        "keysmith-sandbox-bin-{}-{}",
        std::process::id(),
        line!()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("it's a state.json");
    let log = dir.join("sandbox.log");
    let script = format!(
        r#"eval "$("$SANDBOX" --addr=127.0.0.1:0 --env --state '{}' --faults throttle_rate=1 --log '{}')" || exit 9
        printf '%s\n' "$KEYSMITH_SANDBOX_PID" "$KEYSMITH_SANDBOX_URL""#,
        state.display().to_string().replace('\'', r"'\''"),
        log.display()
    );
    let lines = sh(&script);
    let pid: u32 = lines[0].parse().unwrap();
    let running = Remote {
        addr: lines[1].trim_start_matches("http://").to_owned(),
    };
    let (status, body) = running.request("GET", "/api/atlas/v2/orgs", &[]);
    assert_eq!(
        status, 429,
        "--faults reached the background sandbox: {body}"
    );
    assert!(state.is_file(), "--state reached it");
    assert!(log.is_file(), "--log is where its stderr goes");
    sh(&format!("kill {pid}"));
    assert!(stopped_within(pid, Duration::from_secs(20)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn env_reports_a_failure_to_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_keysmith-sandbox"))
        .args(["--env", "--addr", &addr])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing to eval");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did not start") && err.contains(&addr),
        "{err}"
    );
    // A bad flag fails before anything starts, with the usage.
    for args in [
        &["--env", "--bogus"][..],
        &["--env=yes"],
        &["--env", "--log"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_keysmith-sandbox"))
            .args(args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage: keysmith-sandbox"));
    }
}

/// A sandbox this test did not start itself (reached by address only).
struct Remote {
    addr: String,
}

impl Remote {
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        self.request_with_body(method, path, headers, "")
    }

    fn request_with_body(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        write!(stream, "{head}\r\n{body}").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        (status, response)
    }
}
