//! The HTML pages: what a person sees, parsed as HTML, with hostile captures kept inert.

use hyper::StatusCode;

use crate::support::{Req, TestServer, count, texts};

#[tokio::test]
async fn new_bin_form_creates_a_bin_and_lands_on_its_page() {
    let s = TestServer::start().await;
    let home = s.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    let doc = home.html();
    assert_eq!(texts(&doc, "form[action='/bins'] button"), ["New bin"]);
    assert_eq!(count(&doc, "#bins"), 0, "no bin table before the first bin");

    let r = s.send(Req::form("/bins", "name=")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let location = r.header("location").to_owned();
    let id = location.strip_prefix("/bins/").unwrap().to_owned();

    let page = s.get(&location).await.html();
    let url = s.url(&format!("/b/{id}"));
    assert!(texts(&page, "code").contains(&url));
    // The empty state shows a curl line with the real URL.
    let curl = texts(&page, "#empty-state code").join("");
    assert!(curl.starts_with("curl ") && curl.contains(&url), "{curl}");

    let home = s.get("/").await.html();
    assert_eq!(texts(&home, "#bins tbody td:first-child a"), vec![id]);
    let copy = scraper::Selector::parse("#bins button.copy").unwrap();
    assert_eq!(
        home.select(&copy).next().unwrap().attr("data-copy"),
        Some(url.as_str())
    );
}

#[tokio::test]
async fn a_bad_bin_name_is_explained_on_the_form() {
    let s = TestServer::start().await;
    let r = s.send(Req::form("/bins", "name=no+spaces")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let doc = r.html();
    assert!(texts(&doc, ".error-message")[0].contains("not valid"));
    let input = scraper::Selector::parse("#bin-name").unwrap();
    assert_eq!(
        doc.select(&input).next().unwrap().attr("value"),
        Some("no spaces")
    );
}

#[tokio::test]
async fn the_bin_page_lists_requests_newest_first_and_pages() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    for i in 0..60 {
        s.capture(
            &bin,
            Req::new(if i % 2 == 0 { "POST" } else { "PUT" }, &format!("/n{i}")),
        )
        .await;
    }
    let doc = s.get(&format!("/bins/{bin}")).await.html();
    let targets = texts(&doc, "#requests .target");
    assert_eq!(targets.len(), 50);
    assert_eq!(targets[0], format!("/b/{bin}/n59"));
    assert_eq!(texts(&doc, "#requests .method")[0], "PUT");
    let older = scraper::Selector::parse("a[rel=next]").unwrap();
    let href = doc
        .select(&older)
        .next()
        .expect("older link")
        .attr("href")
        .unwrap()
        .to_owned();
    let doc = s.get(&href).await.html();
    let targets = texts(&doc, "#requests .target");
    assert_eq!(targets.len(), 10);
    assert_eq!(targets[9], format!("/b/{bin}/n0"));
    assert_eq!(count(&doc, "a[rel=next]"), 0);
}

#[tokio::test]
async fn the_inspector_shows_the_newest_or_the_named_request_of_its_own_bin_only() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let other = s.new_bin().await;
    let old = s
        .capture(&bin, Req::new("POST", "/old").body("old body"))
        .await;
    let new = s
        .capture(&bin, Req::new("POST", "/new").body("new body"))
        .await;
    let foreign = s
        .capture(&other, Req::new("POST", "/x").body("secret"))
        .await;
    let doc = s.get(&format!("/bins/{bin}")).await.html();
    assert_eq!(
        texts(&doc, "#detail .detail .title .break"),
        [format!("/b/{bin}/new")]
    );
    assert_eq!(
        texts(&doc, "#requests li.selected .target"),
        [format!("/b/{bin}/new")]
    );
    assert_eq!(
        count(
            &doc,
            &format!("#requests li.selected a[aria-current=true][href*='r={new}']")
        ),
        1
    );
    let doc = s.get(&format!("/bins/{bin}?r={old}")).await.html();
    assert_eq!(
        texts(&doc, "#detail .detail .title .break"),
        [format!("/b/{bin}/old")]
    );
    // The pane fragment is the same detail, alone.
    let pane = s.get(&format!("/requests/{old}/pane")).await;
    assert_eq!(pane.status, StatusCode::OK);
    assert!(!pane.text().contains("<html"));
    assert_eq!(
        texts(&pane.html(), ".detail .title .break"),
        [format!("/b/{bin}/old")]
    );
    // Another bin's request is not shown here, and a broken id is a clear error.
    let r = s.get(&format!("/bins/{bin}?r={foreign}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.text().contains("secret"));
    let r = s.get(&format!("/bins/{bin}?r=nope")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("r must be a request id"));
}

#[tokio::test]
async fn request_detail_shows_json_pretty_query_and_headers() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let id = s
        .capture(
            &bin,
            Req::new("POST", "/orders?status=paid&id=%2042")
                .header("content-type", "application/json")
                .header("x-signature", "abc")
                .body(r#"{"amount":10.50,"items":[1,2]}"#),
        )
        .await;
    let page = s.get(&format!("/requests/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let doc = page.html();
    // Coloured tokens exactly as sent, and the raw text beside them.
    assert_eq!(texts(&doc, "#json-tree .jk"), ["\"amount\"", "\"items\""]);
    assert_eq!(texts(&doc, "#json-tree .jn"), ["10.50", "1", "2"]);
    assert_eq!(count(&doc, "#json-tree details.jfold[open]"), 2);
    assert_eq!(
        texts(&doc, &format!("#raw-{id}"))[0],
        r#"{"amount":10.50,"items":[1,2]}"#
    );
    assert_eq!(texts(&doc, "#query th"), ["status", "id"]);
    assert_eq!(texts(&doc, "#query td"), ["paid", " 42"]);
    let headers = texts(&doc, "#headers th");
    assert!(headers.contains(&"x-signature".to_owned()), "{headers:?}");
    assert!(texts(&doc, "dd code")[0].ends_with(&format!("/b/{bin}/orders?status=paid&id=%2042")));
    assert_eq!(
        count(
            &doc,
            &format!("a[href='/api/requests/{id}/raw?download=1']")
        ),
        1
    );
}

#[tokio::test]
async fn forms_multipart_and_binary_bodies_read_naturally() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let form = s.capture(&bin, Req::form("", "a=1&b=two+words")).await;
    let doc = s.get(&format!("/requests/{form}")).await.html();
    assert_eq!(texts(&doc, "#form th"), ["a", "b"]);
    assert_eq!(texts(&doc, "#form td"), ["1", "two words"]);

    let body = "--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi there\r\n--B--\r\n";
    let mp = s
        .capture(
            &bin,
            Req::new("POST", "")
                .header("content-type", "multipart/form-data; boundary=B")
                .body(body),
        )
        .await;
    let doc = s.get(&format!("/requests/{mp}")).await.html();
    assert_eq!(texts(&doc, ".part strong"), ["note"]);
    assert_eq!(texts(&doc, ".part pre"), ["hi there"]);

    let bin_body = s
        .capture(&bin, Req::new("POST", "").body(vec![0u8, 1, 2, 0xff]))
        .await;
    let doc = s.get(&format!("/requests/{bin_body}")).await.html();
    assert!(texts(&doc, "pre.hex")[0].starts_with("00000000  00 01 02 ff"));
}

#[tokio::test]
async fn a_large_body_is_shown_truncated_with_a_download() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let big = "x".repeat(3 * 1024 * 1024);
    let id = s
        .capture(
            &bin,
            Req::new("POST", "")
                .header("content-type", "text/plain")
                .body(big),
        )
        .await;
    let page = s.get(&format!("/requests/{id}")).await;
    assert!(
        page.body.len() < 400 * 1024,
        "page is {} bytes",
        page.body.len()
    );
    let doc = page.html();
    assert!(texts(&doc, ".notice")[0].contains("Showing the first 256.0 KiB of 3.0 MiB"));
    assert_eq!(
        texts(&doc, "#body pre")[0].len(),
        hookbin::inspect::INLINE_LIMIT
    );
}

#[tokio::test]
async fn hostile_captures_are_escaped_and_pages_forbid_inline_script() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)><a href=\"javascript:alert(3)\">x</a>";
    let id = s
        .capture(
            &bin,
            Req::new("POST", "/p?q=%3Cscript%3E")
                .header("content-type", "text/html")
                .header("x-evil", evil)
                .body(evil),
        )
        .await;
    for path in [format!("/requests/{id}"), format!("/bins/{bin}")] {
        let page = s.get(&path).await;
        let csp = page.header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        let doc = page.html();
        let scripts = scraper::Selector::parse("script").unwrap();
        let srcs: Vec<_> = doc.select(&scripts).map(|e| e.attr("src")).collect();
        assert_eq!(
            srcs,
            [Some("/assets/app.js")],
            "only our own script on {path}"
        );
        assert_eq!(count(&doc, "[onerror]"), 0);
        assert_eq!(count(&doc, "a[href^='javascript']"), 0);
        assert_eq!(count(&doc, "img"), 0);
    }
    let doc = s.get(&format!("/requests/{id}")).await.html();
    // The hostile text is there, as text.
    assert!(texts(&doc, "#headers td .value").contains(&evil.to_owned()));
    assert_eq!(texts(&doc, "#body pre")[0], evil);
}

#[tokio::test]
async fn delete_request_clear_and_delete_bin_from_the_pages() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let a = s.capture(&bin, Req::new("POST", "")).await;
    s.capture(&bin, Req::new("POST", "")).await;
    let r = s
        .send(Req::new("POST", &format!("/requests/{a}/delete")))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let doc = s.get(&format!("/bins/{bin}")).await.html();
    assert_eq!(
        (texts(&doc, "#request-count"), texts(&doc, "#request-noun")),
        (vec!["1".to_owned()], vec!["request".to_owned()]),
        "one left, said in the singular"
    );
    assert_eq!(r.header("location"), format!("/bins/{bin}"));
    assert_eq!(
        s.get(&format!("/requests/{a}")).await.status,
        StatusCode::NOT_FOUND
    );

    s.send(Req::new("POST", &format!("/bins/{bin}/clear")))
        .await;
    let doc = s.get(&format!("/bins/{bin}")).await.html();
    assert_eq!(count(&doc, "#requests tbody tr"), 0);
    assert_eq!(texts(&doc, "#request-count"), ["0"]);
    assert_eq!(texts(&doc, "#request-noun"), ["requests"]);

    let r = s
        .send(Req::new("POST", &format!("/bins/{bin}/delete")))
        .await;
    assert_eq!(r.header("location"), "/");
    let missing = s.get(&format!("/bins/{bin}")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(texts(&missing.html(), "h1")[0].contains("404"));
}

#[tokio::test]
async fn assets_are_served_locally() {
    let s = TestServer::start().await;
    let css = s.get("/assets/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.text().contains("prefers-color-scheme: dark"));
    assert!(s.get("/assets/app.js").await.text().contains("EventSource"));
    assert_eq!(s.get("/assets/nope.js").await.status, StatusCode::NOT_FOUND);
    // No page refers to anything outside this server.
    let home = s.get("/").await.text();
    assert!(!home.contains("https://") && !home.contains("http://cdn"));
}
