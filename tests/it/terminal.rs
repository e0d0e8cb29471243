//! `hookbin bins new` and `hookbin tail` against a running server (in-process here), run as
//! the real binary.

use std::process::{Output, Stdio};

use crate::support::process::command;
use crate::support::{Req, TestServer, eventually};

/// Runs `hookbin args… --server URL` to the end.
async fn run(s: &TestServer, args: &[&str]) -> Output {
    let mut cmd = command();
    cmd.args(args).args(["--server", &s.url("")]);
    tokio::task::spawn_blocking(move || cmd.stdin(Stdio::null()).output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn bins_new_prints_a_url_that_captures() {
    let s = TestServer::start().await;
    let out = run(&s, &["bins", "new"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap();
    let url = url.trim();
    assert!(url.starts_with(&s.url("/b/")), "{url}");
    let bin = url.rsplit('/').next().unwrap();
    s.capture(bin, Req::new("POST", "").body("hi")).await;

    let named = run(&s, &["bins", "new", "ci-orders"]).await;
    assert_eq!(
        String::from_utf8_lossy(&named.stdout).trim(),
        s.url("/b/ci-orders")
    );
    let again = run(&s, &["bins", "new", "ci-orders"]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let list = run(&s, &["bins", "list"]).await;
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("ci-orders") && text.contains(bin), "{text}");

    // No server there: a clear message and a failing exit.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut cmd = command();
    cmd.args(["bins", "new", "--server", &dead]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach hookbin"));
}

#[tokio::test]
async fn tail_prints_stored_then_new_requests_with_bodies() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    s.capture(
        &bin,
        Req::new("PUT", "/first?x=1")
            .header("content-type", "application/json")
            .body("{\"a\":[1,2]}"),
    )
    .await;
    let mut cmd = command();
    cmd.args([
        "tail",
        &bin,
        "-n",
        "1",
        "--max",
        "2",
        "--body",
        "--server",
        &s.url(""),
    ]);
    let child = tokio::task::spawn_blocking(move || cmd.stdout(Stdio::piped()).output().unwrap());
    // tail is now waiting after the stored request: nothing sent meanwhile can be missed.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.capture(
        &bin,
        Req::new("POST", "/second")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("k=evil+%1B%5B2J+text"),
    )
    .await;
    s.capture(&bin, Req::new("DELETE", "/third")).await;
    eventually(20, "tail to exit after two new requests", || async {
        child.is_finished().then_some(())
    })
    .await;
    let out = child.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let heads: Vec<&str> = text.lines().filter(|l| l.contains("  /b/")).collect();
    assert_eq!(heads.len(), 3, "{text}");
    assert!(heads[0].contains("PUT") && heads[0].contains(&format!("/b/{bin}/first?x=1")));
    assert!(heads[0].contains("200") && heads[0].contains("11 B"));
    assert!(heads[1].contains("POST") && heads[1].contains("/second"));
    assert!(heads[2].contains("DELETE") && heads[2].contains("/third"));
    assert!(
        text.contains("{\n  \"a\": [\n    1,\n    2\n  ]\n}"),
        "pretty JSON: {text}"
    );
    assert!(!text.contains('\u{1b}'), "terminal escapes are neutralised");
    assert!(text.contains("k = evil \\u{1b}[2J text"), "{text}");

    let missing = run(&s, &["tail", "no-such-bin", "--max", "1"]).await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));
}
