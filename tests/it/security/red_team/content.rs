//! Captured content: a hostile JSON body under a memory limit, headers kept as they arrived.

use std::process::Stdio;

use hyper::StatusCode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::security::read_until_close;
use crate::support::process::{Hookbin, command, limited};
use crate::support::{Req, TestServer, send};

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
