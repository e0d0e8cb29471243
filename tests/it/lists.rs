//! Lists that page: bins (home page and `GET /api/bins`) by last activity or creation, found by
//! id, a page at a time with a cursor, so a shared instance's front page stays small.

use hyper::StatusCode;
use serde_json::json;

use crate::support::{Req, TestServer, count, next_millisecond, texts};

/// Bins `b0`..`b{n-1}` created in that order, at distinct milliseconds.
async fn bins(s: &TestServer, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let name = format!("b{i}");
        let r = s.post_json("/api/bins", json!({ "name": name })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        out.push(name);
        next_millisecond().await;
    }
    out
}

/// Every item id of the list at `path` (which has a query already) over all its pages: each
/// page's `next` goes back as `cursor`; the items are under `key`.
async fn walk(s: &TestServer, path: &str, key: &str, cursor: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut from = String::new();
    for _ in 0..100 {
        let page = s.get(&format!("{path}{from}")).await.json();
        for item in page[key].as_array().unwrap() {
            ids.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => from = format!("&{cursor}={next}"),
            None => return ids,
        }
    }
    panic!("paging {path} did not end");
}

#[tokio::test]
async fn bins_page_by_last_activity_or_creation_and_each_appears_once() {
    let s = TestServer::start().await;
    let names = bins(&s, 7).await;
    s.capture(&names[2], Req::new("POST", "/x")).await;
    next_millisecond().await;
    s.capture(&names[5], Req::new("POST", "/x")).await;

    let by_activity = walk(&s, "/api/bins?limit=3", "bins", "after").await;
    assert_eq!(by_activity, ["b5", "b2", "b6", "b4", "b3", "b1", "b0"]);
    let by_created = walk(&s, "/api/bins?limit=2&sort=created", "bins", "after").await;
    assert_eq!(by_created, ["b6", "b5", "b4", "b3", "b2", "b1", "b0"]);

    let first = s.get("/api/bins?limit=3").await.json();
    assert_eq!(first["matched"], 7);
    assert!(first["bins"][0]["last_request_at"].is_string());
    assert!(
        first["bins"][2]["last_request_at"].is_null(),
        "b6 caught nothing"
    );
    let found = s.get("/api/bins?q=B4").await.json();
    assert_eq!(found["matched"], 1);
    assert_eq!(found["bins"][0]["id"], "b4");
    assert!(found["next"].is_null());

    let msg = s
        .get("/api/bins?sort=size")
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("sort"), "{msg}");
    s.get("/api/bins?after=yesterday")
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.get("/api/bins?limit=0")
        .await
        .assert_error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_home_page_shows_fifty_bins_a_page_and_finds_one_by_id() {
    let s = TestServer::start().await;
    for _ in 0..60 {
        s.new_bin().await;
    }
    // A later millisecond than the others: bins created in the same one tie, broken by id.
    next_millisecond().await;
    s.post_json("/api/bins", json!({"name": "needle-42"})).await;
    let doc = s.get("/").await.html();
    assert_eq!(count(&doc, "#bins tbody tr"), 50);
    assert_eq!(texts(&doc, "#bin-count").join(""), "61 bins");
    assert_eq!(
        texts(&doc, "#bins tbody tr td a")
            .first()
            .map(String::as_str),
        Some("needle-42")
    );
    let next = doc
        .select(&scraper::Selector::parse("a[rel=next]").unwrap())
        .next()
        .expect("a link to the next page")
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    let doc = s.get(&next).await.html();
    assert_eq!(count(&doc, "#bins tbody tr"), 11);
    assert_eq!(count(&doc, "a[rel=next]"), 0);
    assert_eq!(texts(&doc, ".pager a").join(""), "First page");

    let doc = s.get("/?q=NEEDLE").await.html();
    assert_eq!(texts(&doc, "#bins tbody tr td a"), ["needle-42"]);
    assert_eq!(texts(&doc, "#bin-count").join(""), "1 matching");
    let doc = s.get("/?q=nothing-like-it").await.html();
    assert_eq!(count(&doc, "#no-bins"), 1);
}

#[tokio::test]
async fn a_webhooks_deliveries_page_newest_first_with_a_cursor() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let hook = s
        .new_webhook("Paged", &s.url(&format!("/b/{bin}")), "payment_received")
        .await;
    let id = hook["id"].as_str().unwrap();
    let mut sent = Vec::new();
    for _ in 0..52 {
        sent.push(
            s.test_send(&hook).await["delivery_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    sent.reverse();
    let path = format!("/api/webhooks/{id}/deliveries?limit=20");
    let seen = walk(&s, &path, "deliveries", "before").await;
    assert_eq!(seen, sent, "every delivery once, newest first");
    s.get(&format!("/api/webhooks/{id}/deliveries?before=nope"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);

    let doc = s.get(&format!("/webhooks/{id}")).await.html();
    assert_eq!(count(&doc, "#deliveries tbody tr"), 50);
    let older = doc
        .select(&scraper::Selector::parse("#delivery-log a[rel=next]").unwrap())
        .next()
        .expect("a link to older deliveries")
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    let doc = s.get(&older).await.html();
    assert_eq!(count(&doc, "#deliveries tbody tr"), 2);
    assert_eq!(texts(&doc, "#delivery-log .pager a").join(""), "Newest");
}

#[tokio::test]
async fn webhooks_page_newest_first_and_are_found_by_name_url_or_event() {
    let s = TestServer::start().await;
    let mut made = Vec::new();
    for i in 0..5 {
        let hook = s
            .new_webhook(
                &format!("Hook {i}"),
                &s.url(&format!("/b/h{i}")),
                "payment_received",
            )
            .await;
        made.push(hook["id"].as_str().unwrap().to_owned());
        next_millisecond().await;
    }
    made.reverse();
    let seen = walk(&s, "/api/webhooks?limit=2", "webhooks", "after").await;
    assert_eq!(seen, made);
    let found = s.get("/api/webhooks?q=hook%203").await.json();
    assert_eq!(found["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(found["webhooks"][0]["name"], "Hook 3");
    let by_url = s.get("/api/webhooks?q=%2Fb%2Fh1").await.json();
    assert_eq!(by_url["webhooks"][0]["name"], "Hook 1");
    s.get("/api/webhooks?after=wh_nope")
        .await
        .assert_error(StatusCode::BAD_REQUEST);

    let doc = s.get("/webhooks?q=HOOK+4").await.html();
    assert_eq!(count(&doc, "#webhooks tbody tr"), 1);
    let doc = s.get("/webhooks?q=nothing-like-it").await.html();
    assert_eq!(count(&doc, "#no-webhooks"), 1);
}
