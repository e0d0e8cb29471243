//! Connections and heads: silent and slow clients, idle h2c, descriptor-fitted connection
//! limits, the header count flag.

use std::time::Duration;

use hyper::StatusCode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::security::read_until_close;
use crate::support::process::{Hookbin, limited};
use crate::support::{Req, TestServer, eventually, try_send};

/// Opens `n` connections that send `prefix` (maybe nothing) and then nothing more.
async fn silent(addr: std::net::SocketAddr, n: usize, prefix: &[u8]) -> Vec<TcpStream> {
    let mut conns = Vec::new();
    for _ in 0..n {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(prefix).await.unwrap();
        conns.push(c);
    }
    conns
}

#[tokio::test]
async fn silent_connections_cannot_lock_everyone_out() {
    let s = TestServer::start_with(|c| {
        c.limits.max_connections = 6;
        c.limits.header_timeout = Duration::from_secs(1);
    })
    .await;
    let bin = s.new_bin().await;
    let mut quiet = silent(s.addr, 5, b"").await;
    quiet.extend(silent(s.addr, 1, b"P").await);
    // While they hold every slot, a newcomer is refused...
    let refused = try_send(s.addr, Req::new("GET", "/api/bins")).await;
    assert!(refused.is_err() || refused.unwrap().status == StatusCode::SERVICE_UNAVAILABLE);
    // ...until the header timeout closes them: then a fresh client gets through.
    eventually(10, "a fresh client served", || async {
        let r = try_send(s.addr, Req::new("POST", &format!("/b/{bin}")))
            .await
            .ok()?;
        (r.status == StatusCode::OK).then_some(())
    })
    .await;
    for mut c in quiet {
        let (answer, closed) = read_until_close(&mut c, 5).await;
        assert!(closed, "a silent connection is closed");
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_body_that_stalls_gets_408_and_is_not_stored() {
    let s = TestServer::start_with(|c| c.limits.body_timeout = Duration::from_millis(600)).await;
    let bin = s.new_bin().await;
    // Announced 100 bytes, sent 10.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let head =
        format!("POST /b/{bin} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    c.write_all(head.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_close(&mut c, 10).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive"), "{answer}");
    assert!(closed);
    // An endless chunked body that trickles a byte at a time is cut off the same way.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let head = format!("POST /b/{bin} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.write_all(head.as_bytes()).await.unwrap();
    let trickle = async {
        loop {
            if c.write_all(b"1\r\nx\r\n").await.is_err() {
                break;
            }
            // The pace is the behaviour under test: a body that never stops arriving.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), trickle).await;
    let (answer, _) = read_until_close(&mut c, 5).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["request_count"],
        0
    );
}

#[tokio::test]
async fn an_idle_h2c_connection_is_closed() {
    let s = TestServer::start_with(|c| c.limits.header_timeout = Duration::from_millis(800)).await;
    let bin = s.new_bin().await;
    let stream = TcpStream::connect(s.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            // The client answers and sends pings: liveness alone must not keep an idle connection.
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Duration::from_millis(200))
            .keep_alive_while_idle(true)
            .handshake::<_, http_body_util::Full<bytes::Bytes>>(hyper_util::rt::TokioIo::new(
                stream,
            ))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let req = hyper::Request::post(format!("http://127.0.0.1/b/{bin}"))
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"h2")))
        .unwrap();
    assert_eq!(sender.send_request(req).await.unwrap().status(), 200);
    let ended = tokio::time::timeout(Duration::from_secs(10), conn).await;
    assert!(
        ended.is_ok(),
        "the idle connection was still open after 10 s"
    );
}

#[tokio::test]
async fn max_connections_fits_the_open_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Hookbin::spawn(
        limited(&["--nofile=200:200"])
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(dir.path().join("h.db")),
    );
    let mut said = String::new();
    while !said.contains("max connections") {
        let line = h.next_line();
        assert!(!line.is_empty(), "no line about the connection limit");
        said = line;
    }
    assert!(
        said.contains("max connections: 72 (lowered from 1024"),
        "{said}"
    );
    let held = silent(h.addr, 72, b"").await;
    // Past the lowered limit, a client hears 503 instead of a reset.
    let over = eventually(10, "a 503 past the limit", || async {
        let mut c = TcpStream::connect(h.addr).await.ok()?;
        let (answer, _) = read_until_close(&mut c, 2).await;
        answer.starts_with("HTTP/1.1 503").then_some(answer)
    })
    .await;
    assert!(over.contains("too many open connections"), "{over}");
    drop(held);
    eventually(10, "served again", || async {
        let r = try_send(h.addr, Req::new("GET", "/api/bins")).await.ok()?;
        (r.status == StatusCode::OK).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_header_count_limit_is_a_flag() {
    let s = TestServer::start_with(|c| c.limits.max_headers = 150).await;
    let bin = s.new_bin().await;
    let with = |n: usize| {
        let mut req = Req::new("POST", &format!("/b/{bin}"));
        for i in 0..n {
            req = req.header(&format!("x-h{i}"), "v");
        }
        req
    };
    assert_eq!(s.send(with(120)).await.status, StatusCode::OK);
    let over = try_send(s.addr, with(160)).await;
    assert!(
        over.as_ref()
            .is_ok_and(|r| r.status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        "{:?}",
        over.map(|r| r.status)
    );
}
