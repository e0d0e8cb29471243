//! The sending side in the pages: the whole loop from a new bin to a verified payload.

use hyper::StatusCode;

use crate::support::receiver::Receiver;
use crate::support::{Req, TestServer, count, texts};

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn attr(doc: &scraper::Html, selector: &str, name: &str) -> String {
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .unwrap_or_else(|| panic!("no {selector}"))
        .attr(name)
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_whole_loop_new_bin_webhook_test_event_verified_payload() {
    let s = TestServer::start().await;
    // "Use a new bin" creates a bin and fills its URL into the form.
    let r = s
        .send(Req::form(
            "/webhooks",
            "name=Payments&url=&event=payment_received&action=new-bin",
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.html();
    let url = attr(&doc, "#url", "value");
    assert!(url.starts_with(&s.url("/b/")), "{url}");
    assert_eq!(attr(&doc, "#name", "value"), "Payments");
    assert_eq!(
        attr(&doc, "#event option[selected]", "value"),
        "payment_received"
    );
    let bin = url.rsplit('/').next().unwrap().to_owned();

    let r = s
        .send(Req::form(
            "/webhooks",
            format!(
                "name=Payments&url={}&event=payment_received&action=create",
                enc(&url)
            ),
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let location = r.header("location").to_owned();
    let (hook_page, said) = location.split_once('?').expect("a notice");
    assert_eq!(said, "added=1");
    let hook_page = hook_page.to_owned();
    let doc = s.get(&location).await.html();
    assert_eq!(texts(&doc, "h1"), ["Payments"]);
    assert!(texts(&doc, "#notice")[0].starts_with("Webhook added."));
    let lines = texts(&doc, "#json-tree .jline");
    assert!(
        lines.contains(&"\"payment_total\": \"$31.32\",".to_owned()),
        "{lines:?}"
    );

    // Send Test Event: a redirect to a page that can be reloaded; the confirmation shows the
    // status and the time taken, and links to the request as the bin caught it.
    let r = s.post(&format!("{hook_page}/test")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let result_page = r.header("location").to_owned();
    assert!(
        result_page.starts_with(&format!("{hook_page}?test=msg_")),
        "{result_page}"
    );
    let doc = s.get(&result_page).await.html();
    let again = s.get(&result_page).await.html();
    assert_eq!(
        texts(&again, "#test-result h2"),
        texts(&doc, "#test-result h2")
    );
    assert_eq!(texts(&doc, "#test-result h2"), ["Test event delivered"]);
    assert_eq!(texts(&doc, "#test-status"), ["200"]);
    assert!(texts(&doc, "#test-duration")[0].ends_with(" ms"));
    assert!(texts(&doc, "#test-body")[0].contains("\"ok\":true"));
    assert_eq!(count(&doc, "#deliveries tbody tr"), 1);

    // The bin has the payload, pretty-printed, with headers and a valid signature.
    let list = s.get(&format!("/api/bins/{bin}/requests")).await.json();
    let id = list["requests"][0]["id"].as_str().unwrap().to_owned();
    let caught = doc
        .select(&scraper::Selector::parse("#test-captured").unwrap())
        .next()
        .expect("a link to the caught request");
    assert_eq!(
        caught.value().attr("href"),
        Some(format!("/bins/{bin}?r={id}").as_str())
    );
    let doc = s.get(&format!("/requests/{id}")).await.html();
    assert_eq!(
        texts(&doc, "#signature h3"),
        ["Standard Webhooks: signature valid"]
    );
    assert!(texts(&doc, "#signature p")[0].contains("Payments"));
    let raw = texts(&doc, &format!("#raw-{id}"));
    assert!(raw[0].starts_with("{\"payment_id\":1287,"), "{raw:?}");
    // The bin page itself shows the newest request, the payload, without a click.
    let bin_page = s.get(&format!("/bins/{bin}")).await.html();
    assert_eq!(
        texts(&bin_page, "#detail #json-tree .jk")[..2],
        ["\"payment_id\"", "\"payment_status\""]
    );
    assert_eq!(texts(&bin_page, "#detail #json-tree .jn")[0], "1287");
    assert_eq!(texts(&bin_page, "#requests .sig"), ["✓ signed"]);
    let headers = texts(&doc, "#headers th");
    for h in [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "webhook-event",
        "user-agent",
    ] {
        assert!(headers.contains(&h.to_owned()), "{h} in {headers:?}");
    }
}

#[tokio::test]
async fn a_tampered_or_foreign_signature_is_shown_as_not_valid() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    s.new_webhook("Known", "http://127.0.0.1:9/", "payment_received")
        .await;
    let id = s
        .capture(
            &bin,
            Req::new("POST", "")
                .header("webhook-id", "msg_x")
                .header("webhook-timestamp", "1700000000")
                .header(
                    "webhook-signature",
                    "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                )
                .body("{}"),
        )
        .await;
    let doc = s.get(&format!("/requests/{id}")).await.html();
    assert_eq!(
        texts(&doc, "#signature h3"),
        ["Standard Webhooks: signature not valid"]
    );
    let plain = s.capture(&bin, Req::new("POST", "").body("{}")).await;
    assert_eq!(
        count(
            &s.get(&format!("/requests/{plain}")).await.html(),
            "#signature"
        ),
        0
    );
}

#[tokio::test]
async fn a_failed_test_send_is_shown_as_a_failure_with_its_status() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    rx.script(&[503]);
    let hook = s.new_webhook("Down", &rx.url("/"), "invoice_sent").await;
    let r = s
        .post(&format!("/webhooks/{}/test", hook["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let doc = s.get(r.header("location")).await.html();
    assert_eq!(texts(&doc, "#test-result h2"), ["Test event not delivered"]);
    assert_eq!(
        count(&doc, "#test-captured"),
        0,
        "the receiver is no bin of ours"
    );
    assert_eq!(texts(&doc, "#test-status"), ["503"]);
    assert!(texts(&doc, "#test-error")[0].contains("503"));
    assert_eq!(count(&doc, "#test-result.result-fail"), 1);
}

#[tokio::test]
async fn the_form_explains_bad_input_and_keeps_what_was_typed() {
    let s = TestServer::start().await;
    let r = s
        .send(Req::form(
            "/webhooks",
            "name=&url=http%3A%2F%2F127.0.0.1%3A9%2F&event=site_published&action=create",
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let doc = r.html();
    assert!(texts(&doc, "#name-error")[0].contains("name"));
    assert_eq!(count(&doc, "#name[aria-invalid=true][autofocus]"), 1);
    assert_eq!(attr(&doc, "#url", "value"), "http://127.0.0.1:9/");
    assert_eq!(
        attr(&doc, "#event option[selected]", "value"),
        "site_published"
    );
    // Every problem at once, each beside its field.
    let r = s
        .send(Req::form(
            "/webhooks",
            "name=&url=nope&event=no_such&action=create",
        ))
        .await;
    let doc = r.html();
    assert!(texts(&doc, "#url-error")[0].contains("http"));
    assert!(texts(&doc, "#name-error")[0].contains("name"));
    assert!(texts(&doc, "#event-error")[0].contains("no_such"));
    assert_eq!(count(&doc, "#form-errors li"), 3);
    assert!(
        s.get("/api/webhooks").await.json()["webhooks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn webhooks_can_be_toggled_rotated_and_deleted_from_their_page() {
    let s = TestServer::start().await;
    let hook = s
        .new_webhook(
            "<img src=x onerror=alert(1)>",
            "http://127.0.0.1:9/",
            "payment_received",
        )
        .await;
    let id = hook["id"].as_str().unwrap();
    let list = s.get("/webhooks").await.html();
    assert_eq!(
        texts(&list, "#webhooks tbody td a"),
        ["<img src=x onerror=alert(1)>"]
    );
    assert_eq!(count(&list, "img"), 0);

    let r = s
        .send(Req::form(&format!("/webhooks/{id}/active"), "active=false"))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        s.get(&format!("/api/webhooks/{id}")).await.json()["active"],
        false
    );
    let doc = s.get(&format!("/webhooks/{id}")).await.html();
    assert_eq!(texts(&doc, "form[action$='/active'] button"), ["Activate"]);

    s.post(&format!("/webhooks/{id}/rotate")).await;
    assert_ne!(
        s.get(&format!("/api/webhooks/{id}")).await.json()["secret"],
        hook["secret"]
    );

    let r = s.post(&format!("/webhooks/{id}/delete")).await;
    assert_eq!(r.header("location"), "/webhooks");
    assert_eq!(
        s.get(&format!("/webhooks/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_events_page_and_delivery_pages_show_payloads_and_attempts() {
    let s = TestServer::start().await;
    let doc = s.get("/events").await.html();
    assert_eq!(count(&doc, "section.event"), 23);
    assert!(texts(&doc, "#event-payment_received pre")[0].contains("\"wu_version\": \"2.4.13\""));

    let rx = Receiver::start().await;
    let hook = s.new_webhook("Log", &rx.url("/"), "payment_received").await;
    let res = s.test_send(&hook).await;
    let delivery = res["delivery_id"].as_str().unwrap();
    let doc = s.get(&format!("/deliveries/{delivery}")).await.html();
    assert_eq!(texts(&doc, "#delivery-state"), ["succeeded"]);
    assert_eq!(count(&doc, ".attempt"), 1);
    assert_eq!(
        texts(&doc, "#sent")[0].as_bytes(),
        rx.got()[0].body.as_ref(),
        "the log shows the bytes sent"
    );
    assert!(texts(&doc, "#attempt-1 h3")[0].contains("200"));
    let r = s.post(&format!("/deliveries/{delivery}/redeliver")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let again = r
        .header("location")
        .trim_start_matches("/deliveries/")
        .to_owned();
    assert_eq!(s.settled(&again).await["redelivery_of"], delivery);
    assert_eq!(rx.got().len(), 2);
}
