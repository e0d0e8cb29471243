//! The workflow the README describes ("The workflow: send a test event and see it arrive"),
//! done in real headless Chromium: new bin → webhook with
//! that URL on *Payment Received* → Send Test Event → confirmation → the signed payload in the
//! bin. Plus live updates, hostile content that must not run, and screenshots of the pages.

use fantoccini::Locator;

use crate::support::browser::{self, Browser};
use crate::support::{Req, TestServer, eventually};

/// Clicks through the whole loop; returns the bin URL the page showed.
async fn workflow(b: &Browser, s: &TestServer, shots: bool) -> String {
    b.goto(&s.url("/")).await;
    b.click("form[action='/bins'] button[type=submit]").await;
    let bin_url = b.text("h1 + p .copyable code").await;
    assert!(bin_url.starts_with(&s.url("/b/")), "{bin_url}");
    let bin_page = b.client.current_url().await.unwrap().to_string();

    b.click("nav a[href='/webhooks']").await;
    b.click("a[href='/webhooks/new']").await;
    b.wait("#wh-name")
        .await
        .send_keys("Payments")
        .await
        .unwrap();
    b.wait("#wh-url").await.send_keys(&bin_url).await.unwrap();
    b.wait("#wh-event")
        .await
        .select_by_label("Payment Received")
        .await
        .unwrap();
    b.click("button[value=create]").await;

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

    b.goto(&bin_page).await;
    b.wait("#requests tbody tr").await;
    assert_eq!(b.count("#requests tbody tr").await, 1);
    if shots {
        b.screenshot("bin-page").await;
    }
    b.click("#requests tbody tr .target a").await;
    let json = b.text("pre.json").await;
    assert!(
        json.starts_with("{\n  \"payment_id\": 1287,\n  \"payment_status\": \"completed\""),
        "{json}"
    );
    assert_eq!(
        b.text("#signature h3").await,
        "Standard Webhooks: signature valid"
    );
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

#[tokio::test]
async fn a_request_appears_live_on_an_open_bin_page() {
    let Some(b) = browser::open(375, 800, true).await else {
        return;
    };
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    let empty = b.wait("#empty-state").await;
    assert!(empty.is_displayed().await.unwrap());
    b.screenshot("bin-empty-mobile").await;
    // The page marks its event stream open once the server follows the bin for it.
    b.wait("table[data-live][data-stream='open']").await;

    s.capture(
        &bin,
        Req::new("POST", "/live/one?x=1")
            .header("content-type", "application/json")
            .body(r#"{"live":true}"#),
    )
    .await;
    let row = b.wait("#requests tbody tr").await;
    assert!(
        row.text()
            .await
            .unwrap()
            .contains(&format!("/b/{bin}/live/one?x=1"))
    );
    assert!(!b.wait("#empty-state").await.is_displayed().await.unwrap());
    assert_eq!(b.text("#request-count").await, "1");
    s.capture(&bin, Req::new("PUT", "/live/two")).await;
    eventually(10, "the second live row", || async {
        (b.count("#requests tbody tr").await == 2).then_some(())
    })
    .await;
    let first = b.text("#requests tbody tr:first-child .target").await;
    assert!(first.ends_with("/live/two"), "newest first: {first}");
    b.screenshot("bin-live-mobile").await;
    b.close().await;
}

#[tokio::test]
async fn hostile_content_never_runs() {
    let Some(b) = browser::open(1280, 900, true).await else {
        return;
    };
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let evil = r#"<script>window.pwned='script'</script><img src=x onerror="window.pwned='img'"><a id=evil href="javascript:window.pwned='link'">x</a><svg onload="window.pwned='svg'"></svg>"#;
    let id = s
        .capture(
            &bin,
            Req::new("POST", "/p?q=%3Cscript%3Ewindow.pwned%3D1%3C%2Fscript%3E")
                .header("content-type", "text/html")
                .header("x-evil", evil)
                .body(evil),
        )
        .await;
    let form = s
        .capture(
            &bin,
            Req::new("POST", "")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "field={}",
                    form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
                )),
        )
        .await;
    let hook = s
        .new_webhook(evil, &format!("{}/b/{bin}", s.url("")), "payment_received")
        .await;
    s.test_send(&hook).await;
    let hook_id = hook["id"].as_str().unwrap();
    // A bin whose own answer is hostile HTML; replaying a capture there logs that answer.
    let trap = s.new_bin().await;
    let r = s
        .patch_json(
            &format!("/api/bins/{trap}"),
            serde_json::json!({
                "response": {"status": 200, "headers": {"Content-Type": "text/html", "X-Evil": evil}, "body": evil},
                "forward_url": format!(
                    "http://127.0.0.1:9/?{}",
                    form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
                ),
                "signing_secret": evil,
            }),
        )
        .await;
    assert_eq!(r.status, hyper::StatusCode::OK, "{}", r.text());
    let replay = s
        .post_json(
            &format!("/api/requests/{id}/replay"),
            serde_json::json!({"url": s.url(&format!("/b/{trap}"))}),
        )
        .await;
    assert_eq!(replay.json()["response_body_text"], evil);
    let pages = [
        format!("/bins/{bin}"),
        format!("/bins/{trap}"),
        format!("/b/{trap}"),
        format!("/requests/{id}"),
        format!("/requests/{form}"),
        "/webhooks".to_owned(),
        format!("/webhooks/{hook_id}"),
        format!("/api/requests/{id}/raw"),
    ];
    for page in &pages {
        b.goto(&s.url(page)).await;
        b.wait("body").await;
        let pwned = b
            .client
            .execute(
                "return window.pwned === undefined ? null : String(window.pwned)",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            pwned,
            serde_json::Value::Null,
            "hostile content ran on {page}"
        );
        if page.ends_with("/raw") || page.starts_with("/b/") {
            // The raw body, or a bin's own answer, is the HTML itself, inert under `CSP: sandbox`.
            continue;
        }
        assert_eq!(
            b.count("img").await,
            0,
            "an <img> was built from captured content on {page}"
        );
        assert_eq!(
            b.count("#evil").await,
            0,
            "a link was built from captured content on {page}"
        );
    }
    // The hostile text is shown as text.
    b.goto(&s.url(&format!("/requests/{id}"))).await;
    assert!(
        b.text("#body pre")
            .await
            .contains("<script>window.pwned='script'</script>")
    );
    b.goto(&s.url(&format!("/webhooks/{hook_id}"))).await;
    assert_eq!(b.text("h1").await, evil);
    let links = b
        .client
        .find_all(Locator::Css("a[href^='javascript']"))
        .await
        .unwrap();
    assert!(links.is_empty());
    b.close().await;
}

#[tokio::test]
async fn bin_settings_filters_and_replay_in_chromium() {
    let Some(b) = browser::open(1280, 1000, true).await else {
        return;
    };
    let s = TestServer::start().await;
    let rx = crate::support::receiver::Receiver::start().await;
    let bin = s.new_bin().await;
    b.goto(&s.url(&format!("/bins/{bin}"))).await;

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
    // Only the page after the save names the custom status.
    assert_eq!(b.text("#custom-status").await, "201");
    let answer = s
        .send(Req::new("POST", &format!("/b/{bin}/orders")).body(r#"{"id":7}"#))
        .await;
    assert_eq!(answer.status, hyper::StatusCode::CREATED);
    assert_eq!(answer.text(), "created");
    s.send(Req::new("GET", &format!("/b/{bin}/health"))).await;

    // Filter by method on the page.
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    b.wait("#requests tbody tr").await;
    assert_eq!(b.count("#requests tbody tr").await, 2);
    b.wait("#filter input[name=method]")
        .await
        .send_keys("POST")
        .await
        .unwrap();
    b.click("#filter button[type=submit]").await;
    b.wait("#filter-notice").await;
    assert_eq!(b.count("#requests tbody tr").await, 1);
    b.screenshot("bin-filtered").await;

    // Replay it to a local receiver from the request page.
    b.click("#requests tbody tr .target a").await;
    let url = b.wait("#replay-form input[name=url]").await;
    url.send_keys(&rx.url("/replayed")).await.unwrap();
    b.click("#replay-form button[type=submit]").await;
    b.wait("#relays details").await;
    assert!(b.text("#relays summary").await.contains("200"));
    assert_eq!(&rx.got()[0].body[..], br#"{"id":7}"#);
    assert!(b.text("#curl-command").await.starts_with("curl "));
    b.screenshot("request-replay").await;
    b.close().await;
}
