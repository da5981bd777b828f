//! Tests of the gRPC transport: framing, deadlines, refusals and writes, over an in-memory
//! HTTP/2 connection.

use super::*;
use prost::Message as _;
use std::task::{Context, Poll};
use tokio::io::ReadBuf;

fn headers(timeout: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("grpc-timeout", HeaderValue::from_str(timeout).unwrap());
    headers
}

#[test]
fn reads_grpc_timeouts() {
    for (value, expected) in [
        ("1H", Some(Duration::from_secs(3600))),
        ("2M", Some(Duration::from_secs(120))),
        ("30S", Some(Duration::from_secs(30))),
        ("250m", Some(Duration::from_millis(250))),
        ("7u", Some(Duration::from_micros(7))),
        ("99999999n", Some(Duration::from_nanos(99_999_999))),
        ("99999999H", Some(Duration::from_secs(99_999_999 * 3600))),
        ("123456789S", None),
        ("S", None),
        ("", None),
        ("10", None),
        ("10s", None),
        ("-1S", None),
        ("+1S", None),
        ("1.5S", None),
    ] {
        assert_eq!(timeout(&headers(value)), expected, "{value:?}");
    }
    assert_eq!(timeout(&HeaderMap::new()), None);
}

#[test]
fn frames_carry_their_length() {
    let message = prost_types::Duration {
        seconds: 300,
        nanos: 5,
    };
    let framed = frame(&message).unwrap();
    assert_eq!(framed.first(), Some(&0));
    assert_eq!(declared_len(&framed), Some(framed.len() - PREFIX));
    let back: prost_types::Duration = unframe(framed.slice(PREFIX..)).unwrap();
    assert_eq!(back, message);
    assert_eq!(declared_len(&[0, 0, 0, 1]), None);
    assert_eq!(declared_len(&[0, 0, 0, 1, 0]), Some(256));
    assert_eq!(
        unframe::<prost_types::Duration>(Bytes::from_static(&[0xff]))
            .unwrap_err()
            .code(),
        tonic::Code::Internal
    );
}

#[test]
fn trailers_carry_the_status_and_an_encoded_message() {
    let ok = trailers(&Status::ok(""));
    assert_eq!(ok.get("grpc-status").unwrap(), "0");
    assert!(ok.get("grpc-message").is_none());
    assert_eq!(ok, ok_trailers());
    let failed = trailers(&Status::unimplemented("no such thing: ü\n"));
    assert_eq!(failed.get("grpc-status").unwrap(), "12");
    assert_eq!(
        failed.get("grpc-message").unwrap(),
        "no%20such%20thing:%20%C3%BC%0A"
    );
}

/// Methods for the transport's tests: `Echo` answers its request, `Big` answers 700
/// bytes, `Slow` never answers (and says when it is dropped), `Three` streams three
/// messages and fails.
struct Test {
    dropped: Arc<tokio::sync::Notify>,
}

struct OnDrop(Arc<tokio::sync::Notify>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

impl Services for Test {
    fn method(&self, path: &str) -> Option<Method> {
        let dropped = Arc::clone(&self.dropped);
        let method: Method = match path {
            "/t.S/Echo" => Box::new(|message| {
                Box::pin(async move {
                    Answer::One(unframe::<prost_types::Duration>(message).and_then(|d| frame(&d)))
                })
            }),
            "/t.S/Slow" => Box::new(move |_| {
                Box::pin(async move {
                    let _guard = OnDrop(dropped);
                    std::future::pending::<()>().await;
                    Answer::One(Err(Status::internal("unreachable")))
                })
            }),
            "/t.S/Big" => Box::new(|_| {
                Box::pin(async move {
                    Answer::One(frame(&prost_types::Any {
                        type_url: "t".repeat(700),
                        value: vec![],
                    }))
                })
            }),
            "/t.S/Three" => Box::new(|_| {
                Box::pin(async move {
                    let items = (1..=3)
                        .map(|seconds| frame(&prost_types::Duration { seconds, nanos: 0 }))
                        .chain([Err(Status::aborted("after three"))]);
                    Answer::Many(Box::pin(tokio_stream::iter(items)))
                })
            }),
            _ => return None,
        };
        Some(method)
    }
}

/// What a call got back: the HTTP status, gRPC status and message, and the messages.
#[derive(Debug)]
struct Got {
    http: u16,
    grpc: Option<String>,
    message: Option<String>,
    messages: Vec<prost_types::Duration>,
}

/// A client connection to a fresh server over an in-memory pipe.
async fn client() -> (h2::client::SendRequest<Bytes>, Arc<tokio::sync::Notify>) {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let dropped = Arc::new(tokio::sync::Notify::new());
    let services = Arc::new(Test {
        dropped: Arc::clone(&dropped),
    });
    tokio::spawn(serve_connection(theirs, services, CancellationToken::new()));
    let (send, conn) = h2::client::handshake(ours).await.unwrap();
    tokio::spawn(conn);
    (send, dropped)
}

fn request(path: &str, method: &str, content_type: &str, timeout: Option<&str>) -> Request<()> {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header(CONTENT_TYPE, content_type);
    if let Some(timeout) = timeout {
        request = request.header("grpc-timeout", timeout);
    }
    request.body(()).unwrap()
}

/// Sends `chunks` as the request body, one DATA frame each, and reads the whole answer.
async fn call(
    send: &mut h2::client::SendRequest<Bytes>,
    request: Request<()>,
    chunks: Vec<Vec<u8>>,
) -> Got {
    let (response, mut body) = send.send_request(request, false).unwrap();
    for chunk in chunks {
        body.send_data(Bytes::from(chunk), false).unwrap();
    }
    body.send_data(Bytes::new(), true).unwrap();
    let response = response.await.unwrap();
    let http = response.status().as_u16();
    let header = |h: &HeaderMap, name: &str| h.get(name).map(|v| v.to_str().unwrap().to_string());
    let (mut grpc, mut message) = (
        header(response.headers(), "grpc-status"),
        header(response.headers(), "grpc-message"),
    );
    let mut data = Vec::new();
    let mut recv = response.into_body();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    if let Some(trailers) = recv.trailers().await.unwrap() {
        grpc = header(&trailers, "grpc-status");
        message = header(&trailers, "grpc-message");
    }
    let mut messages = Vec::new();
    let mut rest = &data[..];
    while let Some(len) = declared_len(rest) {
        messages.push(prost_types::Duration::decode(&rest[PREFIX..PREFIX + len]).unwrap());
        rest = &rest[PREFIX + len..];
    }
    assert!(rest.is_empty(), "{rest:?}");
    Got {
        http,
        grpc,
        message,
        messages,
    }
}

fn framed(message: &prost_types::Duration) -> Vec<u8> {
    frame(message).unwrap().to_vec()
}

#[tokio::test]
async fn answers_calls_and_refuses_what_is_not_one() {
    let (mut send, _) = client().await;
    let grpc = "application/grpc";
    let d = prost_types::Duration {
        seconds: 42,
        nanos: 7,
    };
    // One message, whole or cut in three DATA frames.
    let whole = framed(&d);
    for chunks in [
        vec![whole.clone()],
        vec![
            whole[..2].to_vec(),
            whole[2..6].to_vec(),
            whole[6..].to_vec(),
        ],
    ] {
        let got = call(&mut send, request("/t.S/Echo", "POST", grpc, None), chunks).await;
        assert_eq!((got.http, got.grpc.as_deref()), (200, Some("0")), "{got:?}");
        assert_eq!(got.messages, vec![d]);
    }
    let status_of = |got: Got| (got.http, got.grpc, got.messages.len());
    // Unknown methods, no message, two messages, a compressed or cut-short message,
    // bytes that are not the message.
    let cases: Vec<(&str, Vec<Vec<u8>>, &str)> = vec![
        ("/t.S/Nope", vec![whole.clone()], "12"),
        ("/t.S/Echo", vec![], "13"),
        ("/t.S/Echo", vec![whole.clone(), whole.clone()], "13"),
        ("/t.S/Echo", vec![[&[1u8][..], &whole[1..]].concat()], "12"),
        ("/t.S/Echo", vec![[&[2u8][..], &whole[1..]].concat()], "13"),
        ("/t.S/Echo", vec![whole[..whole.len() - 1].to_vec()], "13"),
        ("/t.S/Echo", vec![vec![0, 0, 0, 0, 2, 0xff, 0xff]], "13"),
        ("/t.S/Echo", vec![vec![0, 0xff, 0xff, 0xff, 0xff]], "8"),
    ];
    for (path, chunks, expected) in cases {
        let got = call(&mut send, request(path, "POST", grpc, None), chunks.clone()).await;
        assert_eq!(
            status_of(got),
            (200, Some(expected.to_string()), 0),
            "{path} {chunks:?}"
        );
    }
    // Two messages are refused as such, not as bytes that fail to decode.
    let got = call(
        &mut send,
        request("/t.S/Echo", "POST", grpc, None),
        vec![whole.clone(), whole.clone()],
    )
    .await;
    assert!(
        got.message
            .as_deref()
            .unwrap_or("")
            .contains("more%20than%20one"),
        "{got:?}"
    );
    // Not gRPC at all.
    let got = call(&mut send, request("/t.S/Echo", "GET", grpc, None), vec![]).await;
    assert_eq!(got.http, 405);
    let got = call(
        &mut send,
        request("/t.S/Echo", "POST", "text/plain", None),
        vec![],
    )
    .await;
    assert_eq!(got.http, 415);
    // A stream of three, then its error with the message percent-encoded.
    let got = call(
        &mut send,
        request("/t.S/Three", "POST", grpc, None),
        vec![whole],
    )
    .await;
    assert_eq!(
        got.messages.iter().map(|m| m.seconds).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(got.grpc.as_deref(), Some("10"));
    assert_eq!(got.message.as_deref(), Some("after%20three"));
}

#[tokio::test]
async fn a_call_past_its_deadline_or_cancelled_is_dropped() {
    let (mut send, dropped) = client().await;
    let grpc = "application/grpc";
    let empty = framed(&prost_types::Duration::default());
    let got = call(
        &mut send,
        request("/t.S/Slow", "POST", grpc, Some("20m")),
        vec![empty.clone()],
    )
    .await;
    assert_eq!(got.grpc.as_deref(), Some("4"), "{got:?}");
    tokio::time::timeout(Duration::from_secs(5), dropped.notified())
        .await
        .unwrap();
    // Cancelled by the client (RST_STREAM): the call is dropped too.
    let (response, mut body) = send
        .send_request(request("/t.S/Slow", "POST", grpc, None), false)
        .unwrap();
    body.send_data(Bytes::from(empty), true).unwrap();
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    body.send_reset(h2::Reason::CANCEL);
    drop(response);
    tokio::time::timeout(Duration::from_secs(5), dropped.notified())
        .await
        .unwrap();
    // The connection still serves.
    let got = call(
        &mut send,
        request("/t.S/Echo", "POST", grpc, None),
        vec![framed(&prost_types::Duration::default())],
    )
    .await;
    assert_eq!(got.grpc.as_deref(), Some("0"));
}

/// A stream that writes vectors, as TLS does, and keeps every write.
struct Recording {
    inner: tokio::io::DuplexStream,
    writes: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl AsyncRead for Recording {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Recording {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.poll_write_vectored(cx, &[std::io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &joined))?;
        self.writes.lock().unwrap().push(joined[..n].to_vec());
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The (type, flags, stream) of each HTTP/2 frame in `write`.
fn frames_in(mut write: &[u8]) -> Vec<(u8, u8, u32)> {
    let mut frames = Vec::new();
    while write.len() >= 9 {
        let len = u32::from_be_bytes([0, write[0], write[1], write[2]]) as usize;
        let stream = u32::from_be_bytes([write[5], write[6], write[7], write[8]]) & !(1 << 31);
        frames.push((write[3], write[4], stream));
        write = &write[(9 + len).min(write.len())..];
    }
    frames
}

/// A server on a recording pipe, and a client connection to it with its PINGs.
async fn recorded() -> (
    h2::client::SendRequest<Bytes>,
    h2::PingPong,
    Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
) {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let writes = Arc::default();
    let services = Arc::new(Test {
        dropped: Arc::default(),
    });
    let recording = Recording {
        inner: theirs,
        writes: Arc::clone(&writes),
    };
    tokio::spawn(serve_connection(
        recording,
        services,
        CancellationToken::new(),
    ));
    let (send, mut conn) = h2::client::handshake(ours).await.unwrap();
    let pings = conn.ping_pong().unwrap();
    tokio::spawn(conn);
    (send, pings, writes)
}

/// Whether `frame` (type, flags, stream) is a PING acknowledgement.
fn is_pong(&(kind, flags, stream): &(u8, u8, u32)) -> bool {
    stream == 0 && kind == 6 && flags & 1 == 1
}

#[tokio::test]
async fn an_answer_its_trailers_and_the_ping_ack_that_came_with_it_go_out_in_one_write() {
    let (mut send, mut pings, writes) = recorded().await;
    // A request and a PING sent together, as grpc-go sends its BDP ping beside the next call.
    let (response, mut body) = send
        .send_request(request("/t.S/Big", "POST", "application/grpc", None), false)
        .unwrap();
    body.send_data(Bytes::from(framed(&prost_types::Duration::default())), true)
        .unwrap();
    pings.send_ping(h2::Ping::opaque()).unwrap();
    let mut answer = response.await.unwrap().into_body();
    poll_fn(|cx| pings.poll_pong(cx)).await.unwrap();
    let mut len = 0;
    while let Some(chunk) = answer.data().await {
        len += chunk.unwrap().len();
    }
    assert!(len > 700, "{len}");
    let trailers = answer.trailers().await.unwrap().unwrap();
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");
    let writes = writes.lock().unwrap();
    let frames: Vec<_> = writes.iter().map(|write| frames_in(write)).collect();
    let carrying = |kind: (u8, u8)| {
        frames.iter().position(|write| {
            write
                .iter()
                .any(|&(t, flags, stream)| stream == 1 && t == kind.0 && flags & 1 == kind.1)
        })
    };
    let (data, end_stream) = ((0, 0), (1, 1));
    let message = carrying(data).expect("a write with the answer's DATA");
    assert_eq!(
        carrying(end_stream),
        Some(message),
        "frames per write: {frames:?}"
    );
    // The acknowledgement goes last, after the trailers: grpc-go reads the answer while its
    // PING is out, which asks for no other.
    let last = frames[message].last();
    assert!(last.is_some_and(is_pong), "frames per write: {frames:?}");
    assert_eq!(frames.concat().iter().filter(|f| is_pong(f)).count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_ping_ack_waits_for_a_call_under_way_no_longer_than_the_hold() {
    let (mut send, mut pings, writes) = recorded().await;
    // No call under way: the acknowledgement goes at once.
    let start = tokio::time::Instant::now();
    pings.send_ping(h2::Ping::opaque()).unwrap();
    poll_fn(|cx| pings.poll_pong(cx)).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    // A call that never answers: the acknowledgement waits for it, then goes alone.
    let (_response, mut body) = send
        .send_request(
            request("/t.S/Slow", "POST", "application/grpc", None),
            false,
        )
        .unwrap();
    body.send_data(Bytes::from(framed(&prost_types::Duration::default())), true)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let before = writes.lock().unwrap().len();
    let start = tokio::time::Instant::now();
    pings.send_ping(h2::Ping::opaque()).unwrap();
    poll_fn(|cx| pings.poll_pong(cx)).await.unwrap();
    let waited = start.elapsed();
    assert!(
        (Duration::from_millis(200)..Duration::from_millis(250)).contains(&waited),
        "{waited:?}"
    );
    let writes = writes.lock().unwrap();
    let frames: Vec<_> = writes[before..]
        .iter()
        .map(|write| frames_in(write))
        .collect();
    assert_eq!(frames, [vec![(6, 1, 0)]], "the acknowledgement alone");
}
