//! A bin's settings, filters and replay, driven from the pages.

use crate::support::browser;
use crate::support::{Req, TestServer};

#[tokio::test]
async fn bin_settings_filters_and_replay_in_chromium() {
    let Some(b) = browser::open(1280, 1000, true).await else {
        return;
    };
    let s = TestServer::start().await;
    let rx = crate::support::receiver::Receiver::start().await;
    let bin = s.new_bin().await;
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    // Settings are one click away, off the main view.
    b.click("#settings-link").await;

    // Answer 201 with a header and body, set in the form.
    let status = b.wait("#response-form input[name=status]").await;
    status.clear().await.unwrap();
    status.send_keys("201").await.unwrap();
    b.wait("#response-form textarea[name=headers]")
        .await
        .send_keys("X-Demo: yes")
        .await
        .unwrap();
    b.wait("#response-form textarea[name=body]")
        .await
        .send_keys("created")
        .await
        .unwrap();
    b.click("#response-form button[type=submit]").await;
    assert_eq!(b.text("#saved").await, "Answer saved.");
    b.screenshot("bin-settings").await;
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    assert_eq!(b.text("#custom-status").await, "201");
    let answer = s
        .send(Req::new("POST", &format!("/b/{bin}/orders")).body(r#"{"id":7}"#))
        .await;
    assert_eq!(answer.status, hyper::StatusCode::CREATED);
    assert_eq!(answer.text(), "created");
    s.send(Req::new("GET", &format!("/b/{bin}/health"))).await;

    // Filter by method on the page.
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    b.wait("#requests li").await;
    assert_eq!(b.count("#requests li").await, 2);
    b.click(".filters-box summary").await;
    b.wait("#filter input[name=method]")
        .await
        .send_keys("POST")
        .await
        .unwrap();
    b.click("#filter button[type=submit]").await;
    b.wait("#filter-notice").await;
    assert_eq!(b.count("#requests li").await, 1);
    b.screenshot("bin-filtered").await;

    // Replay it to a local receiver from the detail pane; the answer is logged there.
    let row = b
        .wait("#requests li")
        .await
        .attr("data-id")
        .await
        .unwrap()
        .unwrap();
    b.click("#requests li .pick").await;
    // The click swaps the pane in: wait for the new one, or the form found may be the old one.
    b.wait(&format!("#detail[data-shown='{row}'] #replay-form"))
        .await;
    let url = b.wait("#replay-form input[name=url]").await;
    url.send_keys(&rx.url("/replayed")).await.unwrap();
    b.click("#replay-form button[type=submit]").await;
    b.wait("#relays details").await;
    assert!(b.text("#relays summary").await.contains("200"));
    assert_eq!(&rx.got()[0].body[..], br#"{"id":7}"#);
    assert!(
        b.client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains(&format!("/bins/{bin}?r=")),
        "the replay keeps the inspector"
    );
    let curl = b
        .client
        .execute(
            "return document.getElementById('curl-command').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(curl.as_str().unwrap().starts_with("curl "), "{curl}");
    b.screenshot("request-replay").await;
    b.close().await;
}
