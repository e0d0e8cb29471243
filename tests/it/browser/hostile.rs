//! Captured content is hostile: nothing a stranger sends may run in the browser, on any page
//! that shows it.

use fantoccini::Locator;

use crate::support::browser::{self, Browser};
use crate::support::{Req, TestServer};

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
            Req::form(
                "",
                format!(
                    "field={}",
                    form_urlencoded::byte_serialize(evil.as_bytes()).collect::<String>()
                ),
            ),
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
        format!("/bins/{bin}?r={form}"),
        format!("/bins/{bin}/compare?ids={id}&ids={form}"),
        format!("/bins/{trap}"),
        format!("/bins/{trap}/settings"),
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
        assert_eq!(pwned(&b).await, None, "hostile content ran on {page}");
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
    // The list's hover text is the target as text.
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    let target = b
        .wait(&format!("#requests li[data-id='{id}'] .target"))
        .await;
    assert_eq!(
        target.attr("title").await.unwrap().as_deref(),
        Some(target.text().await.unwrap().as_str())
    );
    // A hostile JSON request arriving live goes into the list and the detail pane, inert.
    b.wait("ol[data-live][data-stream='open']").await;
    let json = serde_json::json!({ evil: evil, "list": [evil, {evil: 1}] }).to_string();
    s.capture(
        &bin,
        Req::new("POST", "/live")
            .header("content-type", "application/json")
            .header("x-evil", evil)
            .body(json),
    )
    .await;
    b.wait("#detail #json-tree").await;
    let keys = b
        .client
        .find_all(Locator::Css("#detail #json-tree .jk"))
        .await
        .unwrap();
    assert_eq!(
        keys[0].text().await.unwrap(),
        format!("{:?}", evil).replace("\\'", "'")
    );
    assert_eq!(
        pwned(&b).await,
        None,
        "hostile content ran in the live pane"
    );
    assert_eq!(b.count("img").await, 0);
    assert_eq!(b.count("#evil").await, 0);
    let links = b
        .client
        .find_all(Locator::Css("a[href^='javascript']"))
        .await
        .unwrap();
    assert!(links.is_empty());
    b.close().await;
}

/// What the hostile content set `window.pwned` to, had any of it run.
async fn pwned(b: &Browser) -> Option<String> {
    let v = b
        .client
        .execute(
            "return window.pwned === undefined ? null : String(window.pwned)",
            vec![],
        )
        .await
        .unwrap();
    v.as_str().map(str::to_owned)
}
