//! The workflow the README describes ("The workflow: send a test event and see it arrive"),
//! done in real headless Chromium: new bin → webhook with
//! that URL on *Payment Received* → Send Test Event → confirmation → the signed payload in the
//! bin, shown on the bin page without a click. The inspector, hostile content, the sending
//! pages and every page's layout and accessibility have their own modules.

mod hostile;
mod inspector;
mod rules;
mod screens;
mod sending;
mod settings;

use crate::support::TestServer;
use crate::support::browser::{self, Browser};

/// Clicks through the whole loop; returns the bin URL the page showed.
async fn workflow(b: &Browser, s: &TestServer, shots: bool) -> String {
    b.goto(&s.url("/")).await;
    b.click("form[action='/bins'] button[type=submit]").await;
    let bin_url = b.text(".bin-url .copyable code").await;
    assert!(bin_url.starts_with(&s.url("/b/")), "{bin_url}");
    let bin_page = b.client.current_url().await.unwrap().to_string();

    b.click("nav a[href='/webhooks']").await;
    b.click("a[href='/webhooks/new']").await;
    b.wait("#name").await.send_keys("Payments").await.unwrap();
    b.wait("#url").await.send_keys(&bin_url).await.unwrap();
    b.wait("#event")
        .await
        .select_by_label("Payment Received")
        .await
        .unwrap();
    b.click("#save-webhook").await;

    b.click("#send-test").await;
    assert_eq!(b.text("#test-result h2").await, "Test event delivered");
    assert_eq!(b.text("#test-status").await, "200");
    let took = b.text("#test-duration").await;
    assert!(
        took.ends_with(" ms") && took.trim_end_matches(" ms").parse::<u64>().is_ok(),
        "{took}"
    );
    if shots {
        b.screenshot("webhook-test-event").await;
    }

    // Back on the bin page, the payload is there without clicking a request.
    b.goto(&bin_page).await;
    b.wait("#requests li").await;
    assert_eq!(b.count("#requests li").await, 1);
    let json = b.text("#detail #json-tree").await;
    assert!(
        json.starts_with("{\n\"payment_id\": 1287,\n\"payment_status\": \"completed\""),
        "{json}"
    );
    assert_eq!(
        b.text("#detail #signature h3").await,
        "Standard Webhooks: signature valid"
    );
    assert_eq!(b.text("#requests .sig").await, "✓ signed");
    if shots {
        b.screenshot("bin-page").await;
    }
    let headers = b.text("#headers").await;
    for h in [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "webhook-event",
        "content-type",
    ] {
        assert!(headers.contains(h), "{h} missing from {headers}");
    }
    if shots {
        b.screenshot("request-detail").await;
    }
    bin_url
}

#[tokio::test]
async fn the_whole_workflow_in_chromium() {
    let Some(b) = browser::open(1280, 900, true).await else {
        return;
    };
    let s = TestServer::start().await;
    workflow(&b, &s, true).await;
    b.goto(&s.url("/")).await;
    b.screenshot("home").await;
    // The bin-name pattern must be a pattern Chromium accepts (it compiles them with the
    // unicode-sets flag, where a bare '-' in a class is an error and checking silently stops).
    let verdicts = b
        .client
        .execute(
            "const i = document.getElementById('bin-name');
             i.value = 'no spaces allowed'; const bad = i.checkValidity();
             i.value = 'ci-orders_2'; const good = i.checkValidity();
             i.value = ''; return [bad, good];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        verdicts,
        serde_json::json!([false, true]),
        "the name pattern checks"
    );
    b.goto(&s.url("/webhooks")).await;
    b.screenshot("webhooks").await;
    b.goto(&s.url("/events")).await;
    b.screenshot("events").await;
    b.close().await;
}

#[tokio::test]
async fn the_workflow_works_with_javascript_off() {
    let Some(b) = browser::open(1024, 800, false).await else {
        return;
    };
    let s = TestServer::start().await;
    workflow(&b, &s, false).await;
    b.close().await;
}
