//! Every page on every screen: at 390 px nothing scrolls sideways and every table header sits
//! over its own column (or the table is laid out as cards whose cells name their column), and
//! axe-core finds no serious or critical accessibility problem, in light and in dark.

use crate::support::browser::{self, Browser};
use crate::support::{Req, TestServer};

/// Fills a server with one of everything and returns the pages to look at.
async fn every_page(s: &TestServer) -> Vec<String> {
    let bin = s.new_bin().await;
    let long = "/orders/2026/very-long-path-segment-that-keeps-going/and-going/and-going?with=a-long-query-string&and=more-of-it";
    let json = s
        .capture(
            &bin,
            Req::new("POST", long)
                .header("content-type", "application/json")
                .header("x-long-header", "v".repeat(300))
                .body(r#"{"order":{"id":"A-1","lines":[{"sku":"t1","qty":2}]},"note":"x"}"#),
        )
        .await;
    let xml = s
        .capture(
            &bin,
            Req::new("POST", "/xml")
                .header("content-type", "application/xml")
                .body("<a><b>1</b></a>"),
        )
        .await;
    let binary = s
        .capture(
            &bin,
            Req::new("PUT", "/bin")
                .header("content-type", "application/octet-stream")
                .body((0u8..=255).collect::<Vec<u8>>()),
        )
        .await;
    let form = s.capture(&bin, Req::form("/form", "a=1&b=two")).await;
    let hook = s
        .new_webhook(
            "Payments with a rather long name",
            &s.url(&format!(
                "/b/{bin}/hooks/a-long-receiver-path-for-the-webhook"
            )),
            "payment_received",
        )
        .await;
    let sent = s.test_send(&hook).await;
    let hook_id = hook["id"].as_str().unwrap();
    let delivery = sent["delivery_id"].as_str().unwrap();
    let empty = s.new_bin().await;
    let rules = serde_json::json!({"rules": [
        {"name": "refunds are gone", "when": {"method": "POST", "path": "/refunds/**"}, "answers": [{"status": 410}]},
        {"name": "fail twice, then accept", "when": {"body": {"json_path": "$.order.id", "equals": "A-1"}},
         "answers": [{"status": 500}, {"status": 500}, {"status": 200, "headers": [["content-type", "application/json"]], "body": "{\"seen\": \"{{json.$.order.id}}\"}"}]},
        {"name": "flaky", "random": {"percent": 20, "seed": 7}, "answers": [{"status": 503, "delay_ms": 250}]}
    ]});
    let put = s
        .send(
            Req::new("PUT", &format!("/api/bins/{bin}/rules"))
                .header("content-type", "application/json")
                .body(rules.to_string()),
        )
        .await;
    assert_eq!(put.status, hyper::StatusCode::OK, "{}", put.text());
    let ruled = s
        .send(Req::new("POST", &format!("/b/{bin}/refunds/9")).body("{}"))
        .await;
    assert_eq!(ruled.status, hyper::StatusCode::GONE);
    vec![
        format!("/bins/{bin}/rules"),
        format!("/bins/{bin}/rules?edit=fail%20twice%2C%20then%20accept"),
        "/".into(),
        format!("/bins/{bin}"),
        format!("/bins/{bin}?r={xml}"),
        format!("/bins/{bin}?r={binary}"),
        format!("/bins/{bin}?r={form}"),
        format!("/bins/{empty}"),
        format!("/bins/{bin}/settings"),
        format!("/requests/{json}"),
        format!("/bins/{bin}/compare?ids={json}&ids={form}"),
        "/webhooks".into(),
        format!("/webhooks?test={delivery}"),
        format!("/webhooks/{hook_id}"),
        format!("/webhooks/{hook_id}/edit"),
        "/webhooks/new".into(),
        format!("/deliveries/{delivery}"),
        "/events".into(),
        "/api".into(),
        "/login".into(),
        "/bins/no-such-bin-here".into(),
    ]
}

/// What is wrong with the page's layout at phone width: sideways scrolling of the page or of a
/// card, and table headers that do not sit over their column.
const LAYOUT: &str = r#"
const problems = [];
const root = document.documentElement;
if (root.scrollWidth > window.innerWidth) problems.push('page is ' + root.scrollWidth + ' px wide in ' + window.innerWidth);
for (const c of document.querySelectorAll('.card')) {
  if (c.scrollWidth > c.clientWidth + 1) problems.push('card ' + (c.id || c.className) + ' is ' + c.scrollWidth + ' px wide in ' + c.clientWidth);
}
for (const t of document.querySelectorAll('table')) {
  const head = t.querySelector('thead');
  if (!head) continue;
  const ths = Array.from(head.querySelectorAll('th'));
  if (getComputedStyle(head).position === 'absolute') {
    // Cards: the header row is for screen readers; each cell names its column.
    for (const td of t.querySelectorAll('tbody td')) {
      if (!td.hasAttribute('data-label')) problems.push('card cell without its column name in ' + t.id);
    }
    continue;
  }
  for (const tr of t.querySelectorAll('tbody tr')) {
    const cells = Array.from(tr.children);
    if (cells.length !== ths.length) { problems.push(t.id + ': ' + cells.length + ' cells under ' + ths.length + ' headers'); continue; }
    cells.forEach((cell, i) => {
      const h = ths[i].getBoundingClientRect(), c = cell.getBoundingClientRect();
      const hidden = (r) => r.width === 0 && r.height === 0;
      if (hidden(h) !== hidden(c)) problems.push(t.id + ' column ' + i + ': header and cell not shown together');
      else if (!hidden(h) && (Math.abs(h.left - c.left) > 1 || Math.abs(h.right - c.right) > 1))
        problems.push(t.id + ' column ' + i + ': header at ' + h.left + '-' + h.right + ', cell at ' + c.left + '-' + c.right);
    });
  }
}
return problems;
"#;

async fn check(b: &Browser, s: &TestServer, pages: &[String], axe: &str, phone: bool, label: &str) {
    let mut problems = Vec::new();
    for page in pages {
        b.goto(&s.url(page)).await;
        b.wait("main").await;
        if phone {
            let found = b.client.execute(LAYOUT, vec![]).await.unwrap();
            for p in serde_json::from_value::<Vec<String>>(found).unwrap() {
                problems.push(format!("{label} {page}: {p}"));
            }
        }
        for v in b.axe(axe).await {
            problems.push(format!("{label} {page}: {v}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

async fn every_page_in(dark: bool) {
    let Some(axe) = browser::axe_script() else {
        return;
    };
    let scheme = if dark { "dark" } else { "light" };
    let s = TestServer::start().await;
    let pages = every_page(&s).await;
    let Some(b) = browser::open_in(390, 844, true, dark).await else {
        return;
    };
    // The checker itself must see a known problem, or a clean result would mean nothing.
    b.goto("data:text/html,<html lang=en><title>t</title><main><img src=x.png></main></html>")
        .await;
    let found = b.axe(&axe).await;
    let is_dark = b
        .client
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(is_dark, serde_json::Value::Bool(dark), "the colour scheme");
    assert!(
        found.iter().any(|v| v.starts_with("image-alt")),
        "axe-core did not flag an image without alt text: {found:?}"
    );
    check(&b, &s, &pages, &axe, true, &format!("{scheme} 390px")).await;
    b.close().await;
    let Some(b) = browser::open_in(1280, 900, true, dark).await else {
        return;
    };
    check(&b, &s, &pages, &axe, false, &format!("{scheme} desktop")).await;
    b.close().await;
}

#[tokio::test]
async fn every_page_fits_a_phone_and_passes_axe_in_light() {
    every_page_in(false).await;
}

#[tokio::test]
async fn every_page_fits_a_phone_and_passes_axe_in_dark() {
    every_page_in(true).await;
}
