//! Capture: every request on /b/{id}/… is stored exactly as it arrived.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hyper::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Req, TestServer};

#[tokio::test]
async fn binary_bodies_are_stored_byte_for_byte() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let body: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let id = s
        .capture(
            &bin,
            Req::new("POST", "")
                .header("content-type", "application/octet-stream")
                .body(body.clone()),
        )
        .await;

    let r = s.get(&format!("/api/requests/{id}")).await.json();
    assert_eq!(
        BASE64.decode(r["body_base64"].as_str().unwrap()).unwrap(),
        body
    );
    assert_eq!(r["body_size"], 4096);
    assert!(r["body_text"].is_null(), "binary body has no text form");

    let raw = s.get(&format!("/api/requests/{id}/raw")).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.body.as_ref(), &body[..]);
    assert_eq!(raw.header("content-type"), "application/octet-stream");
}

#[tokio::test]
async fn duplicate_and_non_utf8_headers_survive_in_order() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let id = s
        .capture(
            &bin,
            Req::new("POST", "")
                .header("x-first", "1")
                .header("x-dup", "a")
                .header("x-dup", "b")
                .header("x-latin1", [b'c', b'a', b'f', 0xe9])
                .body("x"),
        )
        .await;
    let r = s.get(&format!("/api/requests/{id}")).await.json();
    let names: Vec<&str> = r["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap())
        .collect();
    let first = names.iter().position(|n| *n == "x-first").unwrap();
    assert_eq!(
        &names[first..first + 4],
        ["x-first", "x-dup", "x-dup", "x-latin1"]
    );
    let raw: Vec<(String, Vec<u8>)> = r["headers_base64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_owned(),
                BASE64.decode(h[1].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(raw[first + 1], ("x-dup".into(), b"a".to_vec()));
    assert_eq!(raw[first + 2], ("x-dup".into(), b"b".to_vec()));
    assert_eq!(
        raw[first + 3],
        ("x-latin1".into(), vec![b'c', b'a', b'f', 0xe9])
    );
}

#[tokio::test]
async fn sub_paths_raw_queries_and_custom_methods_are_kept() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let id = s
        .capture(
            &bin,
            Req::new("FROBNICATE", "/deep/er/path%20x/?b=2&a=%2F&a=&flag"),
        )
        .await;
    let r = s.get(&format!("/api/requests/{id}")).await.json();
    assert_eq!(r["method"], "FROBNICATE");
    assert_eq!(r["path"], format!("/b/{bin}/deep/er/path%20x/"));
    assert_eq!(r["query"], "b=2&a=%2F&a=&flag");
    assert_eq!(r["http_version"], "HTTP/1.1");
    assert!(r["remote_addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(r["bin_id"], bin.as_str());

    let get = s.capture(&bin, Req::new("GET", "")).await;
    let r = s.get(&format!("/api/requests/{get}")).await.json();
    assert_eq!(
        (
            r["method"].as_str(),
            r["path"].as_str(),
            r["query"].as_str()
        ),
        (Some("GET"), Some(&*format!("/b/{bin}")), Some(""))
    );
}

#[tokio::test]
async fn chunked_bodies_are_reassembled() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let chunks = vec![
        Bytes::from_static(b"{\"part\":"),
        Bytes::from_static(b" 1,"),
        Bytes::from_static(b" \"end\": true}"),
    ];
    let id = s.capture(&bin, Req::new("PUT", "/c").chunks(chunks)).await;
    let r = s.get(&format!("/api/requests/{id}")).await.json();
    assert_eq!(r["body_text"], "{\"part\": 1, \"end\": true}");
    let te = r["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "transfer-encoding")
        .unwrap();
    assert_eq!(te[1], "chunked");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413_and_nothing_is_stored() {
    let s = TestServer::start_with(|c| c.max_body = 1024).await;
    let bin = s.new_bin().await;
    let chunks = vec![Bytes::from(vec![b'a'; 600]), Bytes::from(vec![b'b'; 600])];
    let r = s
        .send(Req::new("POST", &format!("/b/{bin}")).chunks(chunks))
        .await;
    let msg = r.assert_error(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(msg.contains("1024"), "{msg}");

    // Exactly at the limit is fine.
    s.capture(
        &bin,
        Req::new("POST", "").chunks(vec![Bytes::from(vec![b'c'; 1024])]),
    )
    .await;
    let list = s.get(&format!("/api/bins/{bin}/requests")).await.json();
    assert_eq!(list["requests"].as_array().unwrap().len(), 1);
    assert_eq!(list["requests"][0]["body_size"], 1024);
}

#[tokio::test]
async fn an_announced_oversized_body_is_refused_before_it_is_sent() {
    let s = TestServer::start_with(|c| c.max_body = 1024).await;
    let bin = s.new_bin().await;
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!("POST /b/{bin} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    // No body byte is sent: the answer must come from the announcement alone.
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut buf))
        .await
        .expect("answered without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["request_count"],
        0
    );
}

#[tokio::test]
async fn unknown_bins_answer_404_and_store_nothing() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    for path in ["/b/nope", "/b/nope/sub", "/b/%3Cscript%3E", "/b/"] {
        let r = s.send(Req::new("POST", path).body("data")).await;
        r.assert_error(StatusCode::NOT_FOUND);
    }
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["request_count"],
        0
    );
    assert_eq!(
        s.get("/api/bins").await.json()["bins"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_oldest_requests_are_evicted_beyond_max_requests() {
    let s = TestServer::start_with(|c| c.max_requests = 3).await;
    let bin = s.new_bin().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(s.capture(&bin, Req::new("POST", &format!("/{i}"))).await);
    }
    let list = s.get(&format!("/api/bins/{bin}/requests")).await.json();
    let kept: Vec<&str> = list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(kept, [&ids[4], &ids[3], &ids[2]]);
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["request_count"],
        3
    );
    s.get(&format!("/api/requests/{}", ids[0]))
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn max_requests_zero_keeps_everything() {
    let s = TestServer::start_with(|c| c.max_requests = 0).await;
    let bin = s.new_bin().await;
    for _ in 0..12 {
        s.capture(&bin, Req::new("POST", "")).await;
    }
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["request_count"],
        12
    );
}

#[tokio::test]
async fn concurrent_captures_are_all_committed() {
    let s = TestServer::start_with(|c| c.max_requests = 0).await;
    let bin = s.new_bin().await;
    let sends = (0..200).map(|i| {
        let addr = s.addr;
        let bin = bin.clone();
        tokio::spawn(async move {
            crate::support::send(
                addr,
                Req::new("POST", &format!("/b/{bin}/{i}")).body(format!("{i}")),
            )
            .await
            .status
        })
    });
    for h in sends.collect::<Vec<_>>() {
        assert_eq!(h.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["request_count"],
        200
    );
}

#[tokio::test]
async fn captures_survive_a_restart() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let id = s.capture(&bin, Req::new("POST", "").body("kept")).await;
    let s = s.restart().await;
    let r = s.get(&format!("/api/requests/{id}")).await.json();
    assert_eq!(r["body_text"], "kept");
    // The restarted server still knows the bin and captures into it.
    s.capture(&bin, Req::new("POST", "")).await;
}

#[tokio::test]
async fn a_bin_deleted_by_another_process_stops_capturing() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    s.capture(&bin, Req::new("POST", "")).await;
    // A second handle on the same database file, as another hookbin process would have.
    let other = hookbin::store::Store::open(&s.db).await.unwrap();
    other
        .delete_bin(&hookbin::model::BinId::parse(&bin).unwrap())
        .await
        .unwrap();
    let r = s
        .send(Req::new("POST", &format!("/b/{bin}")).body("late"))
        .await;
    r.assert_error(StatusCode::NOT_FOUND);
    // No row of the late capture is left behind (PostgreSQL: see postgres.rs).
    if !crate::support::on_postgres() {
        let conn = rusqlite::Connection::open(&s.db).unwrap();
        let orphans: i64 = conn
            .query_row(
                "SELECT count(*) FROM requests WHERE bin_id = ?1",
                [&bin],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0);
    }
}
