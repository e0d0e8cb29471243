//! The sending side's pages beyond the first loop: Send Test Event from the list, editing a
//! webhook, retrying a delivery from the log, and the events page's search and actions.

use hyper::StatusCode;

use crate::support::{Req, TestServer, count, dead_url, texts};

fn value(doc: &scraper::Html, selector: &str) -> String {
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .unwrap_or_else(|| panic!("no {selector}"))
        .attr("value")
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn send_test_event_from_the_list_confirms_on_the_list() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let hook = s
        .new_webhook("Orders", &s.url(&format!("/b/{bin}")), "payment_received")
        .await;
    let id = hook["id"].as_str().unwrap();
    let list = s.get("/webhooks").await.html();
    assert_eq!(texts(&list, "#webhooks .last"), ["never"]);
    let r = s
        .send(Req::form(&format!("/webhooks/{id}/test"), "from=list"))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let to = r.header("location").to_owned();
    assert!(to.starts_with("/webhooks?test=msg_"), "{to}");
    // The confirmation is on the list page, the list is still there, and a reload keeps both.
    for _ in 0..2 {
        let doc = s.get(&to).await.html();
        assert_eq!(texts(&doc, "#test-result h2 > :first-child").len(), 1);
        assert!(texts(&doc, "#test-result h2")[0].starts_with("Test event delivered"));
        assert_eq!(texts(&doc, "#test-status"), ["200"]);
        assert_eq!(count(&doc, "#webhooks tbody tr"), 1);
        assert_eq!(texts(&doc, "#webhooks .last .status"), ["200"]);
        assert!(texts(&doc, "#webhooks .counts")[0].starts_with("1 sent"));
        assert_eq!(count(&doc, "#test-captured[href^='/bins/']"), 1);
    }
    // A delivery id that is no test send is a 404, not someone else's result.
    let r = s.get("/webhooks?test=msg_nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_webhook_is_edited_from_its_page() {
    let s = TestServer::start().await;
    let hook = s
        .new_webhook("Old", "http://127.0.0.1:9/old", "payment_received")
        .await;
    let id = hook["id"].as_str().unwrap();
    let page = s.get(&format!("/webhooks/{id}")).await.html();
    assert_eq!(
        count(
            &page,
            &format!("a#edit-webhook[href='/webhooks/{id}/edit']")
        ),
        1
    );
    let doc = s.get(&format!("/webhooks/{id}/edit")).await.html();
    assert_eq!(value(&doc, "#name"), "Old");
    assert_eq!(value(&doc, "#url"), "http://127.0.0.1:9/old");
    assert_eq!(value(&doc, "#event option[selected]"), "payment_received");
    // Events come grouped.
    assert!(count(&doc, "#event optgroup") >= 5);

    let bad = s
        .send(Req::form(
            &format!("/webhooks/{id}/edit"),
            "name=&url=ftp%3A%2F%2Fx&event=site_published",
        ))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let doc = bad.html();
    assert_eq!(count(&doc, "[aria-invalid=true]"), 2);
    assert_eq!(
        s.get(&format!("/api/webhooks/{id}")).await.json()["name"],
        "Old"
    );

    let ok = s
        .send(Req::form(
            &format!("/webhooks/{id}/edit"),
            "name=New&url=http%3A%2F%2F127.0.0.1%3A9%2Fnew&event=site_published",
        ))
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.header("location"), format!("/webhooks/{id}?saved=1"));
    let got = s.get(&format!("/api/webhooks/{id}")).await.json();
    assert_eq!(got["name"], "New");
    assert_eq!(got["url"], "http://127.0.0.1:9/new");
    assert_eq!(got["event"], "site_published");
    assert_eq!(got["active"], true, "editing leaves the switch alone");
    let doc = s.get(&format!("/webhooks/{id}?saved=1")).await.html();
    assert_eq!(texts(&doc, "#notice"), ["Webhook saved."]);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_from_the_log() {
    let s = TestServer::start().await;
    let hook = s.new_webhook("Down", &dead_url(), "payment_received").await;
    let id = hook["id"].as_str().unwrap();
    let sent = s.test_send(&hook).await;
    let delivery = sent["delivery_id"].as_str().unwrap();
    let doc = s.get(&format!("/webhooks/{id}")).await.html();
    assert_eq!(
        count(&doc, "#deliveries form[action$='/redeliver'] button"),
        1
    );
    let r = s
        .send(Req::form(
            &format!("/deliveries/{delivery}/redeliver"),
            "back=log",
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location"),
        format!("/webhooks/{id}?retried=1#delivery-log")
    );
    let doc = s.get(&format!("/webhooks/{id}?retried=1")).await.html();
    assert_eq!(count(&doc, "#deliveries tbody tr"), 2);
    assert!(texts(&doc, "#notice")[0].starts_with("Queued again"));
    let list = s.get("/webhooks").await.html();
    assert_eq!(texts(&list, "#webhooks .last .status"), ["no answer"]);
}

#[tokio::test]
async fn the_events_page_searches_and_starts_webhooks() {
    let s = TestServer::start().await;
    let all = s.get("/events").await.html();
    let every = count(&all, "section.event");
    assert_eq!(every, 23);
    let some = s.get("/events?q=MEMBERSHIP").await.html();
    let names = texts(&some, "section.event h3");
    assert!(!names.is_empty() && names.len() < every, "{names:?}");
    for m in [
        "Membership Created",
        "Membership Expired",
        "Membership Updated",
    ] {
        assert!(names.iter().any(|n| n.starts_with(m)), "{m} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("Site Published")));
    let none = s.get("/events?q=zzz-nothing").await.html();
    assert_eq!(count(&none, "section.event"), 0);
    assert!(texts(&none, ".empty p")[0].contains("zzz-nothing"));
    // "Add a webhook for this event" preselects it.
    let doc = s.get("/webhooks/new?event=site_published").await.html();
    assert_eq!(value(&doc, "#event option[selected]"), "site_published");
    // "Send the sample to…" with no URL: a new bin catches the signed sample.
    let r = s
        .send(Req::form("/events/site_published/sample", "url="))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let to = r.header("location").to_owned();
    let doc = s.get(&to).await.html();
    assert_eq!(texts(&doc, "#test-status"), ["200"]);
    assert_eq!(texts(&doc, "h1"), ["Site Published sample"]);
    assert_eq!(count(&doc, "#test-captured"), 1);
    let r = s.send(Req::form("/events/no_such/sample", "url=")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
