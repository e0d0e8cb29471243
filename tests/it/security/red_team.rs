//! Regression tests for the defects an outside red-team pass found (issue 12), one per defect,
//! each named after it. Item 0 (a full bin's capture cost) is measured by `bench/`, not timed
//! here; its test pins that eviction from the low end keeps exactly the newest requests.

use std::process::Stdio;
use std::time::Duration;

use hyper::StatusCode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::read_until_close;
use crate::support::process::{Hookbin, command, limited};
use crate::support::{Req, TestServer, eventually, send, try_send};

/// The paths of a bin's stored requests, newest first.
async fn stored_paths(s: &TestServer, bin: &str) -> Vec<String> {
    let list = s
        .get(&format!("/api/bins/{bin}/requests?limit=100"))
        .await
        .json();
    list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_full_bin_evicts_its_oldest_requests_from_the_low_end() {
    let s = TestServer::start_with(|c| c.max_requests = 0).await;
    let bin = s.new_bin().await;
    for i in 0..5 {
        s.capture(&bin, Req::new("POST", &format!("/{i}"))).await;
    }
    // Lowering the cap below what the bin holds: the next capture removes all the excess.
    let s = s.restart_with(|c| c.max_requests = 2).await;
    s.capture(&bin, Req::new("POST", "/5")).await;
    let want: Vec<String> = [5, 4].iter().map(|i| format!("/b/{bin}/{i}")).collect();
    assert_eq!(stored_paths(&s, &bin).await, want);
    s.capture(&bin, Req::new("POST", "/6")).await;
    let got = s.get(&format!("/api/bins/{bin}")).await.json();
    assert_eq!(got["request_count"], 2);
    let want: Vec<String> = [6, 5].iter().map(|i| format!("/b/{bin}/{i}")).collect();
    assert_eq!(stored_paths(&s, &bin).await, want);
}

#[tokio::test]
async fn a_200_kb_nested_json_body_cannot_crash_hookbin() {
    // Under a 2 GB address-space limit the old quadratic indentation aborted the process.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let mut h = Hookbin::spawn(
        limited(&["--as=2000000000"])
            .args(["--listen", "127.0.0.1:0", "--bin", "deep", "--db"])
            .arg(&db),
    );
    let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = send(
        h.addr,
        Req::new("POST", "/b/deep")
            .header("content-type", "application/json")
            .body(body.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json()["request_id"].as_str().unwrap().to_owned();

    let page = send(h.addr, Req::new("GET", &format!("/requests/{id}"))).await;
    assert_eq!(page.status, StatusCode::OK);
    let shown = crate::support::texts(&page.html(), "pre.code");
    assert!(
        shown
            .iter()
            .any(|t| t.starts_with("[[[[") && t.len() == body.len()),
        "the body is shown as its text, unindented"
    );
    let bin_page = send(h.addr, Req::new("GET", "/bins/deep")).await;
    assert_eq!(bin_page.status, StatusCode::OK);
    let api = send(h.addr, Req::new("GET", &format!("/api/requests/{id}"))).await;
    assert_eq!(api.json()["body_text"], body.as_str());

    let server = format!("http://{}", h.addr);
    let tail = tokio::task::spawn_blocking(move || {
        command()
            .args([
                "tail", "deep", "-n", "1", "--max", "0", "--body", "--server", &server,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        tail.status.success(),
        "{}",
        String::from_utf8_lossy(&tail.stderr)
    );
    assert!(
        tail.stdout.len() < 2 * body.len(),
        "tail printed {} bytes for a {} byte body",
        tail.stdout.len(),
        body.len()
    );
    assert!(h.alive(), "hookbin is still running");
    let peak = h.peak_rss_mib();
    assert!(peak < 256.0, "peak RSS {peak:.0} MiB");
}

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
async fn an_empty_token_never_signs_in() {
    // The server refuses to start with one...
    let dir = tempfile::tempdir().unwrap();
    for token in ["", "too-short"] {
        let out = command()
            .args(["--listen", "127.0.0.1:0", "--token", token, "--db"])
            .arg(dir.path().join("h.db"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("at least 16"), "{err}");
    }
    // ...and a server with a token never takes an empty credential for it.
    let s = TestServer::start_with(|c| c.token = Some("a-token-of-enough-length".into())).await;
    for cookie in ["hookbin_token=", "hookbin_token"] {
        let r = s
            .send(Req::new("GET", "/api/webhooks").header("cookie", cookie))
            .await;
        r.assert_error(StatusCode::UNAUTHORIZED);
    }
    let r = s
        .send(Req::new("GET", "/api/webhooks").header("authorization", "Bearer "))
        .await;
    r.assert_error(StatusCode::UNAUTHORIZED);
    let login = s
        .send(
            Req::new("POST", "/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body("token=&next=%2F"),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert!(login.headers.get("set-cookie").is_none());
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
async fn a_second_server_on_one_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let first = Hookbin::start(&db, &["--bin", "one"]);
    let second = command()
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("already serving"), "{err}");
    assert!(
        err.contains(&format!("process {}", first.child.id())),
        "{err}"
    );
    // The commands that use the database directly still work beside the server.
    let list = command()
        .args(["webhooks", "list", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let r = send(first.addr, Req::new("POST", "/b/one")).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            ok.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[tokio::test]
async fn deletes_work_on_a_full_disk() {
    let disk = SmallDisk::mount("48m");
    let db = disk.0.path().join("h.db");
    let h = Hookbin::start(&db, &["--bin", "a", "--bin", "b"]);
    let chunk = vec![b'z'; 64 * 1024];
    let mut stored = 0;
    'fill: for bin in ["a", "b"] {
        for _ in 0..400 {
            let r = send(
                h.addr,
                Req::new("POST", &format!("/b/{bin}")).body(chunk.clone()),
            )
            .await;
            if r.status != StatusCode::OK {
                let msg = r.assert_error(StatusCode::INSUFFICIENT_STORAGE);
                assert!(msg.contains("full"), "{msg}");
                break 'fill;
            }
            stored += 1;
        }
    }
    assert!(stored > 50, "only {stored} captures fit");
    let clear = send(h.addr, Req::new("DELETE", "/api/bins/a/requests")).await;
    assert_eq!(clear.status, StatusCode::OK, "{}", clear.text());
    let delete = send(h.addr, Req::new("DELETE", "/api/bins/b")).await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT, "{}", delete.text());
    // The room made is usable again.
    let r = send(h.addr, Req::new("POST", "/b/a").body("fits again")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    drop(h);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    drop(disk);
}

/// Sends raw bytes on a new connection and returns the answer's status line.
async fn raw_status(addr: std::net::SocketAddr, request: &str) -> String {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(request.as_bytes()).await.unwrap();
    let (answer, _) = read_until_close(&mut c, 5).await;
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_rebinding_guard_judges_the_authority_the_request_carries() {
    let s = TestServer::start().await;
    // Absolute-form target: its authority counts, not the Host header.
    let line = raw_status(
        s.addr,
        "GET http://evil.example/api/bins HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(line.contains(" 403 "), "{line}");
    // HTTP/1.0 naming no host at all is not taken for a local request.
    let line = raw_status(s.addr, "GET /api/bins HTTP/1.0\r\n\r\n").await;
    assert!(line.contains(" 403 "), "{line}");
    let line = raw_status(s.addr, "GET /api/bins HTTP/1.0\r\nHost: localhost\r\n\r\n").await;
    assert!(line.contains(" 200 "), "{line}");
    // HTTP/2: the :authority pseudo-header is the host.
    for (authority, want) in [("evil.example", 403), ("127.0.0.1", 200)] {
        let stream = TcpStream::connect(s.addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake::<_, _, http_body_util::Full<bytes::Bytes>>(
                hyper_util::rt::TokioExecutor::new(),
                hyper_util::rt::TokioIo::new(stream),
            )
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::get(format!("http://{authority}/api/bins"))
            .body(http_body_util::Full::default())
            .unwrap();
        let status = sender.send_request(req).await.unwrap().status();
        assert_eq!(status.as_u16(), want, "{authority}");
    }
    // Bin URLs are built from the carried authority too, never from a foreign one.
    let line = raw_status(
        s.addr,
        &format!(
            "POST http://localhost:{}/api/bins HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            s.addr.port()
        ),
    )
    .await;
    assert!(line.contains(" 201 "), "{line}");
}

#[tokio::test]
async fn the_sign_in_cookie_is_derived_from_the_token_and_secure_over_https() {
    let token = "a-token-of-enough-length";
    let s = TestServer::start_with(|c| {
        c.token = Some(token.into());
        c.public_url = Some("https://hooks.example".into());
    })
    .await;
    let r = s
        .send(
            Req::new("POST", "/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={token}&next=%2F")),
        )
        .await;
    let cookie = r.header("set-cookie").to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    assert!(
        !pair.contains(token),
        "the cookie holds the token itself: {pair}"
    );
    let page = s
        .send(Req::new("GET", "/api/bins").header("cookie", &pair))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    // The token is not a cookie value, nor the cookie value a bearer token.
    let value = pair.split_once('=').unwrap().1;
    let r = s
        .send(Req::new("GET", "/api/bins").header("cookie", format!("hookbin_token={token}")))
        .await;
    r.assert_error(StatusCode::UNAUTHORIZED);
    let r = s
        .send(Req::new("GET", "/api/bins").header("authorization", format!("Bearer {value}")))
        .await;
    r.assert_error(StatusCode::UNAUTHORIZED);
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

/// The stored header lines of a bin's requests, oldest first, as `name: value` text.
async fn stored_headers(s: &TestServer, bin: &str) -> Vec<Vec<String>> {
    let list = s
        .get(&format!("/api/bins/{bin}/requests?limit=100"))
        .await
        .json();
    let mut out = Vec::new();
    for r in list["requests"].as_array().unwrap().iter().rev() {
        let id = r["id"].as_str().unwrap();
        let full = s.get(&format!("/api/requests/{id}")).await.json();
        let lines = full["headers"].as_array().unwrap().iter();
        out.push(
            lines
                .map(|h| format!("{}: {}", h[0].as_str().unwrap(), h[1].as_str().unwrap()))
                .collect(),
        );
    }
    out
}

#[tokio::test]
async fn stored_headers_keep_what_arrived() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    // Content-Length beside chunked framing (hyper closes such a connection after answering,
    // as RFC 9112 asks), then, pipelined on one connection, a repeated identical
    // Content-Length and an ordinary request after it.
    let smuggle_shaped = format!(
        "POST /b/{bin}/te HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    let pipelined = format!(
        "POST /b/{bin}/twice HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\
         Content-Length: 3\r\n\r\nabc\
         POST /b/{bin}/plain HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\
         Connection: close\r\n\r\nok"
    );
    for (stream, answers) in [(smuggle_shaped, 1), (pipelined, 2)] {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(stream.as_bytes()).await.unwrap();
        let (answer, closed) = read_until_close(&mut c, 10).await;
        assert!(closed, "{answer}");
        assert_eq!(answer.matches("HTTP/1.1 200").count(), answers, "{answer}");
    }
    let stored = stored_headers(&s, &bin).await;
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored[0],
        [
            "host: localhost",
            "content-length: 5",
            "transfer-encoding: chunked"
        ]
    );
    assert_eq!(
        stored[1],
        ["host: localhost", "content-length: 3", "content-length: 3"]
    );
    assert_eq!(
        stored[2],
        ["host: localhost", "content-length: 2", "connection: close"]
    );
    // The framing stays the parser's: the chunked body is what was stored.
    let first = s
        .get(&format!("/api/bins/{bin}/requests?limit=100"))
        .await
        .json()["requests"][2]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = s.get(&format!("/api/requests/{first}")).await.json();
    assert_eq!(
        body["body_base64"], "aGVsbG8=",
        "the chunked body, reassembled"
    );
}

#[tokio::test]
async fn sigterm_leaves_no_wal_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stop.db");
    let left = |what: &str| {
        ["-wal", "-shm"]
            .iter()
            .filter(|s| dir.path().join(format!("stop.db{s}")).exists())
            .map(|s| format!("{what} left {s}"))
            .collect::<Vec<_>>()
    };
    let h = Hookbin::start(&db, &[]);
    let bin = send(h.addr, Req::new("POST", "/api/bins")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..20 {
        send(h.addr, Req::new("POST", &format!("/b/{bin}")).body("x")).await;
    }
    // Readers were used too, so every kind of connection must be closed at exit.
    send(
        h.addr,
        Req::new("GET", &format!("/api/bins/{bin}/requests")),
    )
    .await;
    let status = tokio::task::spawn_blocking(move || h.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(left("the server"), Vec::<String>::new());
    // A CLI command on the database cleans up after itself the same way.
    let out = command()
        .args(["webhooks", "list", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(left("the CLI"), Vec::<String>::new());
    let h = Hookbin::start(&db, &[]);
    let got = send(h.addr, Req::new("GET", &format!("/api/bins/{bin}"))).await;
    assert_eq!(got.json()["request_count"], 20);
}
