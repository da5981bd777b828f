//! Tests of the HTTP layer's bounds, redaction and interrupts against small local servers
//! that misbehave on purpose.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response as AxumResponse;
use axum::routing::any;

use super::*;

/// Serves `app` on a free port; the base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn client(url: &str, interrupt: Interrupt) -> HttpClient {
    let settings = HttpSettings {
        max_retries: 3,
        request_timeout: Duration::from_secs(10),
        user_agent: "keysmith-test".into(),
        interrupt,
    };
    HttpClient::new("test", url, &settings)
        .unwrap()
        .with_backoff(Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(60),
        })
}

#[tokio::test]
async fn bodies_over_the_bound_are_errors_naming_the_endpoint() {
    let chunk = vec![b'x'; 1024 * 1024];
    let app = axum::Router::new()
        // A declared length over the bound is refused before reading.
        .route(
            "/declared",
            any(|| async {
                AxumResponse::builder()
                    .header("content-length", (64u64 << 30).to_string())
                    .body(Body::from("x"))
                    .unwrap()
            }),
        )
        // An endless chunked body is cut at the bound.
        .route(
            "/endless",
            any(move || {
                let chunk = chunk.clone();
                async move {
                    let stream = futures_like_stream(chunk);
                    AxumResponse::builder()
                        .body(Body::from_stream(stream))
                        .unwrap()
                }
            }),
        );
    let url = serve(app).await;
    let http = client(&url, Interrupt::new());
    for path in ["/declared", "/endless"] {
        let started = Instant::now();
        let err = http
            .send(&Request::get(path), &NoAuth)
            .await
            .unwrap_err()
            .error;
        let text = err.to_string();
        assert!(text.contains(&format!("GET {path}")), "{text}");
        assert!(text.contains("16 MiB"), "{text}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

/// An endless stream of `chunk`s.
fn futures_like_stream(
    chunk: Vec<u8>,
) -> impl tokio_stream::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    tokio_stream::iter(std::iter::repeat(chunk).map(Ok))
}

#[tokio::test]
async fn vendor_text_loses_secrets_escapes_and_length() {
    // A proxy that quotes the request's Authorization header back, with terminal escapes,
    // NULs and 5 MB of padding.
    let app = axum::Router::new().route(
        "/echo",
        any(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = format!(
                "\u{1b}[32mApply complete!\u{1b}[0m\0 rejected Authorization: {auth} {}",
                "pad ".repeat(1_250_000)
            );
            AxumResponse::builder()
                .status(400)
                .header("content-type", "text/plain")
                .body(Body::from(body))
                .unwrap()
        }),
    );
    let url = serve(app).await;
    let http = client(&url, Interrupt::new());
    let bearer = BearerAuth::new("test", &Secret::new("sk-bearer-secret-123")).unwrap();
    http.redactor().add("sk-bearer-secret-123");
    let basic = BasicAuth::new("test", "key-id", &Secret::new("basic-secret-456")).unwrap();
    http.redactor().add_basic("key-id", "basic-secret-456");
    let encoded = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "key-id:basic-secret-456",
    );
    for auth in [&bearer as &dyn Authenticator, &basic] {
        let err = http
            .send(&Request::post("/echo"), auth)
            .await
            .unwrap_err()
            .error;
        let text = format!("{err} {err:?}");
        for secret in ["sk-bearer-secret-123", "basic-secret-456", encoded.as_str()] {
            assert!(!text.contains(secret), "{secret} leaked: {}", &text[..300]);
        }
        assert!(
            !text.contains('\u{1b}') && !text.contains('\0'),
            "{text:.300}"
        );
        assert!(text.contains("[redacted]"), "{text:.300}");
        assert!(
            err.to_string().chars().count() < 2_200,
            "cut to 2,000 characters"
        );
    }
}

#[tokio::test]
async fn a_stop_ends_waits_and_reads_but_awaits_writes() {
    let writes = Arc::new(AtomicUsize::new(0));
    let done = Arc::clone(&writes);
    let app = axum::Router::new()
        .route(
            "/slow-read",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route(
            "/slow-write",
            any(move || {
                let done = Arc::clone(&done);
                async move {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    "{\"made\": true}"
                }
            }),
        )
        .route(
            "/throttled",
            any(|| async {
                AxumResponse::builder()
                    .status(429)
                    .header("retry-after", "30")
                    .body(Body::from("slow down"))
                    .unwrap()
            }),
        );
    let url = serve(app).await;
    let interrupt = Interrupt::new();
    let http = client(&url, interrupt.clone());
    let stop_soon = |after: u64| {
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after)).await;
            interrupt.trigger();
        })
    };

    // A write in flight when the stop comes is awaited, and its answer returned.
    let stopper = stop_soon(200);
    let resp = http
        .send(&Request::post("/slow-write"), &NoAuth)
        .await
        .unwrap();
    assert_eq!(resp.body(), b"{\"made\": true}");
    assert_eq!(writes.load(Ordering::SeqCst), 1);
    stopper.await.unwrap();

    // After the stop: a read in flight is abandoned at once, no request starts, and a
    // `Retry-After` wait ends at once.
    let started = Instant::now();
    let err = http
        .send(&Request::get("/slow-read"), &NoAuth)
        .await
        .unwrap_err();
    assert!(
        matches!(err.error, BackendError::Interrupted { .. }),
        "{err}"
    );
    let err = http
        .send(&Request::post("/slow-write"), &NoAuth)
        .await
        .unwrap_err();
    assert!(!err.ambiguous, "a create never sent is not ambiguous");
    assert_eq!(writes.load(Ordering::SeqCst), 1, "no new write started");
    assert!(started.elapsed() < Duration::from_secs(2));

    let interrupt = Interrupt::new();
    let http = client(&url, interrupt.clone());
    let stopper = {
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            interrupt.trigger();
        })
    };
    let started = Instant::now();
    let err = http
        .send(&Request::get("/throttled"), &NoAuth)
        .await
        .unwrap_err();
    assert!(
        matches!(err.error, BackendError::Interrupted { .. }),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the 30 s wait ended"
    );
    stopper.await.unwrap();
}

#[test]
fn retry_decisions() {
    use RetryPolicy::*;
    assert!(Idempotent.retries_status(503) && !Idempotent.retries_status(500));
    assert!(Create.retries_status(429) && !Create.retries_status(503));
    assert!(Create.ambiguous_answer(503) && Create.ambiguous_answer(200));
    assert!(!Create.ambiguous_answer(400) && !Idempotent.ambiguous_answer(503));
    assert!(Create.retries_transport(false) && !Create.retries_transport(true));
    assert!(Create.ambiguous_transport(true) && !Create.ambiguous_transport(false));
    assert!(!Never.retries_status(429) && !Never.retries_transport(false));
}

#[tokio::test]
async fn a_404_from_a_removed_route_keeps_the_vendor_message() {
    let app = axum::Router::new().route(
        "/v1/thing",
        any(|| async {
            AxumResponse::builder()
                .status(404)
                .header("content-type", "application/json")
                .body(Body::from(
                    r#"{"message": "this route was removed; use /v2/thing"}"#,
                ))
                .unwrap()
        }),
    );
    let url = serve(app).await;
    let c = client(&url, Interrupt::default());
    let plain = c
        .send(&Request::post("/v1/thing").describe("the thing"), &NoAuth)
        .await
        .unwrap_err();
    assert!(plain.error.is_not_found(), "{:?}", plain.error);
    let gone = c
        .send(&Request::post("/v1/thing").route_may_be_gone(), &NoAuth)
        .await
        .unwrap_err();
    assert!(
        matches!(&gone.error, BackendError::Http { status: 404, message, .. } if message == "this route was removed; use /v2/thing"),
        "{:?}",
        gone.error
    );
    assert!(!gone.ambiguous, "a refused create did not take effect");
}

#[test]
fn excerpts_are_short_and_clean() {
    assert_eq!(
        excerpt(
            b"<html><head><title> Oops \n</title></head></html>",
            50,
            &Redactor::default()
        ),
        "Oops"
    );
    assert_eq!(
        excerpt(
            b"<div>a<script>x()</script> b</div>",
            50,
            &Redactor::default()
        ),
        "a b"
    );
    let long = "é".repeat(500);
    let e = excerpt(long.as_bytes(), 10, &Redactor::default());
    assert_eq!(e.chars().count(), 11);
    assert!(e.ends_with('…'));
    assert_eq!(
        excerpt(b"\xff\xfeok", 10, &Redactor::default()),
        "\u{fffd}\u{fffd}ok"
    );
}

#[test]
fn backoff_grows_with_jitter_and_honours_retry_after() {
    let b = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(5),
    };
    for _ in 0..50 {
        let d1 = b.delay(1, None);
        assert!(
            d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
            "{d1:?}"
        );
        let d3 = b.delay(3, None);
        assert!(
            d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
            "{d3:?}"
        );
        let d10 = b.delay(10, None);
        assert!(d10 <= Duration::from_secs(1));
        let ra = b.delay(1, Some(Duration::from_secs(2)));
        assert!(
            ra >= Duration::from_secs(2) && ra <= Duration::from_millis(2200),
            "{ra:?}"
        );
        let capped = b.delay(1, Some(Duration::from_secs(3600)));
        assert!(capped <= Duration::from_millis(5500), "{capped:?}");
    }
}

#[test]
fn http_dates() {
    let d = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
    assert_eq!(d.unix_timestamp(), 784111777);
}

/// A proxy on a free port that answers one connection: the request head it read, and for a
/// `CONNECT` the first byte that came through the tunnel. Plain requests get `ok`.
async fn one_shot_proxy() -> (String, tokio::task::JoinHandle<(String, Option<u8>)>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://proxy-user:proxy%20pass@{}",
        listener.local_addr().unwrap()
    );
    let seen = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if sock.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if head.starts_with("CONNECT ") {
            sock.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await
                .unwrap();
            let first = match sock.read(&mut byte).await {
                Ok(1) => Some(byte[0]),
                _ => None,
            };
            (head, first)
        } else {
            sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            (head, None)
        }
    });
    (url, seen)
}

fn client_through(url: &str, proxies: Matcher) -> HttpClient {
    let settings = HttpSettings {
        max_retries: 0,
        request_timeout: Duration::from_secs(5),
        user_agent: "keysmith-test".into(),
        interrupt: Interrupt::new(),
    };
    HttpClient::with_proxies("test", url, &settings, proxies).unwrap()
}

/// Checks that a request head the proxy read carries the proxy's credentials (from its URL)
/// and the client's User-Agent.
fn assert_sent_to_the_proxy(head: &str) {
    let lower = head.to_ascii_lowercase();
    // base64("proxy-user:proxy pass")
    assert!(
        lower.contains("proxy-authorization: basic chjvehktdxnlcjpwcm94esbwyxnz\r\n"),
        "{head}"
    );
    assert!(lower.contains("user-agent: keysmith-test\r\n"), "{head}");
}

#[tokio::test]
async fn plain_http_goes_to_the_proxy_in_absolute_form_with_its_credentials() {
    let (proxy, seen) = one_shot_proxy().await;
    let http = client_through(
        "http://vendor.example:8080/api",
        Matcher::builder().http(proxy).build(),
    );
    let resp = http
        .send(&Request::get("/keys").query("page", "2"), &NoAuth)
        .await
        .unwrap();
    assert_eq!(resp.body(), b"ok");
    let (head, _) = seen.await.unwrap();
    assert!(
        head.starts_with("GET http://vendor.example:8080/api/keys?page=2 HTTP/1.1\r\n"),
        "{head}"
    );
    assert_sent_to_the_proxy(&head);
    assert!(
        head.to_ascii_lowercase().contains("accept: */*\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_with_tls_inside() {
    let (proxy, seen) = one_shot_proxy().await;
    let http = client_through(
        "https://vendor.example/api",
        Matcher::builder().https(proxy).build(),
    );
    // The test proxy is no TLS server: the handshake fails once it has begun.
    let err = http
        .send(&Request::get("/keys"), &NoAuth)
        .await
        .unwrap_err();
    assert!(matches!(err.error, BackendError::Transport { .. }), "{err}");
    let (head, first) = seen.await.unwrap();
    assert!(
        head.starts_with("CONNECT vendor.example:443 HTTP/1.1\r\n"),
        "{head}"
    );
    assert_sent_to_the_proxy(&head);
    assert_eq!(
        first,
        Some(0x16),
        "a TLS handshake record came through the tunnel"
    );
}

#[tokio::test]
async fn no_proxy_hosts_are_reached_directly() {
    let url = serve(axum::Router::new().route("/keys", any(|| async { "direct" }))).await;
    let http = client_through(
        &url,
        Matcher::builder()
            .http("http://127.0.0.1:9")
            .no("127.0.0.1")
            .build(),
    );
    let resp = http.send(&Request::get("/keys"), &NoAuth).await.unwrap();
    assert_eq!(resp.body(), b"direct");
}

#[tokio::test]
async fn a_request_without_an_answer_in_time_is_a_timeout_and_ambiguous_for_a_create() {
    let app = axum::Router::new().route(
        "/never",
        any(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    );
    let url = serve(app).await;
    let settings = HttpSettings {
        max_retries: 0,
        request_timeout: Duration::from_millis(300),
        user_agent: "keysmith-test".into(),
        interrupt: Interrupt::new(),
    };
    let http = HttpClient::new("test", &url, &settings).unwrap();
    let started = Instant::now();
    let err = http
        .send(&Request::post("/never"), &NoAuth)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(err.ambiguous, "the create may have been made");
    assert!(err.to_string().contains("timed out"), "{err}");

    // Nothing listens: the request was never sent.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let http = HttpClient::new("test", &format!("http://{closed}"), &settings).unwrap();
    let err = http
        .send(&Request::post("/keys"), &NoAuth)
        .await
        .unwrap_err();
    assert!(!err.ambiguous, "a create never sent is not ambiguous");
    assert!(err.to_string().contains("could not connect"), "{err}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let followed = Arc::new(AtomicUsize::new(0));
    let hits = Arc::clone(&followed);
    let app = axum::Router::new()
        .route(
            "/keys",
            any(|| async {
                AxumResponse::builder()
                    .status(302)
                    .header("location", "/elsewhere")
                    .body(Body::empty())
                    .unwrap()
            }),
        )
        .route(
            "/elsewhere",
            any(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { "followed" }
            }),
        );
    let url = serve(app).await;
    let http = client(&url, Interrupt::new());
    let err = http
        .send(&Request::get("/keys"), &NoAuth)
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("followed"), "{err}");
    assert_eq!(
        followed.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}
