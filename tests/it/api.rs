//! The JSON API for bins and captured requests, and its errors.

use std::collections::HashSet;

use hyper::StatusCode;
use serde_json::json;

use crate::support::{Req, TestServer};

#[tokio::test]
async fn bins_are_created_listed_fetched_and_deleted() {
    let s = TestServer::start().await;
    let r = s.send(Req::new("POST", "/api/bins")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let bin = r.json();
    let id = bin["id"].as_str().unwrap();
    assert_eq!(bin["url"], s.url(&format!("/b/{id}")));
    assert_eq!(bin["inspect_url"], s.url(&format!("/bins/{id}")));
    assert_eq!(bin["request_count"], 0);
    assert!(hookbin::time::parse(bin["created_at"].as_str().unwrap()).is_some());
    assert!(bin["created_at"].as_str().unwrap().ends_with('Z'));

    let named = s.post_json("/api/bins", json!({"name": "ci-orders"})).await;
    assert_eq!(named.status, StatusCode::CREATED);
    assert_eq!(named.json()["url"], s.url("/b/ci-orders"));

    let list = s.get("/api/bins").await.json();
    let ids: HashSet<&str> = list["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, HashSet::from([id, "ci-orders"]));
    assert_eq!(s.get(&format!("/api/bins/{id}")).await.json()["id"], id);

    s.capture("ci-orders", Req::new("POST", "").body("x")).await;
    assert_eq!(
        s.delete("/api/bins/ci-orders").await.status,
        StatusCode::NO_CONTENT
    );
    s.get("/api/bins/ci-orders")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.send(Req::new("POST", "/b/ci-orders"))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.delete("/api/bins/ci-orders")
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let s = TestServer::start().await;
    let msg = s
        .send(Req::new("POST", "/api/bins").body("{not json"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("JSON"), "{msg}");
    s.post_json("/api/bins", json!({"name": "has space"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.post_json("/api/bins", json!({"name": ""}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.post_json("/api/bins", json!({"nmae": "typo"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.post_json("/api/bins", json!([1]))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.post_json("/api/bins", json!({"name": "taken"})).await;
    let msg = s
        .post_json("/api/bins", json!({"name": "taken"}))
        .await
        .assert_error(StatusCode::CONFLICT);
    assert!(msg.contains("taken"), "{msg}");

    let bin = s.new_bin().await;
    for q in ["limit=0", "limit=abc", "limit=1001", "before=not-an-id"] {
        s.get(&format!("/api/bins/{bin}/requests?{q}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST);
    }
    let unknown = "00000000000000ff";
    // A cursor is a position, not a row: one that names a deleted or evicted request still
    // pages on (here, below everything: an empty page).
    let below = s
        .get(&format!("/api/bins/{bin}/requests?before={unknown}"))
        .await
        .json();
    assert!(below["requests"].as_array().unwrap().is_empty());
    s.get("/api/bins/nope/requests")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.get(&format!("/api/requests/{unknown}"))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.get("/api/requests/garbage")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.delete(&format!("/api/requests/{unknown}"))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.get("/api/nothing-here")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    // A huge API body is refused, not buffered.
    s.send(Req::new("POST", "/api/bins").body(vec![b' '; 200_000]))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn pagination_walks_hundreds_of_requests_newest_first() {
    let s = TestServer::start_with(|c| c.max_requests = 0).await;
    let bin = s.new_bin().await;
    let mut sent = Vec::new();
    for i in 0..320 {
        sent.push(s.capture(&bin, Req::new("POST", &format!("/{i}"))).await);
    }
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut url = format!("/api/bins/{bin}/requests?limit=50");
    loop {
        let page = s.get(&url).await.json();
        pages += 1;
        for r in page["requests"].as_array().unwrap() {
            seen.push(r["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => url = format!("/api/bins/{bin}/requests?limit=50&before={next}"),
            None => break,
        }
    }
    sent.reverse();
    assert_eq!(seen, sent);
    assert_eq!(pages, 7);
    let default = s.get(&format!("/api/bins/{bin}/requests")).await.json();
    assert_eq!(default["requests"].as_array().unwrap().len(), 50);
    assert_eq!(default["requests"][0]["path"], format!("/b/{bin}/319"));
}

#[tokio::test]
async fn requests_can_be_deleted_and_bins_cleared() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let a = s.capture(&bin, Req::new("POST", "")).await;
    s.capture(&bin, Req::new("POST", "")).await;
    s.capture(&bin, Req::new("POST", "")).await;
    assert_eq!(
        s.delete(&format!("/api/requests/{a}")).await.status,
        StatusCode::NO_CONTENT
    );
    s.get(&format!("/api/requests/{a}"))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["request_count"],
        2
    );
    let r = s.delete(&format!("/api/bins/{bin}/requests")).await;
    assert_eq!(r.json()["removed"], 2);
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["request_count"],
        0
    );
    assert!(
        s.get(&format!("/api/bins/{bin}/requests")).await.json()["requests"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn raw_bodies_are_sandboxed_and_downloadable() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let id = s
        .capture(
            &bin,
            Req::new("POST", "")
                .header("content-type", "text/html")
                .body("<script>alert(1)</script>"),
        )
        .await;
    let raw = s.get(&format!("/api/requests/{id}/raw")).await;
    assert_eq!(raw.header("content-type"), "text/html");
    assert!(raw.header("content-security-policy").starts_with("sandbox"));
    // Always a download, so captured HTML never renders on hookbin's origin.
    assert!(raw.header("content-disposition").starts_with("attachment"));
    assert_eq!(raw.header("x-content-type-options"), "nosniff");
    let dl = s.get(&format!("/api/requests/{id}/raw?download=1")).await;
    assert!(dl.header("content-disposition").starts_with("attachment"));
    assert_eq!(dl.text(), "<script>alert(1)</script>");
}

#[tokio::test]
async fn waiting_for_the_next_request_returns_as_soon_as_it_arrives() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let first = s.capture(&bin, Req::new("POST", "/one")).await;

    // Already there: answered at once.
    let r = s
        .get(&format!("/api/bins/{bin}/wait?after={first}&timeout=100ms"))
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "nothing newer than the first yet"
    );

    let addr = s.addr;
    let path = format!("/api/bins/{bin}/wait?after={first}&timeout=20s");
    let mut waiting =
        tokio::spawn(async move { crate::support::send(addr, Req::new("GET", &path)).await });
    // That something does not happen has no signal to wait for: give it 100 ms to go wrong.
    let early = tokio::time::timeout(std::time::Duration::from_millis(100), &mut waiting).await;
    assert!(early.is_err(), "the wait must hold until a request arrives");
    let second = s
        .capture(&bin, Req::new("POST", "/two").body("hello"))
        .await;
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("answered promptly")
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let got = r.json();
    assert_eq!(got["id"], second.as_str());
    assert_eq!(got["body_text"], "hello");

    // With a request already stored after the cursor, the answer is immediate and in order.
    let r = s
        .get(&format!("/api/bins/{bin}/wait?after={first}"))
        .await
        .json();
    assert_eq!(r["id"], second.as_str());

    for timeout in ["forever", "18446744073709551615d", "213503982335d", "121s"] {
        s.get(&format!("/api/bins/{bin}/wait?timeout={timeout}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST);
    }
    s.get(&format!("/api/bins/{bin}/wait?after=nope"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.get("/api/bins/nope/wait?timeout=1s")
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn next_hands_out_what_came_after_in_batches_and_relays_log_many_at_once() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            s.capture(
                &bin,
                Req::new("POST", &format!("/{i}")).body(format!("b{i}")),
            )
            .await,
        );
    }
    let page = |after: &str, limit: usize| {
        format!("/api/bins/{bin}/next?after={after}&limit={limit}&timeout=100ms")
    };
    let taken = |r: crate::support::Resp| -> Vec<String> {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Oldest first, at most `limit`, and the next batch goes on from the last one handed out.
    assert_eq!(taken(s.get(&page(&ids[0], 4)).await), ids[1..5]);
    assert_eq!(taken(s.get(&page(&ids[4], 4)).await), ids[5..]);
    let first = s.get(&page(&ids[1], 1)).await.json();
    assert_eq!(first["requests"][0]["body_text"], "b2");
    assert_eq!(
        s.get(&page(&ids[6], 10)).await.status,
        StatusCode::NO_CONTENT
    );
    for bad in ["0", "1001", "many"] {
        s.get(&format!("/api/bins/{bin}/next?limit={bad}"))
            .await
            .assert_error(StatusCode::BAD_REQUEST);
    }

    // Many listener reports in one post; one about a request that is gone is left out and named.
    s.delete(&format!("/api/requests/{}", ids[3])).await;
    let report = |id: &str| {
        serde_json::json!({"request_id": id, "kind": "listen",
        "url": "http://127.0.0.1:3000/x", "status": 200, "duration_ms": 1, "error": null})
    };
    let r = s
        .post_json(
            "/api/relays",
            serde_json::json!({"relays": [report(&ids[2]), report(&ids[3]), report(&ids[4])]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"recorded": 2, "missing": [ids[3]]})
    );
    for id in [&ids[2], &ids[4]] {
        let log = s.get(&format!("/api/requests/{id}/relays")).await.json();
        assert_eq!(log["relays"][0]["kind"], "listen", "{log}");
    }
    // A bad entry refuses the whole post, naming it; nothing of it is written.
    let mut bad = report(&ids[5]);
    bad["status"] = 42.into();
    let r = s
        .post_json(
            "/api/relays",
            serde_json::json!({"relays": [report(&ids[6]), bad]}),
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST);
    assert!(r.text().contains("relays[1]"), "{}", r.text());
    let log = s
        .get(&format!("/api/requests/{}/relays", ids[6]))
        .await
        .json();
    assert_eq!(log["relays"], serde_json::json!([]));
    let r = s.post_json("/api/relays", serde_json::json!({"relays": [{"kind": "listen", "url": "x", "status": 200, "duration_ms": 1}]})).await;
    r.assert_error(StatusCode::BAD_REQUEST);
    let many: Vec<_> = (0..1001).map(|_| report(&ids[6])).collect();
    s.post_json("/api/relays", serde_json::json!({"relays": many}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_bad_row_in_the_database_is_an_error_with_a_message() {
    if crate::support::sqlite_only("it edits the database file behind hookbin's back") {
        return;
    }
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let id = s.capture(&bin, Req::new("POST", "/x")).await;
    // Changed behind hookbin's back: ids are checked before they are stored, never after.
    let conn = rusqlite::Connection::open(&s.db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO bins (id, name, created_at) VALUES ('not a bin id!', NULL, '2026-01-01T00:00:00Z');
         UPDATE requests SET bin_id = 'not a bin id!';",
    )
    .unwrap();
    drop(conn);
    // A 500 (the detail, naming the bad id, goes to the log), not a 503 saying that storage is
    // shutting down, which is what a panicking reader used to produce.
    for path in ["/api/bins".to_owned(), format!("/api/requests/{id}")] {
        let r = s.get(&path).await;
        let msg = r.assert_error(StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!msg.contains("shutting down"), "{path}: {msg}");
    }
    // The server is still fine for everything else.
    assert_eq!(s.get("/api/events").await.status, StatusCode::OK);
}
