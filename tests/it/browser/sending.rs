//! The sending side in Chromium: Send Test Event from the webhooks list, the confirmation
//! surviving a reload, editing a webhook, and a delivery log that updates by itself.

use crate::support::browser;
use crate::support::{TestServer, eventually};

#[tokio::test]
async fn send_test_event_from_the_list_and_edit_the_webhook() {
    let Some(b) = browser::open(1280, 900, true).await else {
        return;
    };
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let hook = s
        .new_webhook("Payments", &s.url(&format!("/b/{bin}")), "payment_received")
        .await;
    let id = hook["id"].as_str().unwrap().to_owned();
    b.goto(&s.url("/webhooks")).await;
    b.click(&format!("#webhook-{id} button.send-test")).await;
    assert_eq!(
        b.text("#test-result h2").await,
        "Test event delivered · Payments"
    );
    assert_eq!(b.text("#test-status").await, "200");
    // Still the list, with the outcome in the row.
    assert_eq!(b.count("#webhooks tbody tr").await, 1);
    assert_eq!(b.text(&format!("#webhook-{id} .last .status")).await, "200");
    b.screenshot("webhooks-test-from-list").await;
    b.client.refresh().await.unwrap();
    assert_eq!(b.text("#test-status").await, "200");

    // Edit it from its page.
    b.goto(&s.url(&format!("/webhooks/{id}"))).await;
    b.click("#edit-webhook").await;
    let name = b.wait("#name").await;
    name.clear().await.unwrap();
    name.send_keys("Payments v2").await.unwrap();
    b.wait("#event")
        .await
        .select_by_label("Membership Created")
        .await
        .unwrap();
    b.click("#save-webhook").await;
    assert_eq!(b.text("#notice").await, "Webhook saved.");
    assert_eq!(b.text("h1").await, "Payments v2");
    let got = s.get(&format!("/api/webhooks/{id}")).await.json();
    assert_eq!(got["event"], "membership_created");
    b.close().await;
}

#[tokio::test]
async fn the_delivery_log_updates_from_pending_to_succeeded() {
    let Some(b) = browser::open(1280, 900, true).await else {
        return;
    };
    let s = TestServer::start().await;
    // The receiver is a bin of this hookbin that takes 3 s to answer.
    let bin = s.new_bin().await;
    let r = s
        .patch_json(
            &format!("/api/bins/{bin}"),
            serde_json::json!({"response": {"status": 200, "delay_ms": 3000}}),
        )
        .await;
    assert_eq!(r.status, hyper::StatusCode::OK, "{}", r.text());
    let hook = s
        .new_webhook("Slow", &s.url(&format!("/b/{bin}")), "payment_received")
        .await;
    let id = hook["id"].as_str().unwrap().to_owned();
    let fired = s
        .post_json("/api/events/payment_received", serde_json::json!({}))
        .await;
    assert_eq!(
        fired.status,
        hyper::StatusCode::ACCEPTED,
        "{}",
        fired.text()
    );
    b.goto(&s.url(&format!("/webhooks/{id}"))).await;
    assert_eq!(b.text("#deliveries .state").await, "pending");
    eventually(20, "the log to show the delivery succeeded", || async {
        (b.text("#deliveries .state").await == "succeeded").then_some(())
    })
    .await;
    // Retry is offered once it is done.
    b.wait("#deliveries button[aria-label^='Retry']").await;
    b.close().await;
}
