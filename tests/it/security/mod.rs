//! Hostile traffic, exposure beyond localhost, and sending safely.

mod red_team;

use std::time::Duration;

use hyper::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::receiver::Receiver;
use crate::support::{Req, TestServer, eventually};

/// Reads until the peer closes or `secs` pass; returns what arrived and whether it closed.
pub(crate) async fn read_until_close(
    conn: &mut tokio::net::TcpStream,
    secs: u64,
) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_slow_head_is_cut_off() {
    let s = TestServer::start_with(|c| c.limits.header_timeout = Duration::from_millis(300)).await;
    let bin = s.new_bin().await;
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(format!("POST /b/{bin} HTTP/1.1\r\nHost: x\r\n").as_bytes())
        .await
        .unwrap();
    let (_, closed) = read_until_close(&mut conn, 10).await;
    assert!(
        closed,
        "a head that never finishes must not hold the connection"
    );
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["request_count"],
        0
    );
}

#[tokio::test]
async fn an_oversized_head_gets_431() {
    let s = TestServer::start_with(|c| c.limits.max_header_bytes = 16 * 1024).await;
    let bin = s.new_bin().await;
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /b/{bin} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let _ = conn.write_all(head.as_bytes()).await;
    let (answer, _) = read_until_close(&mut conn, 10).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.80}");
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503() {
    let s = TestServer::start_with(|c| c.limits.max_connections = 2).await;
    let _a = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let answer = eventually(10, "a refusal", || async {
        let mut c = tokio::net::TcpStream::connect(s.addr).await.ok()?;
        let (answer, _) = read_until_close(&mut c, 2).await;
        answer.starts_with("HTTP/1.1 503").then_some(answer)
    })
    .await;
    assert!(answer.contains("too many open connections"));
    drop((_a, _b));
    eventually(10, "room again", || async {
        let r = tokio::time::timeout(
            Duration::from_secs(2),
            crate::support::send(s.addr, Req::new("GET", "/api/bins")),
        )
        .await;
        r.ok().filter(|r| r.status == StatusCode::OK).map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn http2_prior_knowledge_requests_are_captured() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let mut send = crate::support::h2(s.addr).await;
    let req = hyper::Request::post(format!("http://{}/b/{bin}/h2?x=1", s.addr))
        .header("x-proto", "h2")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"over h2",
        )))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let list = s.get(&format!("/api/bins/{bin}/requests")).await.json();
    let r = &list["requests"][0];
    assert_eq!(r["http_version"], "HTTP/2.0");
    assert_eq!(r["body_text"], "over h2");
    assert_eq!(r["path"], format!("/b/{bin}/h2"));
    // Where it was sent travels in :authority, not Host: it is kept, as the first line.
    let id = r["id"].as_str().unwrap();
    let full = s.get(&format!("/api/requests/{id}")).await.json();
    assert_eq!(full["headers"][0][0], ":authority");
    assert_eq!(full["headers"][0][1], s.addr.to_string());
    // The request page shows it; a curl or replay of it does not send a pseudo-header.
    assert!(
        s.get(&format!("/requests/{id}"))
            .await
            .text()
            .contains(":authority")
    );
    let curl = s.get(&format!("/api/requests/{id}/curl")).await.text();
    assert!(!curl.contains(":authority"), "{curl}");
}

#[tokio::test]
async fn a_flood_on_one_bin_does_not_stop_the_pages() {
    let s = TestServer::start_with(|c| c.max_requests = 0).await;
    let bin = s.new_bin().await;
    let flood: Vec<_> = (0..32)
        .map(|_| {
            let (addr, bin) = (s.addr, bin.clone());
            tokio::spawn(async move {
                for _ in 0..40 {
                    crate::support::send(
                        addr,
                        Req::new("POST", &format!("/b/{bin}")).body(vec![b'x'; 4096]),
                    )
                    .await;
                }
            })
        })
        .collect();
    for _ in 0..10 {
        assert_eq!(s.get("/").await.status, StatusCode::OK);
        assert_eq!(s.get(&format!("/bins/{bin}")).await.status, StatusCode::OK);
    }
    for f in flood {
        f.await.unwrap();
    }
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["request_count"],
        32 * 40
    );
}

#[tokio::test]
async fn the_token_guards_pages_and_api_but_not_captures() {
    let s = TestServer::start_with(|c| c.token = Some("s3cret-token".into())).await;
    s.get("/api/bins")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    let home = s.get("/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.header("location"), "/login?next=%2F");
    assert_eq!(s.get("/login").await.status, StatusCode::OK);
    assert_eq!(s.get("/assets/style.css").await.status, StatusCode::OK);

    let bearer = |req: Req| req.header("authorization", "Bearer s3cret-token");
    let r = s.send(bearer(Req::new("POST", "/api/bins"))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let bin = r.json()["id"].as_str().unwrap().to_owned();
    // Anyone may still send to the bin.
    s.capture(&bin, Req::new("POST", "").body("open")).await;

    let form = |body: &str| Req::form("/login", body);
    let wrong = s.send(form("token=nope&next=%2Fwebhooks")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get("set-cookie").is_none());
    let right = s.send(form("token=s3cret-token&next=%2Fwebhooks")).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(right.header("location"), "/webhooks");
    let cookie = right.header("set-cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let page = s
        .send(Req::new("GET", &format!("/bins/{bin}")).header("cookie", &pair))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    // An open redirect through the form is not possible.
    let away = s
        .send(form("token=s3cret-token&next=%2F%2Fevil.example"))
        .await;
    assert_eq!(away.header("location"), "/");
}

#[test]
fn listening_beyond_loopback_generates_a_token() {
    use clap::Parser;
    let args = hookbin::cli::Args::try_parse_from(["hookbin", "--listen", "0.0.0.0:0"]).unwrap();
    let c = args.config().unwrap();
    assert!(c.token.as_ref().is_some_and(|t| t.len() >= 40));
    let args = hookbin::cli::Args::try_parse_from(["hookbin", "--listen", "127.0.0.1:0"]).unwrap();
    assert!(args.config().unwrap().token.is_none());
}

#[tokio::test]
async fn cross_site_posts_and_foreign_host_names_are_refused() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let evil = s
        .send(
            Req::new("POST", &format!("/bins/{bin}/delete"))
                .header("origin", "http://evil.example"),
        )
        .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    let fetch = s
        .send(
            Req::new("DELETE", &format!("/api/bins/{bin}")).header("sec-fetch-site", "cross-site"),
        )
        .await;
    fetch.assert_error(StatusCode::FORBIDDEN);
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.status,
        StatusCode::OK,
        "the bin survived"
    );
    // Our own pages post same-origin.
    let own = s
        .send(
            Req::new("POST", &format!("/bins/{bin}/clear"))
                .header("origin", s.url(""))
                .header("sec-fetch-site", "same-origin"),
        )
        .await;
    assert_eq!(own.status, StatusCode::SEE_OTHER);

    // DNS rebinding: a foreign name pointed at 127.0.0.1 gets nothing from the admin side...
    let rebound = s
        .send(Req::new("GET", "/api/bins").header("host", "evil.example"))
        .await;
    rebound.assert_error(StatusCode::FORBIDDEN);
    // ...while captures accept any Host (tunnels forward their own).
    let r = s
        .send(Req::new("POST", &format!("/b/{bin}")).header("host", "tunnel.example"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_full_database_answers_507_and_keeps_what_it_has() {
    if crate::support::sqlite_only("--max-db-size caps a SQLite file") {
        return;
    }
    let s = TestServer::start_with(|c| c.max_db_size = Some(2 * 1024 * 1024)).await;
    let bin = s.new_bin().await;
    let mut stored = Vec::new();
    let full = loop {
        let r = s
            .send(Req::new("POST", &format!("/b/{bin}")).body(vec![b'z'; 64 * 1024]))
            .await;
        if r.status != StatusCode::OK {
            break r;
        }
        stored.push(r.json()["request_id"].as_str().unwrap().to_owned());
        assert!(stored.len() < 200, "the size limit never took effect");
    };
    let msg = full.assert_error(StatusCode::INSUFFICIENT_STORAGE);
    assert!(msg.contains("full"), "{msg}");
    assert!(!stored.is_empty());
    for id in &stored {
        assert_eq!(
            s.get(&format!("/api/requests/{id}")).await.status,
            StatusCode::OK
        );
    }
    // Deleting makes room again.
    assert_eq!(
        s.delete(&format!("/api/bins/{bin}/requests")).await.status,
        StatusCode::OK
    );
    s.capture(&bin, Req::new("POST", "").body("fits again"))
        .await;
    let conn = rusqlite::Connection::open(&s.db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[tokio::test]
async fn private_targets_can_be_refused() {
    let s = TestServer::start_with(|c| c.deny_private_targets = true).await;
    let rx = Receiver::start().await;
    for url in [rx.url("/"), format!("http://localhost:{}/", rx.addr.port())] {
        let hook = s.new_webhook("Inside", &url, "payment_received").await;
        let res = s.test_send(&hook).await;
        assert_eq!(res["ok"], false);
        let err = res["error"].as_str().unwrap();
        assert!(err.contains("deny-private-targets"), "{url}: {err}");
    }
    assert!(rx.got().is_empty());
}

#[tokio::test]
async fn idle_bins_and_old_delivery_logs_are_swept() {
    if crate::support::sqlite_only(
        "it moves row keys in the file; postgres.rs sweeps on PostgreSQL",
    ) {
        return;
    }
    let s = TestServer::start().await;
    let idle = s.new_bin().await;
    let rx = Receiver::start().await;
    let hook = s.new_webhook("Log", &rx.url("/"), "payment_received").await;
    let sent = s.test_send(&hook).await;
    let store = hookbin::store::Store::open(&s.db).await.unwrap();
    // A bin captured into just now is kept; one idle past the TTL goes. The sweep runs as of
    // two hours from now, and the busy bin's latest capture is what keeps it: it is written
    // as arriving then.
    let busy = s.new_bin().await;
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    s.capture(&busy, Req::new("POST", "")).await;
    let conn = rusqlite::Connection::open(&s.db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let seq = later.timestamp_millis() << 16;
    conn.execute(
        "UPDATE requests SET seq = ?1 WHERE bin_id = ?2",
        rusqlite::params![seq, busy],
    )
    .unwrap();
    drop(conn);
    hookbin::retention::sweep(
        &store,
        Some(Duration::from_secs(3600)),
        Duration::from_secs(86400),
        later,
    )
    .await;
    assert_eq!(
        s.get(&format!("/api/bins/{idle}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&format!("/api/bins/{busy}")).await.status,
        StatusCode::OK
    );
    // Finished deliveries older than the retention go with their attempts.
    let delivery = sent["delivery_id"].as_str().unwrap();
    assert_eq!(
        s.get(&format!("/api/deliveries/{delivery}")).await.status,
        StatusCode::OK
    );
    hookbin::retention::sweep(&store, None, Duration::from_secs(3600), later).await;
    assert_eq!(
        s.get(&format!("/api/deliveries/{delivery}")).await.status,
        StatusCode::NOT_FOUND
    );
}
