//! Answer rules from the page, and the retry story they exist for: a rule that answers
//! `500, 500, 200`, Send Test Event showing the 500, and a fired event seen retrying until it
//! succeeds, in the delivery log and in the bin side by side.

use crate::support::browser;
use crate::support::{Req, TestServer, eventually};

#[tokio::test]
async fn a_rule_set_on_the_page_makes_a_sender_retry_and_both_sides_show_it() {
    let Some(b) = browser::open(1280, 1100, true).await else {
        return;
    };
    let s = TestServer::start_with(|c| {
        c.retry = hookbin::sender::retry::RetrySchedule::parse("300ms,300ms,300ms").unwrap()
    })
    .await;
    let bin = s.new_bin().await;
    b.goto(&s.url(&format!("/bins/{bin}/settings"))).await;
    b.click("#rules-link a").await;
    assert!(b.text("#no-rules").await.contains("No rules yet"));

    // A bad rule comes back with the problem beside its field, and nothing is saved.
    b.wait("#name").await.send_keys("fail twice").await.unwrap();
    let statuses = b.wait("#statuses").await;
    statuses.clear().await.unwrap();
    statuses.send_keys("500, 5000").await.unwrap();
    b.wait("#path").await.send_keys("orders").await.unwrap();
    b.click("#rule-form button[type=submit]").await;
    assert!(
        b.text("#path-error").await.contains("starts with /"),
        "path checked"
    );
    assert_eq!(b.count("#rule-list").await, 0, "nothing saved");
    let path = b.wait("#path").await;
    path.clear().await.unwrap();
    let statuses = b.wait("#statuses").await;
    statuses.clear().await.unwrap();
    statuses.send_keys("500, 500, 200").await.unwrap();
    b.click("#rule-form button[type=submit]").await;
    assert!(b.text("#saved").await.starts_with("Rule saved"));
    assert_eq!(b.text("#rule-1 .rule-name").await, "fail twice");
    assert!(b.text("#rule-1").await.contains("500 → 500 → 200"));
    b.screenshot("rules-list").await;

    // The preview says what the next request would get.
    b.click("#preview-form button[type=submit]").await;
    assert_eq!(b.text("#preview-status").await, "500");
    assert_eq!(b.text("#preview-rule").await, "fail twice");
    b.screenshot("rules").await;

    // Send Test Event: the receiver's 500, shown honestly.
    let hook = s
        .new_webhook("Orders", &s.url(&format!("/b/{bin}")), "payment_received")
        .await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    b.goto(&s.url(&format!("/webhooks/{hook_id}"))).await;
    b.click("#send-test").await;
    assert_eq!(b.text("#test-status").await, "500");
    assert_eq!(b.text("#test-result h2").await, "Test event not delivered");

    // Start the sequence again, fire a real event: 500, 500, then 200 on the third attempt.
    b.goto(&s.url(&format!("/bins/{bin}/rules"))).await;
    b.click("#reset-sequences").await;
    let fired = s
        .post_json(
            "/api/events/payment_received",
            serde_json::json!({"payment_id": 7}),
        )
        .await
        .json();
    let delivery = fired["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let d = s.settled(&delivery).await;
    assert_eq!(d["state"], "succeeded");
    b.goto(&s.url(&format!("/deliveries/{delivery}"))).await;
    let log = b.text("main").await;
    assert!(log.contains("#3"), "three attempts in the log: {log}");
    b.screenshot("rules-delivery-log").await;

    // The log links to the bin's copy of those attempts, and each copy back to the delivery.
    b.click("#caught-attempts").await;
    b.wait("#filter-notice").await;
    assert_eq!(
        b.count("#requests li").await,
        3,
        "the three attempts of this delivery"
    );
    b.click("#requests li .pick").await;
    b.wait("#sent-by").await;
    b.click("#sent-by").await;
    assert!(
        b.client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with(&delivery)
    );

    // The bin shows the same attempts, each answered by the rule.
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    eventually(
        10,
        "the bin to list the test send and three attempts",
        || async { (b.count("#requests li").await == 4).then_some(()) },
    )
    .await;
    assert_eq!(b.count("#requests li .rule").await, 4);
    b.screenshot("rules-bin").await;
    b.click("#requests li .pick").await;
    assert_eq!(b.text("#answered-rule").await, "fail twice");
    assert_eq!(b.text("#answered-status").await, "200");
    b.close().await;
}

#[tokio::test]
async fn the_rules_page_on_a_phone_in_light_and_dark() {
    for dark in [false, true] {
        let Some(b) = browser::open_in(390, 1400, true, dark).await else {
            return;
        };
        let s = TestServer::start().await;
        let bin = s.new_bin().await;
        let r = s
            .send(
                Req::new("PUT", &format!("/api/bins/{bin}/rules"))
                    .header("content-type", "application/json")
                    .body(
                        serde_json::json!({"rules": [
                            {"name": "fail twice", "answers": [{"status": 500}, {"status": 500}, {"status": 200}]},
                            {"name": "slow orders", "when": {"path": "/orders/*"}, "answers": [{"status": 200, "delay_ms": 2000}]}
                        ]})
                        .to_string(),
                    ),
            )
            .await;
        assert_eq!(r.status, hyper::StatusCode::OK);
        b.goto(&s.url(&format!("/bins/{bin}/rules"))).await;
        b.wait("#rule-list").await;
        let fits: bool = b
            .client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth",
                vec![],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap();
        assert!(fits, "the rules page fits 390 px (dark: {dark})");
        b.screenshot(if dark {
            "rules-mobile-dark"
        } else {
            "rules-mobile"
        })
        .await;
        b.close().await;
    }
}
