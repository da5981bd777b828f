//! Connections: slow and idle clients are cut off (header-read and idle timeouts) while
//! normal requests, keep-alive and slow handlers keep working.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{send, Faults, Options, Server};

const HEADER: Duration = Duration::from_millis(400);
const IDLE: Duration = Duration::from_millis(900);

fn short_timeouts() -> Options {
    Options {
        header_timeout: HEADER,
        idle_timeout: IDLE,
        ..Options::default()
    }
}

/// Waits (at most `limit`) for the server to close `stream`; returns how long it took, or
/// `None` when it is still open. Whatever the server wrote before closing is ignored.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

async fn state_ok(server: &Server) {
    let r = send(server.addr, "GET", "/_sandbox/state", &[], b"")
        .await
        .expect("a normal request is answered");
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn half_open_and_silent_connections_are_closed() {
    let server = Server::start(short_timeouts()).await;
    let mut partial = Vec::new();
    let mut silent = Vec::new();
    for i in 0..150 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        if i % 2 == 0 {
            stream
                .write_all(b"GET /_sandbox/state HTTP/1.1\r\nHost: x\r\n")
                .await
                .expect("write");
            partial.push(stream);
        } else {
            silent.push(stream);
        }
    }
    // While they are held, the sandbox answers.
    state_ok(&server).await;
    for stream in &mut partial {
        let took = closed_within(stream, Duration::from_secs(5))
            .await
            .expect("a partial request head is cut off");
        assert!(took < IDLE, "cut by the header timeout, took {took:?}");
    }
    for stream in &mut silent {
        closed_within(stream, Duration::from_secs(5))
            .await
            .expect("a silent connection is cut off");
    }
    state_ok(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_trickled_request_head_is_cut_off_despite_activity() {
    let server = Server::start(short_timeouts()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    let head = b"GET /_sandbox/state HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut = false;
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await
        {
            assert!(matches!(r, Ok(0) | Err(_)), "no answer to half a head");
            cut = true;
            break;
        }
    }
    assert!(cut, "still open after {:?}", started.elapsed());
    assert!(started.elapsed() < IDLE + HEADER);
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_request_body_is_cut_off() {
    let server = Server::start(short_timeouts()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /_sandbox/faults HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nerror_",
        )
        .await
        .expect("write");
    closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("a stalled body is cut off");
    state_ok(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn keep_alive_lasts_the_idle_timeout_not_the_header_timeout() {
    let server = Server::start(short_timeouts()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let request = b"GET /_sandbox/faults HTTP/1.1\r\nHost: x\r\n\r\n";
    for _ in 0..2 {
        stream.write_all(request).await.expect("write");
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("answered")
            .expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
        // Waiting between requests longer than the header timeout is fine.
        tokio::time::sleep(HEADER + Duration::from_millis(200)).await;
    }
    let took = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(
        took + HEADER + Duration::from_millis(200) >= IDLE - Duration::from_millis(100),
        "closed after {took:?} of waiting"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_slow_handler_is_not_an_idle_client() {
    let server = Server::start(short_timeouts()).await;
    server.sandbox.set_faults(Faults {
        latency_ms: u64::try_from((IDLE + HEADER).as_millis()).unwrap_or(u64::MAX),
        ..Faults::default()
    });
    let r = send(server.addr, "GET", "/api/atlas/v2/orgs", &[], b"")
        .await
        .expect("answered after the injected latency");
    assert_eq!(r.status, 401);
    server.sandbox.set_faults(Faults::default());
    server.stop().await;
}
