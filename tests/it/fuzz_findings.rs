//! What Schemathesis found when it first fuzzed the API (`.ci/fuzz-api`): one regression test
//! per bug, named after it. (The first finding, a method an API path does not take answering
//! 404, is `openapi::unsupported_method_gets_405_with_allow`.)

use hyper::StatusCode;
use serde_json::json;

use tokio::io::AsyncWriteExt;

use crate::security::read_until_close;
use crate::support::{Req, TestServer};

/// `PATCH /api/bins/{id}` with `[null, null]` reset the bin's answer and forward URL: serde
/// reads a struct from an array of its fields in order. Only a JSON object is a body now.
#[tokio::test]
async fn a_json_array_body_is_refused_not_read_as_fields() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let set = json!({"response": {"status": 202, "body": "kept"}});
    assert_eq!(
        s.patch_json(&format!("/api/bins/{bin}"), set).await.status,
        StatusCode::OK
    );
    for body in ["[null, null]", "[null]", "\"text\"", "7"] {
        let r = s
            .send(
                Req::new("PATCH", &format!("/api/bins/{bin}"))
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        let msg = r.assert_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains("JSON object"), "{body}: {msg}");
    }
    let r = s
        .send(
            Req::new("POST", "/api/webhooks")
                .header("content-type", "application/json")
                .body("[\"a\", \"http://x\", \"payment_received\"]"),
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST);
    let r = s
        .send(Req::new("POST", "/api/bins").body("[\"named\"]"))
        .await;
    r.assert_error(StatusCode::BAD_REQUEST);
    let stored = s.get(&format!("/api/bins/{bin}")).await.json();
    assert_eq!(
        stored["response"]["status"], 202,
        "the bin's answer is untouched"
    );
    assert_eq!(stored["response"]["body_text"], "kept");
}

/// A query over the head limit got hyper's own `431`/`414` with an empty body and no
/// Content-Type, where every other error says what went wrong in `{"error": ...}`.
#[tokio::test]
async fn an_oversized_head_or_target_gets_a_json_error() {
    let s = TestServer::start().await;
    let query = format!("/api/bins?x={}", "a".repeat(60_000));
    let r = s
        .send(Req::new("GET", &query).header("x-more", "m".repeat(8_000)))
        .await;
    let msg = r.assert_error(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(msg.contains("--max-header-bytes"), "{msg}");
    assert_eq!(r.header("content-type"), "application/json");
    let r = s
        .send(Req::new("GET", "/api/bins").header("x-big", "b".repeat(70_000)))
        .await;
    r.assert_error(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

    // With room for a long head, a target over hyper's 64 KiB URI limit is a 414 (sent raw:
    // the test's own client refuses to build such a URI), on the API and on a capture alike.
    let roomy = TestServer::start_with(|c| c.limits.max_header_bytes = 1024 * 1024).await;
    let bin = roomy.new_bin().await;
    let long_query = format!("/api/bins?x={}", "a".repeat(70_000));
    for target in [long_query, format!("/b/{bin}?{}", "q".repeat(70_000))] {
        let mut conn = tokio::net::TcpStream::connect(roomy.addr).await.unwrap();
        let head = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        conn.write_all(head.as_bytes()).await.unwrap();
        let (answer, _) = read_until_close(&mut conn, 10).await;
        assert!(answer.starts_with("HTTP/1.1 414"), "{answer:.80}");
        assert!(
            answer.contains("content-type: application/json"),
            "{answer}"
        );
        let error = r#"{"error":"the request target (path and query) is too long"}"#;
        assert!(answer.ends_with(error), "{answer}");
    }
    let stored = roomy.get(&format!("/api/bins/{bin}")).await.json();
    assert_eq!(stored["request_count"], 0);
    // A bin set to answer a bodiless 400 is still answered as set, not rewritten.
    let set = json!({"response": {"status": 400, "headers": {}}});
    roomy.patch_json(&format!("/api/bins/{bin}"), set).await;
    let r = roomy.send(Req::new("POST", &format!("/b/{bin}"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.is_empty(), "{}", r.text());
}

/// `POST /api/requests/{id}/relays` logged a listener's forward with status `0`, which is no
/// HTTP status, and the relay list then answered outside its own schema.
#[tokio::test]
async fn a_listen_report_with_a_status_that_is_not_http_is_refused() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let id = s.capture(&bin, Req::new("POST", "/x").body("{}")).await;
    let path = format!("/api/requests/{id}/relays");
    for status in [0, 99, 1000, 65535] {
        let report = json!({"kind": "listen", "url": "http://127.0.0.1:3000/", "status": status, "duration_ms": 1, "error": null});
        let msg = s
            .post_json(&path, report)
            .await
            .assert_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains("100 to 999"), "{msg}");
    }
    let report = json!({"kind": "listen", "url": "http://127.0.0.1:3000/", "status": null, "duration_ms": 1, "error": "refused"});
    assert_eq!(s.post_json(&path, report).await.status, StatusCode::CREATED);
    let relays = s.get(&path).await.json();
    assert_eq!(relays["relays"].as_array().unwrap().len(), 1);
}

/// `POST /api/bins {"name": " ci "}` made bin `ci`: the API trimmed the name as the page's form
/// does, so a client got another id than it asked for. The API takes names exactly.
#[tokio::test]
async fn api_bin_names_are_taken_exactly_as_given() {
    let s = TestServer::start().await;
    let msg = s
        .post_json("/api/bins", json!({"name": " ci "}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("' ci '"), "{msg}");
    let r = s.post_json("/api/bins", json!({"name": "ci"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["id"], "ci");
}
