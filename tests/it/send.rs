//! Sending: Send Test Event, fired events through the outbox, retries, restarts, redelivery.

use std::time::Duration;

use hookbin::sender::signing;
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::support::receiver::{Received, Receiver};
use crate::support::{TestServer, eventually};

/// Checks a received delivery the way a Standard Webhooks receiver would.
fn assert_signed(r: &Received, secret: &str) {
    let key = signing::secret_key(secret).unwrap();
    let id = r.header("webhook-id").expect("webhook-id");
    let ts: i64 = r
        .header("webhook-timestamp")
        .expect("webhook-timestamp")
        .parse()
        .unwrap();
    let sig = r.header("webhook-signature").expect("webhook-signature");
    assert!(
        signing::verify(&key, id, ts, &r.body, sig),
        "signature does not verify"
    );
    assert!(
        (chrono::Utc::now().timestamp() - ts).abs() < 60,
        "timestamp is now"
    );
}

#[tokio::test]
async fn send_test_event_posts_the_signed_flat_sample_and_confirms() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let hook = s
        .new_webhook("Payments", &rx.url("/hooks/um"), "payment_received")
        .await;
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(hook["active"], true);

    let r = s
        .post(&format!(
            "/api/webhooks/{}/test",
            hook["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let res = r.json();
    assert_eq!(res["ok"], true);
    assert_eq!(res["status"], 200);
    assert!(res["duration_ms"].is_u64());
    assert_eq!(res["response_body"], "answer 200");
    assert!(res["error"].is_null());

    let got = rx.got();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/hooks/um");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("hookbin/"));
    assert_eq!(req.header("webhook-event"), Some("payment_received"));
    assert_eq!(req.header("webhook-id"), res["delivery_id"].as_str());
    assert_signed(req, hook["secret"].as_str().unwrap());
    // The body is the flat sample payload, compact, keys in catalog order.
    let sample = hookbin::catalog::Catalog::built_in()
        .get("payment_received")
        .unwrap()
        .sample_payload
        .clone();
    assert_eq!(req.body, serde_json::to_vec(&sample).unwrap());
    assert!(!req.body.contains(&b'\n'));

    // It is in the delivery log, marked as a test, with the bytes that were sent.
    let d = s
        .get(&format!(
            "/api/deliveries/{}",
            res["delivery_id"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(d["test"], true);
    assert_eq!(d["state"], "succeeded");
    assert_eq!(d["attempts"][0]["status"], 200);
    assert_eq!(serde_json::to_vec(&d["payload"]).unwrap(), req.body);
}

#[tokio::test]
async fn a_non_2xx_or_missing_answer_is_reported_as_failure() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    rx.script(&[500]);
    let hook = s
        .new_webhook("Flaky", &rx.url("/"), "payment_received")
        .await;
    let res = s.test_send(&hook).await;
    assert_eq!(res["ok"], false);
    assert_eq!(res["status"], 500);
    assert!(res["error"].as_str().unwrap().contains("500"));
    let d = s
        .get(&format!(
            "/api/deliveries/{}",
            res["delivery_id"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(d["state"], "failed");

    // Nothing listening: no status, and the reason in words.
    let dead = format!("{}/", crate::support::dead_url());
    let hook = s.new_webhook("Gone", &dead, "payment_received").await;
    let res = s.test_send(&hook).await;
    assert_eq!(res["ok"], false);
    assert!(res["status"].is_null());
    let err = res["error"].as_str().unwrap();
    assert!(err.contains("could not connect"), "{err}");
}

#[tokio::test]
async fn a_real_event_is_retried_until_a_2xx_with_every_attempt_logged() {
    let s = TestServer::start_with(|c| {
        c.retry = hookbin::sender::retry::RetrySchedule::parse("50ms,50ms,50ms").unwrap()
    })
    .await;
    let rx = Receiver::start().await;
    rx.script(&[500, 503]);
    let hook = s
        .new_webhook("Orders", &rx.url("/orders"), "payment_received")
        .await;
    let fired = s
        .post_json(
            "/api/events/payment_received",
            json!({"payment_id": 7, "note": "real"}),
        )
        .await;
    assert_eq!(fired.status, StatusCode::ACCEPTED);
    let fired = fired.json();
    assert!(fired["event_id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(fired["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(fired["deliveries"][0]["webhook_id"], hook["id"]);
    let id = fired["deliveries"][0]["id"].as_str().unwrap();

    let d = s.settled(id).await;
    assert_eq!(d["state"], "succeeded");
    let statuses: Vec<&Value> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(503), &json!(200)]);
    assert_eq!(d["attempts"][0]["response_body"], "answer 500");
    assert!(d["next_attempt_at"].is_null());

    let got = rx.got();
    assert_eq!(got.len(), 3);
    // Retries carry the same message id and identical bytes.
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == Some(id) && r.body == got[0].body)
    );
    assert_eq!(got[0].body.as_ref(), br#"{"payment_id":7,"note":"real"}"#);
    assert_signed(&got[2], hook["secret"].as_str().unwrap());
}

#[tokio::test]
async fn a_delivery_fails_once_the_schedule_is_used_up() {
    let s = TestServer::start_with(|c| {
        c.retry = hookbin::sender::retry::RetrySchedule::parse("20ms").unwrap()
    })
    .await;
    let rx = Receiver::start().await;
    rx.script(&[500, 500, 500]);
    s.new_webhook("Down", &rx.url("/"), "customer_created")
        .await;
    let fired = s
        .post_json("/api/events/customer_created", json!({}))
        .await
        .json();
    let d = s
        .settled(fired["deliveries"][0]["id"].as_str().unwrap())
        .await;
    assert_eq!(d["state"], "failed");
    assert_eq!(d["attempts"].as_array().unwrap().len(), 2);

    // Redelivery by hand sends the same payload again as a new delivery.
    let again = s
        .post(&format!(
            "/api/deliveries/{}/redeliver",
            d["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    let again = again.json();
    assert_eq!(again["redelivery_of"], d["id"]);
    let done = s.settled(again["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded");
    let statuses: Vec<&Value> = done["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!(500), &json!(200)],
        "the redelivery retries too"
    );
    let got = rx.got();
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|r| r.body == got[0].body));
}

#[tokio::test]
async fn a_pending_delivery_is_sent_after_a_restart() {
    let schedule = || hookbin::sender::retry::RetrySchedule::parse("300ms").unwrap();
    let s = TestServer::start_with(|c| c.retry = schedule()).await;
    let rx = Receiver::start().await;
    rx.script(&[503]);
    s.new_webhook("Later", &rx.url("/"), "payment_received")
        .await;
    let fired = s
        .post_json("/api/events/payment_received", json!({}))
        .await
        .json();
    let id = fired["deliveries"][0]["id"].as_str().unwrap().to_owned();
    eventually(10, "the first attempt", || async {
        let d = s.get(&format!("/api/deliveries/{id}")).await.json();
        (d["attempts"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    assert_eq!(
        s.get(&format!("/api/deliveries/{id}")).await.json()["state"],
        "pending"
    );

    let s = s.restart_with(|c| c.retry = schedule()).await;
    let d = s.settled(&id).await;
    assert_eq!(d["state"], "succeeded");
    assert_eq!(d["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(rx.got().len(), 2);
}

#[tokio::test]
async fn inactive_webhooks_never_receive_real_events() {
    let s = TestServer::start().await;
    let (on, off) = (Receiver::start().await, Receiver::start().await);
    let active = s
        .new_webhook("On", &on.url("/"), "membership_expired")
        .await;
    let inactive = s
        .new_webhook("Off", &off.url("/"), "membership_expired")
        .await;
    let inactive_id = inactive["id"].as_str().unwrap();
    let patched = s
        .patch_json(
            &format!("/api/webhooks/{inactive_id}"),
            json!({"active": false}),
        )
        .await
        .json();
    assert_eq!(patched["active"], false);

    let fired = s
        .post_json("/api/events/membership_expired", json!({}))
        .await
        .json();
    let deliveries = fired["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["webhook_id"], active["id"]);
    s.settled(deliveries[0]["id"].as_str().unwrap()).await;
    assert_eq!(on.got().len(), 1);
    assert!(off.got().is_empty());
    let log = s
        .get(&format!("/api/webhooks/{inactive_id}/deliveries"))
        .await
        .json();
    assert!(log["deliveries"].as_array().unwrap().is_empty());
    // Events nobody subscribed to create no deliveries.
    let none = s
        .post_json("/api/events/checkout_failed", json!({}))
        .await
        .json();
    assert!(none["deliveries"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_slow_receiver_does_not_hold_up_the_others() {
    let s = TestServer::start_with(|c| c.endpoint_concurrency = 2).await;
    let (slow, fast) = (Receiver::start().await, Receiver::start().await);
    slow.delay(Duration::from_millis(400));
    s.new_webhook("Slow", &slow.url("/"), "payment_created")
        .await;
    s.new_webhook("Fast", &fast.url("/"), "payment_updated")
        .await;
    for _ in 0..12 {
        s.post_json("/api/events/payment_created", json!({})).await;
    }
    s.post_json("/api/events/payment_updated", json!({})).await;
    eventually(20, "the fast receiver's delivery", || async {
        (!fast.got().is_empty()).then_some(())
    })
    .await;
    let slow_done = slow.got().len();
    assert!(
        slow_done < 12,
        "the fast delivery waited for the slow receiver ({slow_done} slow ones first)"
    );
}

#[tokio::test]
async fn webhook_input_and_event_errors_are_clear() {
    let s = TestServer::start().await;
    let cases = [
        (
            json!({"url": "http://127.0.0.1:9/", "event": "payment_received"}),
            "name",
        ),
        (
            json!({"name": "  ", "url": "http://127.0.0.1:9/", "event": "payment_received"}),
            "name",
        ),
        (
            json!({"name": "x", "url": "ftp://example.com", "event": "payment_received"}),
            "http",
        ),
        (
            json!({"name": "x", "url": "/relative", "event": "payment_received"}),
            "http",
        ),
        (
            json!({"name": "x", "url": "http://127.0.0.1:9/", "event": "no_such_event"}),
            "catalog",
        ),
        (
            json!({"name": "x", "url": "http://127.0.0.1:9/", "event": "payment_received", "extra": 1}),
            "extra",
        ),
        (
            json!({"name": "x", "url": "http://127.0.0.1:9/", "event": "payment_received", "active": "yes"}),
            "boolean",
        ),
    ];
    for (body, needle) in cases {
        let msg = s
            .post_json("/api/webhooks", body.clone())
            .await
            .assert_error(StatusCode::BAD_REQUEST);
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    assert!(
        s.get("/api/webhooks").await.json()["webhooks"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let hook = s
        .new_webhook("Ok", "http://127.0.0.1:9/", "payment_received")
        .await;
    let id = hook["id"].as_str().unwrap();
    s.patch_json(&format!("/api/webhooks/{id}"), json!({"url": "nope"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.patch_json(&format!("/api/webhooks/{id}"), json!({"event": "nope"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert_eq!(
        s.get(&format!("/api/webhooks/{id}")).await.json()["url"],
        "http://127.0.0.1:9/"
    );

    s.post_json("/api/events/no_such_event", json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.post_json("/api/events/payment_received", json!([1, 2]))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.send(crate::support::Req::new("POST", "/api/events/payment_received").body("{oops"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.send(crate::support::Req::new(
        "POST",
        "/api/webhooks/wh_nope/test",
    ))
    .await
    .assert_error(StatusCode::NOT_FOUND);
    s.get("/api/deliveries/msg_nope")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    s.send(crate::support::Req::new(
        "POST",
        "/api/deliveries/msg_nope/redeliver",
    ))
    .await
    .assert_error(StatusCode::NOT_FOUND);
    s.get("/api/webhooks/wh_nope/deliveries")
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_catalog_and_webhook_lifecycle_are_in_the_api() {
    let s = TestServer::start().await;
    let events = s.get("/api/events").await.json();
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 23);
    let paid = events
        .iter()
        .find(|e| e["slug"] == "payment_received")
        .unwrap();
    assert_eq!(paid["name"], "Payment Received");
    assert!(paid["description"].as_str().unwrap().len() > 10);
    assert_eq!(paid["sample_payload"]["wu_version"], "2.4.13");

    let hook = s
        .new_webhook("Life", "http://127.0.0.1:9/", "site_published")
        .await;
    let id = hook["id"].as_str().unwrap();
    let list = s.get("/api/webhooks").await.json();
    assert_eq!(list["webhooks"][0]["id"], id);
    let rotated = s
        .post(&format!("/api/webhooks/{id}/rotate-secret"))
        .await
        .json();
    assert_ne!(rotated["secret"], hook["secret"]);
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    let renamed = s
        .patch_json(&format!("/api/webhooks/{id}"), json!({"name": "Renamed"}))
        .await
        .json();
    assert_eq!(renamed["name"], "Renamed");
    assert_eq!(renamed["event"], "site_published");
    assert_eq!(
        s.delete(&format!("/api/webhooks/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    s.get(&format!("/api/webhooks/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_receiver_that_answers_too_late_is_a_timeout_in_words() {
    let s = TestServer::start_with(|c| c.timeout = Duration::from_millis(300)).await;
    let rx = Receiver::start().await;
    rx.delay(Duration::from_secs(3));
    let hook = s
        .new_webhook("Slow", &rx.url("/"), "payment_received")
        .await;
    let res = s.test_send(&hook).await;
    assert_eq!(res["ok"], false);
    assert!(res["status"].is_null());
    let err = res["error"].as_str().unwrap();
    assert!(
        err.contains("gave up waiting for an answer after 0.3 s"),
        "{err}"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    rx.script(&[302]);
    let hook = s
        .new_webhook("Moved", &rx.url("/old"), "payment_received")
        .await;
    let res = s.test_send(&hook).await;
    assert_eq!(res["ok"], false, "a 3xx is not a delivery");
    assert_eq!(res["status"], 302);
    assert_eq!(rx.got().len(), 1, "nothing followed the redirect");
}

#[tokio::test]
async fn fired_payloads_arrive_as_the_bytes_given() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let hook = s
        .new_webhook("Loop", &s.url(&format!("/b/{bin}")), "payment_received")
        .await;
    // Whitespace between tokens goes; every token stays as written.
    let given = "{ \"payment_id\": 7, \"amount\": 1.10, \"e\": 1e3, \"z\": -0.0,\n  \
                 \"big\": 9007199254740993, \"huge\": 123456789012345678901234567890,\n  \
                 \"name\": \"caf\\u00e9 \\ud83d\\ude00\", \"nested\": {\"a\": [1.50, 2]} }";
    let sent = "{\"payment_id\":7,\"amount\":1.10,\"e\":1e3,\"z\":-0.0,\
                \"big\":9007199254740993,\"huge\":123456789012345678901234567890,\
                \"name\":\"caf\\u00e9 \\ud83d\\ude00\",\"nested\":{\"a\":[1.50,2]}}";
    let r = s
        .send(
            crate::support::Req::new("POST", "/api/events/payment_received")
                .header("content-type", "application/json")
                .body(given),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let delivery = r.json()["deliveries"][0]["id"].as_str().unwrap().to_owned();
    let captured = eventually(10, "the delivery in the bin", || async {
        let list = s
            .get(&format!("/api/bins/{bin}/requests?limit=1"))
            .await
            .json();
        list["requests"].as_array().unwrap().first().cloned()
    })
    .await;
    let id = captured["id"].as_str().unwrap();
    let full = s.get(&format!("/api/requests/{id}")).await.json();
    assert_eq!(full["body_text"], sent, "the bytes that arrived");
    // The delivery log shows the same text, not a re-encoding of it.
    let d = s.get(&format!("/api/deliveries/{delivery}")).await.text();
    assert!(d.contains(&format!("\"payload\":{sent}")), "{d}");
    assert_eq!(hook["event"], "payment_received");
}

#[tokio::test]
async fn a_storm_of_failing_attempts_records_each_attempt_exactly_once() {
    // A receiver that is down fails each attempt at once: the worker's attempts are recorded
    // in batches, and none may be lost, doubled or counted against the wrong delivery.
    let s = TestServer::start_with(|c| {
        c.retry = hookbin::sender::retry::RetrySchedule::parse("10ms,10ms").unwrap()
    })
    .await;
    let dead = crate::support::free_port();
    let hook = s
        .new_webhook(
            "Dead",
            &format!("http://127.0.0.1:{dead}/hook"),
            "customer_created",
        )
        .await;
    const N: usize = 300;
    let mut ids = Vec::new();
    for _ in 0..N {
        let fired = s
            .post_json("/api/events/customer_created", json!({}))
            .await
            .json();
        ids.push(fired["deliveries"][0]["id"].as_str().unwrap().to_owned());
    }
    let path = format!("/api/webhooks/{}", hook["id"].as_str().unwrap());
    crate::support::eventually(60, "every delivery to fail", || async {
        let w = s.get(&path).await.json();
        (w["deliveries"]["failed"] == N).then_some(())
    })
    .await;
    for id in &ids {
        let d = s.get(&format!("/api/deliveries/{id}")).await.json();
        assert_eq!(d["state"], "failed", "{d}");
        let attempts = d["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 3, "three attempts on {id}: {d}");
        assert!(
            attempts
                .iter()
                .all(|a| a["status"].is_null() && a["error"].is_string()),
            "each a refused connection: {d}"
        );
    }
    let w = s.get(&path).await.json();
    assert_eq!(w["deliveries"]["pending"], 0);
    assert_eq!(w["deliveries"]["succeeded"], 0);
}
