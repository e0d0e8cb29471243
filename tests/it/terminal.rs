//! `hookbin bins new` and `hookbin tail` against a running server (in-process here), run as
//! the real binary.

use std::process::{Output, Stdio};

use crate::support::process::{Hookbin, Tail, command};
use crate::support::{Req, TestServer, send};

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

    let list = run(&s, &["bins", "list"]).await;
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("ci-orders") && text.contains(bin), "{text}");

    // No server there: a clear message and a failing exit.
    let dead = crate::support::dead_url();
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
    let mut tail = Tail::spawn(cmd);
    tail.following().await;
    s.capture(&bin, Req::form("/second", "k=evil+%1B%5B2J+text"))
        .await;
    s.capture(&bin, Req::new("DELETE", "/third")).await;
    let out = tail.finish(20).await;
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

#[tokio::test]
async fn tail_follows_across_a_server_restart_and_prints_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tail.db");
    let first = Hookbin::start(&db, &["--bin", "ci"]);
    let addr = first.addr;
    let server = format!("http://{addr}");
    let post = |body: &'static str| async move {
        let r = send(addr, Req::new("POST", "/b/ci/x").body(body)).await;
        assert_eq!(r.status, hyper::StatusCode::OK, "{}", r.text());
        r.json()["request_id"].as_str().unwrap().to_owned()
    };
    post("before").await;

    let mut cmd = command();
    cmd.args([
        "tail", "ci", "-n", "0", "--max", "2", "--json", "--server", &server,
    ]);
    let mut tail = Tail::spawn(cmd);
    tail.following().await;
    assert!(first.terminate().success());
    // While it is down, tail keeps trying; then the same port and database come back.
    tail.said("trying again").await;
    let _second = Hookbin::start_on(&db, addr);
    let a = post("after one").await;
    let b = post("after two").await;
    let out = tail.finish(30).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let ids: Vec<&str> = lines.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [a.as_str(), b.as_str()], "none missed, none repeated");
    assert_eq!(lines[0]["body_text"], "after one");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trying again"), "{err}");
    assert!(err.contains("reconnected"), "{err}");
}

#[tokio::test]
async fn tail_on_an_empty_bin_catches_the_first_request() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let mut cmd = command();
    cmd.args([
        "tail",
        &bin,
        "-n",
        "0",
        "--max",
        "1",
        "--json",
        "--server",
        &s.url(""),
    ]);
    let mut tail = Tail::spawn(cmd);
    // Once tail has seen the bin empty, the first request to arrive is new to it.
    tail.following().await;
    let id = s.capture(&bin, Req::new("POST", "").body("first")).await;
    let out = tail.finish(20).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["id"], id.as_str());
}

#[tokio::test]
async fn bins_new_with_a_name_can_run_twice() {
    let s = TestServer::start().await;
    let first = run(&s, &["bins", "new", "ci-twice"]).await;
    assert!(first.status.success(), "{first:?}");
    let again = run(&s, &["bins", "new", "ci-twice"]).await;
    assert!(again.status.success(), "{again:?}");
    assert_eq!(again.stdout, first.stdout, "the same URL both times");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test]
async fn client_commands_take_the_token_after_the_subcommand() {
    let token = "a-token-of-enough-length";
    let s = TestServer::start_with(|c| c.token = Some(token.into())).await;
    let made = run(&s, &["bins", "new", "tok", "--token", token]).await;
    assert!(made.status.success(), "{made:?}");
    let bin = "tok".to_owned();
    for _ in 0..12 {
        s.capture(&bin, Req::new("POST", "")).await;
    }
    let out = run(&s, &["bins", "list", "--token", token]).await;
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&bin) && text.contains("     12 requests"),
        "{text}"
    );
    // Without it: a 401 that says how to pass one.
    let out = run(&s, &["bins", "list"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") && err.contains("--token") && err.contains("HOOKBIN_TOKEN"),
        "{err}"
    );
    let mut tail = Tail::spawn({
        let mut cmd = command();
        cmd.args([
            "tail", &bin, "-n", "1", "--max", "1", "--json", "--token", token,
        ])
        .args(["--server", &s.url("")]);
        cmd
    });
    tail.following().await;
    s.capture(&bin, Req::new("POST", "/after")).await;
    assert!(tail.finish(20).await.status.success());
}
