//! Access: empty tokens, the rebinding guard's authority, the sign-in cookie.

use std::process::Stdio;

use hyper::StatusCode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::security::read_until_close;
use crate::support::process::command;
use crate::support::{Req, TestServer};

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
    let login = s.send(Req::form("/login", "token=&next=%2F")).await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert!(login.headers.get("set-cookie").is_none());
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
        let mut sender = crate::support::h2(s.addr).await;
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
        .send(Req::form("/login", format!("token={token}&next=%2F")))
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
