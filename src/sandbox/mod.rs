//! `keysmith-sandbox`: one local HTTP server that emulates the vendors' APIs (their paths,
//! authentication schemes, status codes, JSON field names, error bodies and pagination), so
//! the provider can be tried and tested offline.
//!
//! # Layout
//!
//! - this module: [`Sandbox`], [`run`], the options ([`Args`], [`Options`]), the shared state,
//!   the `/_sandbox/*` control routes and the router that merges every vendor's routes;
//! - `store`: every object the sandbox holds, serializable to JSON, persisted with `--state`
//!   (through an exclusively created temporary file, mode 0600, renamed over the target);
//! - `connections`: the listener and each connection served through hyper, with the header
//!   and idle timeouts that cut off slow and idle clients;
//! - [`detach`]: `--env`, the sandbox in the background with shell `export` lines, like
//!   `ssh-agent`;
//! - `faults`: `--faults` and the middleware that injects them;
//! - `digest`: the server side of HTTP Digest authentication;
//! - `ratelimit`: sliding-window request limits (env0's documented 1,000 requests per 60 s,
//!   Braintrust's per-organization limit when set);
//! - one module per emulated vendor (`atlas`, `braintrust`, `env0`, `traceloop`), each with the
//!   same shape: a data type kept in the store (`AtlasData`, …) with
//!   `seeded`/`reset`/`state_view`, `routes(shared)` returning
//!   its router (API routes wrapped in the shared request-counting and fault layers, plus its
//!   sandbox-only helpers under `/_sandbox/<vendor>/`), `fault_response` (its 503/429 bodies),
//!   `family` (the request-counter name of a request) and `not_found` (its 404 for unknown
//!   paths under its prefix).
//!
//! # Control routes
//!
//! - `GET /_sandbox/state`: every object, without secrets (shape in [`Sandbox::state_view`]);
//! - `POST /_sandbox/reset`: empties every vendor's objects except the seeded credentials and
//!   what they belong to, and zeroes the request counters; answers the new state;
//! - `GET /_sandbox/faults`, `POST /_sandbox/faults` (body: the `--faults` SPEC text or the same
//!   as a JSON object; empty clears): the faults in force, `methods` (the HTTP methods the
//!   rates apply to) an array of names or `null` for every method.
//!
//! Vendor helpers (documented in each vendor's module): `/_sandbox/atlas/…` (projects, project
//! roles; Atlas's own project routes then assign keys), `/_sandbox/env0/rate_limit` (lower env0's limit, e.g. `{"limit": 5, "window_secs":
//! 2}`), `/_sandbox/env0/organizations/{id}/projects|roles`, `/_sandbox/braintrust/rate_limit`
//! and `/_sandbox/braintrust/organizations`. Reset keeps the configured rate limits and
//! empties their windows; rate limits are not persisted. Test hooks that make a vendor report
//! a given creation time (body `{"created": "9999-12-31T23:00:00Z"}`, any RFC 3339 date-time,
//! reported verbatim): `POST /_sandbox/env0/api_keys/{id}/created`,
//! `POST /_sandbox/braintrust/api_keys/{id}/created` and
//! `POST /_sandbox/braintrust/service_tokens/{id}/created`. More Braintrust service accounts:
//! `POST /_sandbox/braintrust/service_accounts`.

mod atlas;
mod braintrust;
mod connections;
mod detach;
mod digest;
mod env0;
mod faults;
mod ratelimit;
mod store;
mod traceloop;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

pub use detach::{detach, open_log};
pub use faults::{Faults, FaultsError, Methods};
pub use store::{
    AtlasCredentials, BraintrustCredentials, Credentials, Env0Credentials, TraceloopCredentials,
};

use connections::{SandboxListener, Timeouts};
use store::{IdGen, Store};

/// Usage text of the `keysmith-sandbox` binary.
pub const USAGE: &str = "\
usage: keysmith-sandbox [--addr 127.0.0.1:0] [--state FILE] [--faults SPEC] [--log FILE] [--env]

  --addr ADDR     address to listen on (default 127.0.0.1:0: a free port)
  --state FILE    keep every object in FILE (JSON with every secret: written atomically
                  after each change, mode 0600) and reuse the seeded credentials it holds
                  on restart
  --faults SPEC   inject faults, e.g. error_rate=0.1,throttle_rate=0.1,ambiguous_rate=0.05,latency_ms=20
                  (503s, 429s, writes committed then dropped, added latency); methods=POST+DELETE
                  aims the rates at those HTTP methods only (default: every method)
  --log FILE      append the log to FILE instead of writing it to stderr
  --env           like ssh-agent: start the sandbox in the background, print shell export
                  lines for every backend's environment variables and KEYSMITH_SANDBOX_PID,
                  and exit: eval \"$(keysmith-sandbox --env)\" readies a shell and
                  kill $KEYSMITH_SANDBOX_PID stops the sandbox

Prints one JSON line with the URL and the seeded credentials once it accepts connections,
then serves until SIGTERM or SIGINT. A client that takes over 10 s to send a request head,
stalls a request body or leaves a connection idle for 60 s is disconnected.";

/// Everything that can go wrong starting or running the sandbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// `--help` was asked for.
    #[error("help requested")]
    Help,
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The fault specification is wrong.
    #[error(transparent)]
    Faults(#[from] FaultsError),
    /// The state file cannot be used.
    #[error("state file {}: {message}", path.display())]
    StateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The background sandbox of `--env` exited (or was stopped) before it was ready.
    #[error("the background sandbox did not start ({status}){}", if output.is_empty() { String::new() } else { format!(": {output}") })]
    NotStarted {
        /// How it ended.
        status: String,
        /// What it wrote on stderr.
        output: String,
    },
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A bug or an unexpected condition.
    #[error("internal error: {0}")]
    Internal(String),
}

/// How the sandbox behaves, from the command line or set by tests.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--state FILE`: where objects persist; `None` keeps them in memory only.
    pub state_file: Option<PathBuf>,
    /// `--faults SPEC`: the faults injected from the start.
    pub faults: Faults,
    /// How long an HTTP Digest nonce stays valid (default 300 s).
    pub nonce_ttl: Duration,
    /// How long an OAuth access token stays valid (default 3600 s, as Atlas).
    pub token_ttl: Duration,
    /// How long a client may take to send a request's head once its first byte arrived
    /// (default 10 s); then the connection is closed.
    pub header_timeout: Duration,
    /// How long a connection may move no byte while no request is in flight, and a request
    /// body may stall (default 60 s); then the connection is closed.
    pub idle_timeout: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            state_file: None,
            faults: Faults::default(),
            nonce_ttl: Duration::from_secs(300),
            token_ttl: Duration::from_secs(3600),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The parsed command line of `keysmith-sandbox`.
#[derive(Debug, Clone)]
pub struct Args {
    /// `--addr`: where to listen (default `127.0.0.1:0`).
    pub addr: SocketAddr,
    /// `--env`: start a detached sandbox and print shell `export` lines (see [`detach`]).
    pub env: bool,
    /// `--log FILE`: append the log there instead of writing it to stderr.
    pub log: Option<PathBuf>,
    /// Everything else.
    pub options: Options,
    /// The arguments as given, without `--env` and `--log`: what a detached sandbox runs with.
    serve_args: Vec<String>,
}

impl Args {
    /// Parses the arguments (without the program name). Accepts `--flag value` and
    /// `--flag=value`; `-h`/`--help` yields [`SandboxError::Help`].
    pub fn parse<I>(args: I) -> Result<Args, SandboxError>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let mut parsed = Args {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            env: false,
            log: None,
            options: Options::default(),
            serve_args: Vec::new(),
        };
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                return Err(SandboxError::Help);
            }
            if arg == "--env" {
                parsed.env = true;
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let mut taken = None;
            let mut value = || {
                let v = inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| SandboxError::Usage(format!("{flag} needs a value")))?;
                taken = Some(v.clone());
                Ok::<_, SandboxError>(v)
            };
            match flag.as_str() {
                "--env" => return Err(SandboxError::Usage("--env takes no value".into())),
                "--log" => {
                    let v = value()?;
                    if v.is_empty() {
                        return Err(SandboxError::Usage("--log needs a file name".into()));
                    }
                    parsed.log = Some(PathBuf::from(v));
                    continue;
                }
                "--addr" => {
                    let v = value()?;
                    parsed.addr = v.parse().map_err(|_| {
                        SandboxError::Usage(format!(
                            "--addr: `{v}` is not an address like 127.0.0.1:0"
                        ))
                    })?;
                }
                "--state" => {
                    let v = value()?;
                    if v.is_empty() {
                        return Err(SandboxError::Usage("--state needs a file name".into()));
                    }
                    parsed.options.state_file = Some(PathBuf::from(v));
                }
                "--faults" => parsed.options.faults = Faults::parse(&value()?)?,
                _ => return Err(SandboxError::Usage(format!("unknown argument `{arg}`"))),
            }
            parsed.serve_args.push(flag);
            parsed.serve_args.extend(taken);
        }
        Ok(parsed)
    }
}

/// The state every request handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    store: Mutex<Store>,
    ids: IdGen,
    nonces: digest::NonceBook,
    faults: RwLock<Faults>,
    requests: Mutex<BTreeMap<&'static str, u64>>,
    persister: Option<Persister>,
    token_ttl: Duration,
    env0_limits: ratelimit::RateLimiter<env0::RateLimit>,
    braintrust_limits: ratelimit::RateLimiter<braintrust::RateLimit>,
    timeouts: Timeouts,
}

#[derive(Debug)]
struct Persister {
    path: PathBuf,
    /// The generation last written.
    written: tokio::sync::Mutex<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the store, read-only.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&self.lock())
    }

    /// Runs `f` on the store; when it returns `Ok` the store counts as changed (call
    /// [`Shared::persist`] before answering). `f` must validate before it mutates.
    pub(crate) fn try_mutate<R, E>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut store = self.lock();
        let result = f(&mut store);
        if result.is_ok() {
            store.generation += 1;
        }
        result
    }

    /// Writes the store to the state file if it changed since the last write (concurrent
    /// callers share one write). A no-op without `--state`.
    pub(crate) async fn persist(&self) -> Result<(), SandboxError> {
        let Some(persister) = &self.persister else {
            return Ok(());
        };
        let target = self.read(|s| s.generation);
        let mut written = persister.written.lock().await;
        if *written >= target {
            return Ok(());
        }
        let (generation, bytes) = {
            let store = self.lock();
            (store.generation, store.to_json()?)
        };
        let path = persister.path.clone();
        tokio::task::spawn_blocking(move || store::write_atomically(&path, &bytes))
            .await
            .map_err(|e| SandboxError::Internal(e.to_string()))??;
        *written = generation;
        Ok(())
    }

    /// The id generator.
    pub(crate) fn ids(&self) -> &IdGen {
        &self.ids
    }

    /// The Digest nonces issued.
    pub(crate) fn nonces(&self) -> &digest::NonceBook {
        &self.nonces
    }

    /// How long OAuth access tokens live.
    pub(crate) fn token_ttl(&self) -> Duration {
        self.token_ttl
    }

    /// env0's rate limit and its windows.
    pub(crate) fn env0_limits(&self) -> &ratelimit::RateLimiter<env0::RateLimit> {
        &self.env0_limits
    }

    /// Braintrust's rate limit and its windows.
    pub(crate) fn braintrust_limits(&self) -> &ratelimit::RateLimiter<braintrust::RateLimit> {
        &self.braintrust_limits
    }

    /// The faults in force.
    pub(crate) fn faults(&self) -> Faults {
        *self.faults.read().unwrap_or_else(|p| p.into_inner())
    }

    fn set_faults(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    fn count(&self, family: &'static str) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry(family).or_insert(0) += 1;
    }

    fn requests(&self) -> BTreeMap<&'static str, u64> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn state_view(&self) -> Value {
        let (atlas, braintrust, env0, traceloop) = self.read(|s| {
            (
                s.atlas.state_view(),
                s.braintrust.state_view(self.braintrust_limits.config()),
                s.env0.state_view(self.env0_limits.config()),
                s.traceloop.state_view(),
            )
        });
        json!({
            "atlas": atlas,
            "braintrust": braintrust,
            "env0": env0,
            "traceloop": traceloop,
            "requests": self.requests(),
            "faults": self.faults(),
        })
    }
}

/// Names the request-counter family of a vendor request (`"atlas.api_keys.list"`).
pub(crate) type FamilyOf = fn(&Method, &str) -> &'static str;

/// Middleware counting each request under its family (outermost vendor layer, so requests
/// answered by a fault or an authentication challenge count too).
///
/// It also detaches the request from its connection, as a real vendor's server does: once a
/// request has arrived it is carried out (added latency, then the handler) even when the
/// client goes away meanwhile, so a client that abandons a write it sent cannot count on the
/// write not having happened.
pub(crate) async fn count_requests(
    State((shared, family_of)): State<(Arc<Shared>, FamilyOf)>,
    request: Request,
    next: Next,
) -> Response {
    shared.count(family_of(request.method(), request.uri().path()));
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "a request handler failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Wraps a vendor's API router in the shared layers: request counting (outermost), then
/// fault injection. Layers added by the vendor before this call run inside them.
pub(crate) fn vendor_layers(
    router: Router<Arc<Shared>>,
    shared: &Arc<Shared>,
    family_of: FamilyOf,
    fault_response: faults::FaultResponder,
) -> Router<Arc<Shared>> {
    router
        .route_layer(axum::middleware::from_fn_with_state(
            (shared.clone(), fault_response),
            faults::apply,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            (shared.clone(), family_of),
            count_requests,
        ))
}

/// The most a request body may hold.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Reads each request's body before any guard can refuse it. A refusal (a Digest challenge,
/// a 401) that left the body unread would make hyper close the connection, and a client
/// that resends on the same connection (as every Digest client does) would see it drop. A body
/// that stalls for the idle timeout is answered 408 (and the connection closed).
async fn read_whole_body(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(shared.timeouts.idle, axum::body::to_bytes(body, MAX_BODY));
    match read.await {
        Ok(Ok(bytes)) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Ok(Err(_)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body unreadable or larger than 64 MiB",
        )
            .into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            "the request body stalled",
        )
            .into_response(),
    }
}

/// Decodes `application/x-www-form-urlencoded` text (also a URL query) into pairs.
/// Malformed escapes are kept literally; invalid UTF-8 is replaced.
pub(crate) fn form_pairs(input: &str) -> Vec<(String, String)> {
    fn hex_value(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                        (Some(high), Some(low)) => {
                            out.push(high * 16 + low);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    input
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// A running-or-ready sandbox: its state, ready to be served.
#[derive(Debug, Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
}

impl Sandbox {
    /// Loads the state file (or seeds fresh credentials and objects, writing the file when
    /// one is given) and prepares the shared state.
    pub fn open(options: Options) -> Result<Sandbox, SandboxError> {
        let ids = IdGen::new();
        let store = match &options.state_file {
            Some(path) => Store::load_or_seed(path, &ids)?,
            None => Store::seeded(&ids),
        };
        let persister = options.state_file.as_ref().map(|path| Persister {
            path: path.clone(),
            written: tokio::sync::Mutex::new(store.generation),
        });
        Ok(Sandbox {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                ids,
                nonces: digest::NonceBook::new(options.nonce_ttl),
                faults: RwLock::new(options.faults),
                requests: Mutex::new(BTreeMap::new()),
                persister,
                token_ttl: options.token_ttl,
                env0_limits: ratelimit::RateLimiter::new(env0::RateLimit::default()),
                braintrust_limits: ratelimit::RateLimiter::new(braintrust::RateLimit::default()),
                timeouts: Timeouts {
                    header: options.header_timeout,
                    idle: options.idle_timeout,
                },
            }),
        })
    }

    /// The seeded credentials of every vendor.
    pub fn credentials(&self) -> Credentials {
        self.shared.read(|s| s.credentials.clone())
    }

    /// The start-up line: `{"url":…,"credentials":{…}}`, without a newline.
    pub fn ready_line(&self, url: &str) -> String {
        json!({ "url": url, "credentials": self.credentials() }).to_string()
    }

    /// Every object the sandbox holds, as `GET /_sandbox/state` answers it. Never includes a
    /// private key, secret or token. Shape:
    ///
    /// ```text
    /// {"atlas": {"orgs": [{"id", "name", "created", "skip_default_alerts_settings",
    ///                      "org_owner_id", "seeded", "projects": [{"id", "name"}],
    ///                      "api_keys": [{"id", "desc", "public_key", "roles": ["ORG_…"],
    ///                                    "project_roles": [{"group_id", "role_name"}],
    ///                                    "access_list": [{"cidr_block", "created",
    ///                                                     "last_used", "last_used_address",
    ///                                                     "count"}],
    ///                                    "created", "seeded"}],
    ///                      "service_accounts": [{"client_id", "name", "description", "roles",
    ///                                            "created", "seeded"}]}],
    ///            "tokens_issued": n, "tokens_active": n},
    ///  "braintrust": {"orgs": [{"id", "name", "api_url", "is_universal_api",
    ///                           "is_dataplane_private", "proxy_url", "realtime_url", "created",
    ///                           "image_rendering_mode", "seeded"}],
    ///                 "users": [{"id", "email", "given_name", "family_name"}],
    ///                 "api_keys": [{"id", "name", "preview_name", "org_id", "user_id",
    ///                               "created", "seeded"}],
    ///                 "service_accounts": [{"id", "name", "email", "org_id", "org_owner",
    ///                                       "created", "seeded"}],
    ///                 "service_tokens": [{"id", "name", "preview_name",
    ///                                     "service_account_id", "org_id", "created",
    ///                                     "seeded"}],
    ///                 "rate_limit": {"limit", "window_secs"}},
    ///  "env0": {"orgs": [{"id", "name", "description", "photo_url", "mode", "created_by",
    ///                     "created_at", "seeded", "projects": [{"id", "name"}],
    ///                     "custom_roles": [{"id", "name"}],
    ///                     "api_keys": [{"id", "name", "api_key_id", "organization_role",
    ///                                   "projects_permissions": [{"project_id",
    ///                                                             "project_role"}],
    ///                                   "created_at", "created_by", "last_used_at",
    ///                                   "seeded"}]}],
    ///           "rate_limit": {"limit", "window_secs", "per"}},
    ///  "traceloop": {"orgs": [{"id", "name", "envs": ["dev", …], "retention_hours",
    ///                          "created"}]},
    ///  "requests": {"atlas.api_keys.list": 3, …},
    ///  "faults": {"error_rate", "throttle_rate", "ambiguous_rate", "latency_ms",
    ///             "methods": ["POST", …] or null}}
    /// ```
    pub fn state_view(&self) -> Value {
        self.shared.state_view()
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// The router serving every vendor and the control routes. Fault injection can drop a
    /// connection, and slow or idle clients are cut off, only when served by
    /// [`Sandbox::serve`].
    pub fn router(&self) -> Router {
        let shared = &self.shared;
        Router::new()
            .route("/_sandbox/state", get(get_state))
            .route("/_sandbox/reset", axum::routing::post(post_reset))
            .route("/_sandbox/faults", get(get_faults).post(post_faults))
            .merge(atlas::routes(shared))
            .merge(traceloop::routes(shared))
            .merge(env0::routes(shared))
            .merge(braintrust::routes(shared))
            .fallback(fallback)
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                read_whole_body,
            ))
            .with_state(shared.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting, lets requests
    /// in flight finish (at most 5 s) and returns. Clients slower than the header timeout or
    /// quieter than the idle timeout of [`Options`] are disconnected.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SandboxError> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        let mut graceful_rx = rx.clone();
        let graceful = async move {
            let _ = graceful_rx.wait_for(|stop| *stop).await;
        };
        let mut deadline_rx = rx;
        let deadline = async move {
            if deadline_rx.wait_for(|stop| *stop).await.is_ok() {
                tokio::time::sleep(Duration::from_secs(5)).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let server = connections::serve(
            SandboxListener::new(listener),
            self.router(),
            self.shared.timeouts,
            graceful,
        );
        tokio::select! {
            () = server => {}
            () = deadline => tracing::warn!("requests still in flight 5 s after shutdown; stopping anyway"),
        }
        self.shared.persist().await
    }
}

/// Opens the sandbox, prints the start-up JSON line on stdout (flushed), and serves on
/// `listener` until `shutdown` completes.
pub async fn run(
    options: Options,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SandboxError> {
    let sandbox = Sandbox::open(options)?;
    let addr = listener.local_addr().map_err(|e| SandboxError::Io {
        context: "cannot read the listening address".into(),
        source: e,
    })?;
    let line = sandbox.ready_line(&format!("http://{addr}"));
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| SandboxError::Io {
                context: "cannot write the start-up line".into(),
                source: e,
            })?;
    }
    sandbox.serve(listener, shutdown).await
}

async fn get_state(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(shared.state_view())
}

async fn post_reset(State(shared): State<Arc<Shared>>) -> Response {
    let _ = shared.try_mutate(|s| {
        s.reset();
        Ok::<(), ()>(())
    });
    shared
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    shared.env0_limits.clear();
    shared.braintrust_limits.clear();
    if let Err(e) = shared.persist().await {
        return control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    Json(shared.state_view()).into_response()
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<Faults> {
    Json(shared.faults())
}

async fn post_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return control_error(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    match Faults::parse(text) {
        Ok(faults) => {
            shared.set_faults(faults);
            Json(faults).into_response()
        }
        Err(e) => control_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// The timestamp of a `POST /_sandbox/<vendor>/…/created` test hook's body,
/// `{"created": "<RFC 3339>"}`: any valid RFC 3339 date-time (year 9999 included), kept as
/// written so the vendor's routes report it verbatim. `Err`: why the body is refused.
pub(crate) fn created_of(body: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Created {
        created: String,
    }
    let Created { created } = serde_json::from_slice(body)
        .map_err(|_| "body must be {\"created\": \"<RFC 3339 date-time>\"}".to_owned())?;
    time::OffsetDateTime::parse(&created, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("created: {created:?} is not an RFC 3339 date-time: {e}"))?;
    Ok(created)
}

/// An error of a `/_sandbox/*` route: `{"error": message}`.
pub(crate) fn control_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn fallback(uri: Uri) -> Response {
    let path = uri.path();
    if let Some(response) = atlas::not_found(path)
        .or_else(|| traceloop::not_found(path))
        .or_else(|| env0::not_found(path))
        .or_else(|| braintrust::not_found(path))
    {
        return response;
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("keysmith-sandbox: no route for {}\n", uri.path()),
    )
        .into_response()
}
