//! The bin page as a two-pane inspector: live rows, the newest request shown, selection in the
//! URL (with and without JavaScript), keys, follow newest, and comparing two requests.

use crate::support::browser;
use crate::support::{Req, TestServer, eventually};

fn json_req(path: &str, body: &str) -> Req {
    Req::new("POST", path)
        .header("content-type", "application/json")
        .body(body.to_owned())
}

#[tokio::test]
async fn a_request_appears_live_and_follow_newest_shows_it() {
    let Some(b) = browser::open(390, 800, true).await else {
        return;
    };
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    let empty = b.wait("#empty-state").await;
    assert!(empty.is_displayed().await.unwrap());
    // No filters or exports on an empty bin.
    assert!(!b.wait("#inspector").await.is_displayed().await.unwrap());
    b.screenshot("bin-empty-mobile").await;
    // The page marks its event stream open once the server follows the bin for it.
    b.wait("ol[data-live][data-stream='open']").await;
    assert_eq!(b.text("#live-status").await, "Live");

    s.capture(&bin, json_req("/live/one?x=1", r#"{"live":1}"#))
        .await;
    let row = b.wait("#requests li").await;
    assert!(
        row.text()
            .await
            .unwrap()
            .contains(&format!("/b/{bin}/live/one?x=1"))
    );
    assert!(!b.wait("#empty-state").await.is_displayed().await.unwrap());
    assert_eq!(b.text("#request-count").await, "1");
    assert_eq!(
        b.text("#request-noun").await,
        "request",
        "one request, singular"
    );
    // Follow newest is on: the detail pane shows what just arrived.
    b.wait("#detail .detail .jn").await;
    assert_eq!(b.text("#detail .jn").await, "1");
    assert!(b.text("#announce").await.contains("/live/one"));
    s.capture(&bin, json_req("/live/two", r#"{"live":2}"#))
        .await;
    eventually(10, "the second request in the pane", || async {
        (b.count("#requests li").await == 2 && b.text("#detail .jn").await == "2").then_some(())
    })
    .await;
    let first = b.text("#requests li:first-child .target").await;
    assert!(first.ends_with("/live/two"), "newest first: {first}");
    assert_eq!(b.text("#request-noun").await, "requests");
    b.screenshot("bin-live-mobile").await;

    // With follow newest off, a new request is listed, marked unread, and the pane stays.
    b.click("#follow").await;
    s.capture(&bin, json_req("/live/three", r#"{"live":3}"#))
        .await;
    eventually(10, "the third row", || async {
        (b.count("#requests li").await == 3).then_some(())
    })
    .await;
    assert_eq!(b.count("#requests li.unread").await, 1);
    assert_eq!(b.text("#detail .jn").await, "2");
    b.close().await;
}

#[tokio::test]
async fn keys_move_the_selection_and_the_url_names_it() {
    let Some(b) = browser::open(1280, 900, true).await else {
        return;
    };
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            s.capture(
                &bin,
                json_req(&format!("/k{i}"), &format!(r#"{{"n":{i}}}"#)),
            )
            .await,
        );
    }
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    b.wait("ol[data-live][data-stream='open']").await;
    let selected = || async { b.text("#requests li.selected .target").await };
    assert!(selected().await.ends_with("/k2"), "the newest is selected");
    let body = b.wait("body").await;
    body.send_keys("j").await.unwrap();
    eventually(10, "j selects the older request", || async {
        (b.text("#detail .jn").await == "1").then_some(())
    })
    .await;
    assert!(selected().await.ends_with("/k1"));
    let url = b.client.current_url().await.unwrap();
    assert!(url.as_str().ends_with(&format!("?r={}", ids[1])), "{url}");
    b.wait("body").await.send_keys("j").await.unwrap();
    eventually(10, "j again", || async {
        (b.text("#detail .jn").await == "0").then_some(())
    })
    .await;
    b.wait("body").await.send_keys("k").await.unwrap();
    eventually(10, "k goes back up", || async {
        (b.text("#detail .jn").await == "1").then_some(())
    })
    .await;
    b.screenshot("inspector").await;
    // A click selects too, without leaving the page.
    b.click("#requests li:first-child .pick").await;
    eventually(10, "the click", || async {
        (b.text("#detail .jn").await == "2").then_some(())
    })
    .await;
    b.close().await;
}

#[tokio::test]
async fn r_selects_a_request_with_javascript_off() {
    let Some(b) = browser::open(1024, 800, false).await else {
        return;
    };
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let old = s
        .capture(&bin, json_req("/old", r#"{"which":"old"}"#))
        .await;
    s.capture(&bin, json_req("/new", r#"{"which":"new"}"#))
        .await;
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    assert_eq!(b.text("#detail .js").await, "\"new\"");
    b.click("#requests li:last-child .pick").await;
    assert_eq!(b.text("#detail .js").await, "\"old\"");
    let url = b.client.current_url().await.unwrap();
    assert!(url.as_str().ends_with(&format!("?r={old}")), "{url}");
    assert!(
        b.text("#requests li.selected .target")
            .await
            .ends_with("/old")
    );
    // The raw toggle works without script too.
    let raw = b.wait(&format!("#raw-{old}")).await;
    assert!(!raw.is_displayed().await.unwrap());
    b.click(&format!("label[for='raw-toggle-{old}']")).await;
    assert!(raw.is_displayed().await.unwrap());
    assert_eq!(raw.text().await.unwrap(), r#"{"which":"old"}"#);
    // Newer/older links step through the bin.
    b.click("#detail .newer").await;
    assert_eq!(b.text("#detail .js").await, "\"new\"");
    b.close().await;
}

#[tokio::test]
async fn two_requests_are_compared_and_the_changed_value_is_marked() {
    let Some(b) = browser::open(1280, 900, true).await else {
        return;
    };
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    s.capture(
        &bin,
        json_req(
            "/orders?try=1",
            r#"{"order":"A-1","amount":10,"customer":{"email":"a@x","vip":true}}"#,
        )
        .header("x-source", "test"),
    )
    .await;
    s.capture(
        &bin,
        json_req(
            "/orders?try=2",
            r#"{"customer":{"vip":true,"email":"a@x"},"amount":12,"order":"A-1"}"#,
        )
        .header("x-source", "live"),
    )
    .await;
    b.goto(&s.url(&format!("/bins/{bin}"))).await;
    b.wait("ol[data-live][data-stream='open']").await;
    // Tick with the keyboard: x ticks the selected row, j moves on.
    let body = b.wait("body").await;
    body.send_keys("x").await.unwrap();
    body.send_keys("j").await.unwrap();
    eventually(10, "the second row selected", || async {
        b.text("#requests li.selected .target")
            .await
            .ends_with("try=1")
            .then_some(())
    })
    .await;
    b.wait("body").await.send_keys("x").await.unwrap();
    b.wait("body").await.send_keys("c").await.unwrap();
    b.wait("#diff-json").await;
    assert_eq!(
        b.text("#diff-json tr.d-changed th").await,
        "$.amount (changed)"
    );
    assert_eq!(
        b.count("#diff-json tbody tr").await,
        1,
        "key order is ignored"
    );
    assert_eq!(
        b.text("#diff-headers tr[data-change=changed] th").await,
        "x-source (changed)"
    );
    assert_eq!(
        b.text("#diff-line tr[data-change=changed] th").await,
        "query (changed)"
    );
    b.screenshot("compare").await;
    b.close().await;
}
