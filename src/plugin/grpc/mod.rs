//! gRPC over HTTP/2, on the h2 crate: one task per connection, one per call.
//!
//! tonic's transport served the plugin's calls through hyper's server, hyper-util's glue and
//! tonic's own layers (timeouts, routing, a boxed body per layer, a streaming decoder for a
//! single message). Together they were a quarter of the plugin's instructions in a plan of
//! 300 keys: 17 M in hyper's stream driver and 22 M between the connection and the
//! handlers, against 43 M in the handlers themselves (callgrind, issue 10). What the plugin
//! needs of gRPC is small: every call it serves takes one request message, and answers one
//! message or a stream of them. This module does that and no more; HTTP/2 itself (framing,
//! HPACK, flow control, pings, GOAWAY) stays the h2 crate's.
//!
//! It knows nothing of the services: [`Services`] names the method a path calls.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_stream::{Stream, StreamExt as _};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use self::coalesce::{Activity, Coalesced, Turns};

/// The largest message taken or sent. Terraform sends messages up to MaxInt32;
/// terraform-plugin-go allows 256 MiB.
const MAX_MESSAGE: usize = 256 * 1024 * 1024;

/// Header names every call looks up or sends, made once: a name given as text is parsed
/// and hashed again each time (about 400 instructions).
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// The gRPC message prefix: a compression flag and a big-endian length.
const PREFIX: usize = 5;

/// Messages a call streams back; the first `Err` ends the call with its status.
pub(super) type Messages = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// What a call answers, its messages already framed by [`frame`].
pub(super) enum Answer {
    /// One message, or the status the call failed with.
    One(Result<Bytes, Status>),
    /// Messages one after the other.
    Many(Messages),
}

/// A call under way.
pub(super) type Reply = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// A method ready to be called with its one request message.
pub(super) type Method = Box<dyn FnOnce(Bytes) -> Reply + Send>;

/// The services a connection serves.
pub(super) trait Services: Send + Sync + 'static {
    /// The method `path` (`/package.Service/Method`) names, or `None`: such calls are
    /// answered UNIMPLEMENTED, as gRPC servers answer them.
    fn method(&self, path: &str) -> Option<Method>;
}

/// Frames `message`: the 5-byte prefix, then the message.
///
/// # Errors
/// RESOURCE_EXHAUSTED when the message is larger than [`MAX_MESSAGE`].
pub(super) fn frame(message: &impl prost::Message) -> Result<Bytes, Status> {
    let len = message.encoded_len();
    let prefix = u32::try_from(len)
        .ok()
        .filter(|_| len <= MAX_MESSAGE)
        .ok_or_else(|| {
            Status::resource_exhausted(format!(
                "the answer is {len} bytes, more than the {MAX_MESSAGE} a message may be"
            ))
        })?;
    let mut buf = BytesMut::with_capacity(PREFIX + len);
    buf.put_u8(0);
    buf.put_u32(prefix);
    message
        .encode(&mut buf)
        .map_err(|e| Status::internal(format!("cannot encode the answer: {e}")))?;
    Ok(buf.freeze())
}

/// Decodes one request message.
///
/// # Errors
/// INTERNAL when the bytes are not a `M`, as tonic answers.
pub(super) fn unframe<M: prost::Message + Default>(message: Bytes) -> Result<M, Status> {
    M::decode(message)
        .map_err(|e| Status::internal(format!("failed to decode Protobuf message: {e}")))
}

/// HTTP/2 settings. The windows are large so that a request of any usual size arrives
/// without waiting for a WINDOW_UPDATE; the rest are hyper's defaults, which tonic used.
fn settings() -> h2::server::Builder {
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 20)
        .max_concurrent_streams(200)
        .max_header_list_size(16 << 10)
        .max_send_buffer_size(400 << 10);
    builder
}

/// Serves one connection until the client closes it or, after `shutdown`, until the calls
/// in flight are answered (a GOAWAY tells the client to open no more).
pub(super) async fn serve_connection<T, S>(io: T, services: Arc<S>, shutdown: CancellationToken)
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: Services,
{
    // The stream holds each flush until the connection is polled again, and PING
    // acknowledgements while a call is under way (see `coalesce`).
    let activity = Arc::new(Activity::default());
    let io = Coalesced::new(io, Arc::clone(&activity));
    let served = serve(io, services, shutdown, Arc::clone(&activity));
    Turns::new(Box::pin(served), activity).await;
}

/// [`serve_connection`] on the coalescing stream.
async fn serve<T, S>(
    io: Coalesced<T>,
    services: Arc<S>,
    shutdown: CancellationToken,
    activity: Arc<Activity>,
) where
    T: AsyncRead + AsyncWrite + Unpin,
    S: Services,
{
    let mut conn = match settings().handshake::<_, Bytes>(io).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!(error = %e, "HTTP/2 handshake failed");
            return;
        }
    };
    let mut closing = false;
    loop {
        let next = tokio::select! {
            next = conn.accept() => next,
            () = shutdown.cancelled(), if !closing => {
                closing = true;
                conn.graceful_shutdown();
                continue;
            }
        };
        match next {
            Some(Ok((request, respond))) => {
                // Boxed: the call's future is kilobytes, and tokio moves what it spawns
                // several times on the way into its task (callgrind: six copies per call,
                // the largest memcpy of a plan exec); a box moves as a pointer.
                let under_way = activity.call();
                let call = call(Arc::clone(&services), request, respond);
                tokio::spawn(Box::pin(async move {
                    call.await;
                    drop(under_way);
                }));
            }
            Some(Err(e)) => {
                if !e.is_go_away() && !e.is_io() {
                    tracing::debug!(error = %e, "HTTP/2 connection failed");
                }
                return;
            }
            None => return,
        }
    }
}

/// Answers one call.
async fn call<S: Services>(
    services: Arc<S>,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let (head, mut body) = request.into_parts();
    if let Some(refusal) = refuse(&head) {
        let mut response = Response::new(());
        *response.status_mut() = refusal;
        let _ = respond.send_response(response, true);
        return;
    }
    let Some(method) = services.method(head.uri.path()) else {
        answer_status(&mut respond, &Status::unimplemented(""));
        return;
    };
    let deadline = timeout(&head.headers);
    let answer = async {
        match read_message(&mut body).await {
            Ok(message) => method(message).await,
            Err(status) => Answer::One(Err(status)),
        }
    };
    let answer = async {
        match deadline {
            Some(deadline) => tokio::time::timeout(deadline, answer)
                .await
                .unwrap_or_else(|_| Answer::One(Err(Status::deadline_exceeded("Timeout expired")))),
            None => answer.await,
        }
    };
    // A client that cancels the call (RST_STREAM) drops it here, as hyper did.
    let answer = tokio::select! {
        answer = answer => answer,
        _ = poll_fn(|cx| respond.poll_reset(cx)) => return,
    };
    drop(body);
    match answer {
        Answer::One(Ok(message)) => {
            if let Ok(mut stream) = respond.send_response(grpc_head(), false) {
                if stream.send_data(message, false).is_ok() {
                    let _ = stream.send_trailers(ok_trailers());
                }
            }
        }
        Answer::One(Err(status)) => answer_status(&mut respond, &status),
        Answer::Many(messages) => {
            if let Ok(stream) = respond.send_response(grpc_head(), false) {
                send_all(stream, messages).await;
            }
        }
    }
}

/// Why a request is not a gRPC call at all, as an HTTP status.
fn refuse(head: &http::request::Parts) -> Option<StatusCode> {
    if head.method != http::Method::POST {
        return Some(StatusCode::METHOD_NOT_ALLOWED);
    }
    let grpc = head
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/grpc"));
    (!grpc).then_some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
}

/// The call's `grpc-timeout`, when it has a valid one (at most 8 digits and a unit).
fn timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(GRPC_TIMEOUT)?.to_str().ok()?;
    let digits = value.get(..value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match value.get(digits.len()..)? {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Reads the call's one request message, releasing flow-control capacity as it arrives.
async fn read_message(body: &mut RecvStream) -> Result<Bytes, Status> {
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk =
            chunk.map_err(|e| Status::cancelled(format!("the request was cut short: {e}")))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        match first.take() {
            None if joined.is_empty() => first = Some(chunk),
            None => joined.extend_from_slice(&chunk),
            Some(earlier) => {
                joined.extend_from_slice(&earlier);
                joined.extend_from_slice(&chunk);
            }
        }
        let seen = first.as_deref().unwrap_or(&joined);
        if let Some(len) = declared_len(seen) {
            if len > MAX_MESSAGE || seen.len() > PREFIX.saturating_add(MAX_MESSAGE) {
                return Err(too_large(len));
            }
        }
    }
    let mut data = first.unwrap_or_else(|| joined.freeze());
    let Some(len) = declared_len(&data) else {
        return Err(Status::internal(if data.is_empty() {
            "the request holds no message"
        } else {
            "the request's message is cut short"
        }));
    };
    match data.first() {
        Some(0) => {}
        Some(1) => {
            return Err(Status::unimplemented(
                "compressed messages are not supported",
            ))
        }
        _ => return Err(Status::internal("invalid message compression flag")),
    }
    data.advance(PREFIX);
    match data.len().cmp(&len) {
        std::cmp::Ordering::Equal => Ok(data),
        std::cmp::Ordering::Less => Err(Status::internal("the request's message is cut short")),
        std::cmp::Ordering::Greater => Err(Status::internal(
            "the request holds more than one message for a call that takes one",
        )),
    }
}

/// The length a message's prefix declares, once the prefix is there.
fn declared_len(data: &[u8]) -> Option<usize> {
    let prefix: [u8; 4] = data.get(1..PREFIX)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(prefix)).ok()
}

fn too_large(len: usize) -> Status {
    Status::resource_exhausted(format!(
        "the request's message is {len} bytes, more than the {MAX_MESSAGE} a message may be"
    ))
}

/// The headers of an answer that carries messages.
fn grpc_head() -> Response<()> {
    let mut response = Response::new(());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response
}

/// The trailers that end a call with `status`.
fn trailers(status: &Status) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(2);
    if let Err(unsendable) = status.add_header(&mut headers) {
        // Only a status message that cannot be a header value gets here.
        headers.clear();
        let _ = Status::new(unsendable.code(), "").add_header(&mut headers);
    }
    headers
}

/// The trailers of a call that succeeded: `trailers(&Status::ok(""))`, without building a
/// status.
fn ok_trailers() -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert(GRPC_STATUS, HeaderValue::from_static("0"));
    headers
}

/// Ends a call that carries no message with `status` (a "trailers-only" answer).
fn answer_status(respond: &mut SendResponse<Bytes>, status: &Status) {
    let mut response = grpc_head();
    response.headers_mut().extend(trailers(status));
    let _ = respond.send_response(response, true);
}

/// Sends each message as the client's window allows, then the trailers; stops when the
/// client cancels.
async fn send_all(mut stream: SendStream<Bytes>, mut messages: Messages) {
    let end = loop {
        let next = tokio::select! {
            next = messages.next() => next,
            _ = poll_fn(|cx| stream.poll_reset(cx)) => return,
        };
        match next {
            Some(Ok(message)) => {
                if send_within_window(&mut stream, message).await.is_err() {
                    return;
                }
            }
            Some(Err(status)) => break trailers(&status),
            None => break ok_trailers(),
        }
    };
    let _ = stream.send_trailers(end);
}

/// Sends `data` in pieces no larger than the capacity h2 grants the stream.
async fn send_within_window(stream: &mut SendStream<Bytes>, mut data: Bytes) -> Result<(), ()> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(granted)) => granted,
            _ => return Err(()),
        };
        let piece = data.split_to(granted.min(data.len()));
        stream.send_data(piece, false).map_err(|_| ())?;
    }
    Ok(())
}

mod coalesce;
#[cfg(test)]
mod tests;
