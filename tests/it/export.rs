//! Export: the curl command re-sends an identical request when run, and HAR 1.2 files hold
//! every field the format requires.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::StatusCode;
use serde_json::Value;

use crate::support::{Req, TestServer};

/// The headers that must arrive again, byte for byte: all but those curl and hyper derive from
/// the connection and the body.
fn comparable(request: &Value) -> Vec<(String, Vec<u8>)> {
    let mut h: Vec<(String, Vec<u8>)> = request["headers_base64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let v = BASE64.decode(p[1].as_str().unwrap()).unwrap();
            (p[0].as_str().unwrap().to_owned(), v)
        })
        .filter(|(k, _)| !matches!(k.as_str(), "host" | "content-length" | "transfer-encoding"))
        .collect();
    h.sort();
    h
}

/// Runs a curl command with `shell` and returns the request it made, as the API shows it.
async fn run_curl(s: &TestServer, bin: &str, shell: &str, cmd: &str) -> Value {
    let before = s
        .get(&format!("/api/bins/{bin}/requests?limit=1"))
        .await
        .json()["requests"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("replay.sh");
    std::fs::write(&script, cmd).unwrap();
    let mut sh = std::process::Command::new(shell);
    sh.arg(&script);
    // Off the async runtime, so the server keeps answering while curl runs.
    let out = tokio::task::spawn_blocking(move || sh.output().expect("sh runs"))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "curl under {shell} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = s
        .get(&format!("/api/bins/{bin}/wait?after={before}&timeout=10s"))
        .await;
    assert_eq!(after.status, StatusCode::OK, "the curl request arrived");
    after.json()
}

fn curl_available() -> bool {
    let found = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "curl is required under CI"
        );
        eprintln!("SKIPPED: curl is not installed; the curl export tests cannot run");
    }
    found
}

#[tokio::test]
async fn the_curl_command_re_sends_an_identical_request() {
    if !curl_available() {
        return;
    }
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let mut binary: Vec<u8> = (0..=255u8).collect();
    binary.extend_from_slice(b"%s %d \\ ' \" $HOME `x`");
    let cases = vec![
        Req::new("POST", "/hooks/a?x=1&y=%20z&arr[]=1")
            .header("content-type", "application/json")
            .header("x-quote", "it's \"quoted\" $HOME")
            .header("x-dup", "1")
            .header("x-dup", "2")
            .header("x-empty", "")
            .body("{\"msg\": \"it's $(not run) `nor this`\"}\n"),
        Req::new("PUT", "/bin")
            .header("content-type", "application/octet-stream")
            .body(binary.clone()),
        Req::new("DELETE", "/gone").header("user-agent", "Stripe/1.0"),
        Req::new("GET", "/plain?q=1"),
        Req::new("POST", "/big").body(vec![b'a'; 100_000]),
        // Bodies that a printf format could mistake: an option, a conversion, an escape, NUL.
        Req::new("POST", "/dash").body(b"-n -- \x00\xff".to_vec()),
        Req::new("POST", "/pct").body(b"%s%n\x01".to_vec()),
        Req::new("POST", "/bs").body(b"\\c\x02 stop".to_vec()),
        Req::new("POST", "/nul").body(b"\x00-".to_vec()),
        // A multipart upload with a binary part, as `curl -F f=@file` sends it: starts with --.
        Req::new("POST", "/upload")
            .header(
                "content-type",
                "multipart/form-data; boundary=------------------------abc",
            )
            .body(multipart_with_binary()),
        // A header value that is not UTF-8 goes out byte for byte.
        Req::new("POST", "/latin1")
            .header("x-latin1", [b'c', b'a', b'f', 0xe9])
            .body("x"),
    ];
    for req in cases {
        let id = s.capture(&bin, req).await;
        let original = s.get(&format!("/api/requests/{id}")).await.json();
        let cmd = s.get(&format!("/api/requests/{id}/curl")).await;
        assert_eq!(cmd.header("content-type"), "text/plain; charset=utf-8");
        for shell in ["bash", "dash"] {
            let again = run_curl(&s, &bin, shell, &cmd.text()).await;
            for field in ["method", "path", "query", "body_base64"] {
                assert_eq!(
                    again[field],
                    original[field],
                    "{field} under {shell}: {}",
                    cmd.text()
                );
            }
            assert_eq!(
                comparable(&again),
                comparable(&original),
                "headers under {shell}: {}",
                cmd.text()
            );
        }
    }
}

/// A multipart body with a text field and a binary file part (every byte value).
fn multipart_with_binary() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"--------------------------abc\r\n");
    b.extend_from_slice(b"Content-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n");
    b.extend_from_slice(b"--------------------------abc\r\n");
    b.extend_from_slice(
        b"Content-Disposition: form-data; name=\"f\"; filename=\"random.bin\"\r\n\
          Content-Type: application/octet-stream\r\n\r\n",
    );
    for i in 0..2196u32 {
        b.push((i * 7 % 256) as u8);
    }
    b.extend_from_slice(b"\r\n--------------------------abc--\r\n");
    b
}

#[tokio::test]
async fn har_exports_hold_the_har_1_2_fields() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let a = s
        .capture(
            &bin,
            Req::new("POST", "/a?x=1&y=2")
                .header("content-type", "application/json")
                .header("cookie", "session=abc; theme=dark")
                .body("{\"a\":1}"),
        )
        .await;
    let b = s
        .capture(&bin, Req::new("PUT", "/b").body(vec![0u8, 0xff, 0x10]))
        .await;
    let c = s.capture(&bin, Req::new("GET", "/c")).await;

    let r = s.get(&format!("/api/bins/{bin}/har")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-disposition").contains(".har"));
    let har = r.json();
    let log = &har["log"];
    assert_eq!(log["version"], "1.2");
    assert_eq!(log["creator"]["name"], "hookbin");
    assert!(log["creator"]["version"].is_string());
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for e in entries {
        assert!(hookbin::time::parse(e["startedDateTime"].as_str().unwrap()).is_some());
        assert!(e["time"].is_number());
        let req = &e["request"];
        for k in ["method", "url", "httpVersion"] {
            assert!(req[k].is_string(), "request.{k}");
        }
        for k in ["cookies", "headers", "queryString"] {
            assert!(req[k].is_array(), "request.{k}");
        }
        for k in ["headersSize", "bodySize"] {
            assert!(req[k].is_i64(), "request.{k}");
        }
        for h in req["headers"].as_array().unwrap() {
            assert!(h["name"].is_string() && h["value"].is_string());
        }
        let resp = &e["response"];
        assert_eq!(resp["status"], 200);
        assert_eq!(resp["statusText"], "OK");
        for k in ["httpVersion", "redirectURL"] {
            assert!(resp[k].is_string(), "response.{k}");
        }
        for k in ["cookies", "headers"] {
            assert!(resp[k].is_array(), "response.{k}");
        }
        assert!(resp["content"]["size"].is_i64() && resp["content"]["mimeType"].is_string());
        assert!(resp["headersSize"].is_i64() && resp["bodySize"].is_i64());
        assert!(e["cache"].is_object());
        for k in ["send", "wait", "receive"] {
            assert!(e["timings"][k].is_number(), "timings.{k}");
        }
    }
    // Newest first, like the bin.
    let ids: Vec<&str> = entries
        .iter()
        .map(|e| e["_hookbin_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [c.as_str(), b.as_str(), a.as_str()]);
    let ea = &entries[2]["request"];
    assert_eq!(ea["url"], s.url(&format!("/b/{bin}/a?x=1&y=2")));
    assert_eq!(ea["postData"]["text"], "{\"a\":1}");
    assert_eq!(ea["postData"]["mimeType"], "application/json");
    assert_eq!(ea["queryString"][1]["name"], "y");
    assert_eq!(ea["cookies"][1]["name"], "theme");
    let eb = &entries[1]["request"];
    assert_eq!(eb["postData"]["_encoding"], "base64");
    assert_eq!(
        BASE64
            .decode(eb["postData"]["text"].as_str().unwrap())
            .unwrap(),
        [0u8, 0xff, 0x10]
    );
    assert!(entries[0]["request"].get("postData").is_none());

    // A selection, a filter, and the page's export link.
    let sel = s
        .get(&format!("/api/bins/{bin}/har?ids={a},{c}"))
        .await
        .json();
    assert_eq!(sel["log"]["entries"].as_array().unwrap().len(), 2);
    let put = s
        .get(&format!("/api/bins/{bin}/har?method=PUT"))
        .await
        .json();
    assert_eq!(put["log"]["entries"][0]["_hookbin_id"], b.as_str());
    assert_eq!(put["log"]["entries"].as_array().unwrap().len(), 1);
    let page = s
        .get(&format!("/bins/{bin}/har?ids={b}&ids={a}"))
        .await
        .json();
    assert_eq!(page["log"]["entries"].as_array().unwrap().len(), 2);

    s.get(&format!("/api/bins/{bin}/har?ids=nope"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    let other = s.new_bin().await;
    s.get(&format!("/api/bins/{other}/har?ids={a}"))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.get("/api/bins/missing/har")
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn har_keeps_header_bytes_and_gives_form_params() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let form = s
        .capture(
            &bin,
            Req::new("POST", "/form")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-latin1", [b'c', b'a', b'f', 0xe9])
                .body("amount=1.10&note=caf%C3%A9+au+lait"),
        )
        .await;
    let upload = s
        .capture(
            &bin,
            Req::new("POST", "/upload")
                .header(
                    "content-type",
                    "multipart/form-data; boundary=------------------------abc",
                )
                .body(multipart_with_binary()),
        )
        .await;
    let har = s
        .get(&format!("/api/bins/{bin}/har?ids={form},{upload}"))
        .await
        .json();
    let entries = har["log"]["entries"].as_array().unwrap();
    let by_id =
        |id: &str| entries.iter().find(|e| e["_hookbin_id"] == id).unwrap()["request"].clone();
    let f = by_id(&form);
    assert_eq!(f["postData"]["text"], "amount=1.10&note=caf%C3%A9+au+lait");
    assert_eq!(
        f["postData"]["params"],
        serde_json::json!([{"name": "amount", "value": "1.10"}, {"name": "note", "value": "café au lait"}])
    );
    let latin1 = f["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "x-latin1")
        .unwrap()
        .clone();
    assert_eq!(
        BASE64
            .decode(latin1["_valueBase64"].as_str().unwrap())
            .unwrap(),
        [b'c', b'a', b'f', 0xe9]
    );
    assert!(latin1["comment"].as_str().unwrap().contains("not UTF-8"));
    let u = by_id(&upload);
    assert_eq!(u["postData"]["_encoding"], "base64");
    assert_eq!(
        u["postData"]["params"],
        serde_json::json!([
            {"name": "note", "value": "hello"},
            {"name": "f", "fileName": "random.bin", "contentType": "application/octet-stream"}
        ])
    );
}

#[tokio::test]
async fn large_har_exports_stream_in_batches_and_keep_their_order() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    // 5 MiB bodies: the export reads them in several batches.
    let mut ids = Vec::new();
    for fill in [b'a', b'b', b'c'] {
        ids.push(
            s.capture(&bin, Req::new("POST", "").body(vec![fill; 5 * 1024 * 1024]))
                .await,
        );
    }
    let har = s.get(&format!("/api/bins/{bin}/har")).await.json();
    let entries = har["log"]["entries"].as_array().unwrap();
    let got: Vec<&str> = entries
        .iter()
        .map(|e| e["_hookbin_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str(), ids[0].as_str()]);
    for (e, fill) in entries.iter().zip(["c", "b", "a"]) {
        let text = e["request"]["postData"]["text"].as_str().unwrap();
        assert_eq!(text.len(), 5 * 1024 * 1024);
        assert!(text.starts_with(fill) && text.ends_with(fill));
    }
}
