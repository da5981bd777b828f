//! Test scaffolding shared by the vendor clients' tests: a tiny in-process HTTP mock with
//! scripted faults and a request record, and a log capture.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::Value;

/// What a scripted fault does.
#[derive(Clone)]
pub(crate) enum FaultKind {
    /// Answer with this before the handler runs.
    Respond {
        status: u16,
        body: String,
        content_type: &'static str,
        retry_after: Option<u64>,
    },
    /// Run the handler (the write happens), then answer with this status and body.
    CommitThen(u16, String),
    /// Run the handler, then stall past the client's timeout before answering.
    CommitThenStall(Duration),
}

#[derive(Clone)]
struct Fault {
    method: Method,
    path_contains: &'static str,
    kind: FaultKind,
    times: u32,
}

/// One request the mock saw.
#[derive(Clone, Debug)]
#[allow(dead_code)]
pub(crate) struct Seen {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub status: u16,
    pub at: std::time::Instant,
}

/// The vendor part of a mock: state plus a pure request handler.
pub(crate) trait MockVendor: Send + 'static {
    /// Answers one request (after faults that answer first).
    fn handle(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response;
}

struct Core<V> {
    vendor: V,
    seen: Vec<Seen>,
    faults: Vec<Fault>,
}

/// A running mock.
pub(crate) struct Mock<V> {
    pub url: String,
    core: Arc<Mutex<Core<V>>>,
}

impl<V: MockVendor> Mock<V> {
    /// Starts a mock on a free local port.
    pub async fn start(vendor: V) -> Mock<V> {
        let core = Arc::new(Mutex::new(Core {
            vendor,
            seen: Vec::new(),
            faults: Vec::new(),
        }));
        let app = axum::Router::new()
            .fallback(handle::<V>)
            .with_state(Arc::clone(&core));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Mock { url, core }
    }

    /// Runs `f` on the vendor state.
    pub fn with<R>(&self, f: impl FnOnce(&mut V) -> R) -> R {
        f(&mut self.core.lock().unwrap().vendor)
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.core.lock().unwrap().seen.clone()
    }

    /// How many requests of `method` had a path containing `path_contains`.
    pub fn count(&self, method: Method, path_contains: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path.contains(path_contains))
            .count()
    }

    /// Forgets the requests seen so far.
    pub fn reset_seen(&self) {
        self.core.lock().unwrap().seen.clear();
    }

    /// Scripts a fault for the next `times` requests of `method` whose path contains
    /// `path_contains`.
    pub fn fault(&self, method: Method, path_contains: &'static str, kind: FaultKind, times: u32) {
        self.core.lock().unwrap().faults.push(Fault {
            method,
            path_contains,
            kind,
            times,
        });
    }
}

async fn handle<V: MockVendor>(
    State(core): State<Arc<Mutex<Core<V>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (resp, stall) = {
        let mut c = core.lock().unwrap();
        let path = uri.path().to_string();
        let fault = c
            .faults
            .iter_mut()
            .find(|f| f.times > 0 && f.method == method && path.contains(f.path_contains))
            .map(|f| {
                f.times -= 1;
                f.kind.clone()
            });
        let (resp, stall) = match fault {
            Some(FaultKind::Respond {
                status,
                body,
                content_type,
                retry_after,
            }) => {
                let mut b = Response::builder()
                    .status(status)
                    .header("content-type", content_type);
                if let Some(ra) = retry_after {
                    b = b.header("retry-after", ra.to_string());
                }
                (b.body(Body::from(body)).unwrap(), None)
            }
            Some(FaultKind::CommitThen(status, text)) => {
                let _ = c.vendor.handle(&method, &uri, &headers, &body);
                (json_reply(status, &text), None)
            }
            Some(FaultKind::CommitThenStall(d)) => {
                (c.vendor.handle(&method, &uri, &headers, &body), Some(d))
            }
            None => (c.vendor.handle(&method, &uri, &headers, &body), None),
        };
        c.seen.push(Seen {
            method: method.clone(),
            path,
            query: uri.query().unwrap_or("").to_string(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            status: resp.status().as_u16(),
            at: std::time::Instant::now(),
        });
        (resp, stall)
    };
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    resp
}

fn json_reply(status: u16, text: &str) -> Response {
    let ct = if text.trim_start().starts_with('{') {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    Response::builder()
        .status(status)
        .header("content-type", ct)
        .body(Body::from(text.to_string()))
        .unwrap()
}

/// A JSON response.
pub(crate) fn reply(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// A text/plain response.
pub(crate) fn text_reply(status: u16, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The query of `uri` as decoded pairs.
pub(crate) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{}", uri.query().unwrap_or("")))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of query parameter `name`.
pub(crate) fn query_value(uri: &Uri, name: &str) -> Option<String> {
    query_pairs(uri)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Now, RFC 3339, whole seconds.
pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A log sink for `tracing_subscriber`.
#[derive(Clone, Default)]
pub(crate) struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// A JSON subscriber at TRACE level writing here, installed for the current thread
    /// until the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        // While only one dispatcher is registered, `tracing` computes a new callsite's
        // interest and the global max level from the default of whichever thread gets
        // there first: another test's thread, with no subscriber, would switch our events
        // off. A second dispatcher that lives for the whole run keeps it asking all of them.
        static ALWAYS_TWO: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
        ALWAYS_TWO
            .get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // A callsite first hit by a test on another thread, while only the no-op global
        // subscriber was registered, may have cached "never": have it ask again.
        tracing::callsite::rebuild_interest_cache();
        guard
    }
}

/// A fast backoff for tests.
pub(crate) fn fast_backoff() -> super::http::Backoff {
    super::http::Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    }
}

/// HTTP settings for tests.
pub(crate) fn settings(timeout: Duration) -> super::http::HttpSettings {
    super::http::HttpSettings {
        max_retries: 3,
        request_timeout: timeout,
        user_agent: "keysmith-test".into(),
        interrupt: Default::default(),
    }
}

/// JSON shaped like a vendor's: objects whose keys come from `keys` (the wire's field names,
/// so decoders see their own fields with every type), arrays, and every kind of leaf —
/// including ids, dates (some near year 9999) and strings with escapes.
pub(crate) fn vendor_json(
    keys: &'static [&'static str],
) -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        "[0-9a-f]{24}".prop_map(Value::String),
        "(1970|2026|9999)-12-31T23:59:59(\\.[0-9]{1,9})?(Z|\\+14:00|-12:00)"
            .prop_map(Value::String),
        "\u{1b}\\[3[0-9]m.{0,8}\u{0}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(proptest::sample::select(keys), inner, 0..8).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

/// Feeds `body` to `decode` as a 2xx answer of `vendor` and to [`super::http::error_from_response`]
/// with `parser` as an error answer of every interesting status: none may panic.
pub(crate) fn decode_everything(
    vendor: &'static str,
    body: &[u8],
    parser: super::http::ErrorParser,
    decode: impl Fn(&super::http::Response),
) {
    use super::http::{error_from_response, ErrorContext, Redactor, Response, StatusCode};
    for sensitive in [false, true] {
        let resp = Response::from_parts(
            vendor,
            StatusCode::OK,
            axum::http::HeaderMap::new(),
            body.to_vec(),
            sensitive,
        );
        decode(&resp);
    }
    let redactor = Redactor::default();
    for status in [400u16, 401, 403, 404, 409, 422, 429, 500, 502, 503] {
        let ctx = ErrorContext {
            what: "thing",
            parser: Some(parser),
            attempts: 1,
            redactor: &redactor,
        };
        let err = error_from_response(
            vendor,
            StatusCode::from_u16(status).unwrap(),
            &axum::http::HeaderMap::new(),
            body,
            &ctx,
        );
        assert!(err.to_string().chars().count() < 2_400);
    }
}

#[cfg(test)]
mod tests {
    use super::LogBuffer;

    /// A thread with no subscriber that meets a callsite first, or rebuilds the interest
    /// cache, must not switch off the events of a test that installed a `LogBuffer`.
    #[test]
    fn a_log_buffer_keeps_logging_whatever_other_threads_do() {
        fn emit(n: u32) {
            tracing::debug!(n, "seen by the buffer");
        }
        let logs = LogBuffer::default();
        let _guard = logs.install();
        std::thread::spawn(|| {
            emit(0);
            tracing::callsite::rebuild_interest_cache();
        })
        .join()
        .ok();
        emit(1);
        let text = logs.text();
        assert!(
            text.contains("seen by the buffer"),
            "events were lost: {text:?}"
        );
    }
}
