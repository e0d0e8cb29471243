//! Custom answers per bin (what a client really receives) and filtering a bin's requests.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::json;

use crate::support::{Req, TestServer, count, texts};

#[tokio::test]
async fn a_bin_answers_with_its_custom_status_headers_body_and_delay() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let r = s
        .patch_json(
            &format!("/api/bins/{bin}"),
            json!({"response": {
                "status": 202,
                "headers": [["Content-Type", "application/xml"], ["X-Rate", "1"], ["X-Rate", "2"]],
                "body": "<accepted/>",
                "delay_ms": 400
            }}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["response"]["status"], 202);

    let started = Instant::now();
    let answer = s
        .send(Req::new("POST", &format!("/b/{bin}/x")).body("payload"))
        .await;
    let waited = started.elapsed();
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(answer.header("content-type"), "application/xml");
    let rates: Vec<&str> = answer
        .headers
        .get_all("x-rate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(rates, ["1", "2"]);
    assert_eq!(answer.text(), "<accepted/>");
    assert!(
        waited >= Duration::from_millis(400),
        "held for the delay: {waited:?}"
    );
    // The capture is stored, with the status it was answered with.
    let list = s.get(&format!("/api/bins/{bin}/requests")).await.json();
    assert_eq!(list["requests"][0]["response_status"], 202);
    assert_eq!(list["requests"][0]["body_text"], "payload");

    // Binary bodies via base64; then back to the default answer.
    s.patch_json(
        &format!("/api/bins/{bin}"),
        json!({"response": {"status": 500, "body_base64": "AP8="}}),
    )
    .await;
    let fail = s.send(Req::new("GET", &format!("/b/{bin}"))).await;
    assert_eq!(fail.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(&fail.body[..], [0u8, 0xff]);
    s.patch_json(&format!("/api/bins/{bin}"), json!({"response": null}))
        .await;
    let id = s.capture(&bin, Req::new("GET", "")).await;
    assert_eq!(id.len(), 16);
}

#[tokio::test]
async fn impossible_answers_are_refused_and_nothing_changes() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let path = format!("/api/bins/{bin}");
    for bad in [
        json!({"response": {"status": 99}}),
        json!({"response": {"status": 600}}),
        json!({"response": {"status": 204, "body": "x"}}),
        json!({"response": {"delay_ms": 30001}}),
        json!({"response": {"headers": {"Content-Length": "5"}}}),
        json!({"response": {"headers": {"bad name": "x"}}}),
        json!({"response": {"headers": {"x": "line\nbreak"}}}),
        json!({"response": {"body": "a", "body_base64": "YQ=="}}),
        json!({"response": {"body_base64": "!!"}}),
        json!({"response": {"status": "201"}}),
        json!({"unknown": 1}),
        json!({"signing_secret": ""}),
    ] {
        s.patch_json(&path, bad.clone())
            .await
            .assert_error(StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        s.get(&path).await.json()["response"],
        serde_json::Value::Null
    );
    s.patch_json("/api/bins/missing", json!({"response": null}))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.capture(&bin, Req::new("POST", "")).await;
}

#[tokio::test]
async fn the_answer_is_set_from_the_bin_page() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let form = |body: &str| Req::form(&format!("/bins/{bin}/response"), body);
    // Every problem at once, each beside its field, and nothing saved.
    let bad = s
        .send(form("status=abc&headers=no+colon&body=&delay_ms=soon"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let doc = bad.html();
    assert!(texts(&doc, "#status-error")[0].contains("abc"));
    assert!(texts(&doc, "#headers-error")[0].contains("no colon"));
    assert!(texts(&doc, "#delay_ms-error")[0].contains("soon"));
    assert_eq!(count(&doc, "#form-errors li"), 3);
    assert_eq!(count(&doc, "[aria-invalid=true]"), 3);
    assert_eq!(
        count(&doc, "#status[autofocus][aria-describedby=status-error]"),
        1
    );
    let bad = s.send(form("status=99&headers=&body=&delay_ms=0")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // A refused value is never shown as if it were saved.
    let bin_page = s.get(&format!("/bins/{bin}")).await.html();
    assert_eq!(count(&bin_page, "#custom-status"), 0);

    let ok = s
        .send(form(
            "status=409&headers=X-Why%3A+duplicate%0D%0AContent-Type%3A+text%2Fplain&body=already+seen&delay_ms=",
        ))
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    let answer = s.send(Req::new("POST", &format!("/b/{bin}"))).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(answer.header("x-why"), "duplicate");
    assert_eq!(answer.text(), "already seen");
    let page = s.get(&format!("/bins/{bin}")).await.html();
    assert_eq!(texts(&page, "#requests .status"), ["409"]);
    assert_eq!(texts(&page, "#custom-status"), ["409"]);

    let reset = s.send(form("action=reset")).await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER);
    s.capture(&bin, Req::new("POST", "")).await;
}

#[tokio::test]
async fn filters_return_the_matching_subset_in_the_api_and_the_page() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let push = s
        .capture(
            &bin,
            Req::new("POST", "/github")
                .header("x-github-event", "push")
                .body("{\"ref\":\"refs/heads/Main\"}"),
        )
        .await;
    let issue = s
        .capture(
            &bin,
            Req::new("POST", "/github")
                .header("X-GitHub-Event", "issues")
                .body("{\"action\":\"opened\"}"),
        )
        .await;
    let stripe = s
        .capture(
            &bin,
            Req::new("PUT", "/stripe/events")
                .header("stripe-signature", "t=1,v1=00")
                .body("{\"type\":\"payment_intent.succeeded\"}"),
        )
        .await;
    let get = s.capture(&bin, Req::new("GET", "/health?main=1")).await;

    let ids = |query: &'static str| {
        let s = &s;
        let bin = bin.clone();
        async move {
            let v = s
                .get(&format!("/api/bins/{bin}/requests?{query}"))
                .await
                .json();
            v["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("method=post").await, [issue.as_str(), push.as_str()]);
    assert_eq!(ids("method=GET").await, [get.as_str()]);
    assert_eq!(ids("path=/github").await, [issue.as_str(), push.as_str()]);
    assert_eq!(ids("path=events").await, [stripe.as_str()]);
    assert_eq!(
        ids("header=x-github-event").await,
        [issue.as_str(), push.as_str()]
    );
    assert_eq!(ids("header=X-GitHub-Event:PUSH").await, [push.as_str()]);
    assert_eq!(ids("header=stripe-signature").await, [stripe.as_str()]);
    assert_eq!(
        ids("q=main").await,
        [push.as_str()],
        "body text, any case; not the query"
    );
    assert_eq!(ids("q=opened&method=POST").await, [issue.as_str()]);
    assert_eq!(ids("q=opened&method=PUT").await, Vec::<String>::new());
    assert_eq!(
        ids("method=&path=").await.len(),
        4,
        "empty filters are ignored"
    );
    // Paging continues within the filter.
    let first = s
        .get(&format!("/api/bins/{bin}/requests?method=POST&limit=1"))
        .await
        .json();
    assert_eq!(first["requests"][0]["id"], issue.as_str());
    let next = first["next"].as_str().unwrap();
    let second = s
        .get(&format!(
            "/api/bins/{bin}/requests?method=POST&limit=1&before={next}"
        ))
        .await
        .json();
    assert_eq!(second["requests"][0]["id"], push.as_str());
    assert_eq!(second["next"], serde_json::Value::Null);

    let page = s
        .get(&format!("/bins/{bin}?header=x-github-event&q=opened"))
        .await
        .html();
    assert_eq!(count(&page, "#requests li"), 1);
    assert_eq!(
        count(&page, "#requests[data-live]"),
        0,
        "no live rows while filtering"
    );
    assert_eq!(count(&page, "#filter-notice"), 1);
    let none = s
        .get(&format!("/bins/{bin}?q=nothing-like-this"))
        .await
        .html();
    assert_eq!(count(&none, "#no-match"), 1);
    let all = s.get(&format!("/bins/{bin}")).await.html();
    assert_eq!(count(&all, "#requests li"), 4);
    assert_eq!(count(&all, "#requests[data-live]"), 1);
}
