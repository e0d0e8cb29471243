//! `GET /metrics`: the Prometheus text format, read back with a Prometheus text parser, whose
//! counters move as captures, deliveries and forwards happen; guarded like the admin side.

use hookbin::model::BinId;
use hyper::StatusCode;
use prometheus_parse::{Scrape, Value};

use crate::support::receiver::Receiver;
use crate::support::{Req, TestServer, eventually};

const TOKEN: &str = "metrics-test-token-0123456789";

async fn scrape(s: &TestServer) -> Scrape {
    let r = s
        .send(Req::new("GET", "/metrics").header("authorization", format!("Bearer {TOKEN}")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .starts_with("text/plain; version=0.0.4")
    );
    Scrape::parse(r.text().lines().map(|l| Ok(l.to_owned()))).expect("the Prometheus text format")
}

/// The value of `metric` with label `key` = `value` (or with no label asked, the first).
fn value(s: &Scrape, metric: &str, label: Option<(&str, &str)>) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .find(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.last().map_or(0.0, |c| c.count),
            Value::Summary(_) => f64::NAN,
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_counters_move_with_what_happens() {
    let s = TestServer::start_with(|c| {
        c.token = Some(TOKEN.into());
        c.max_body = 1024;
        c.bins = vec![BinId::parse("m").unwrap()];
    })
    .await;
    // Guarded: no token, no figures.
    assert_eq!(s.get("/metrics").await.status, StatusCode::UNAUTHORIZED);
    let before = scrape(&s).await;
    assert_eq!(
        value(&before, "hookbin_captures_total", Some(("status", "200"))),
        0.0
    );
    for _ in 0..3 {
        s.send(Req::new("POST", "/b/m").body("12345")).await;
    }
    s.send(Req::new("POST", "/b/m").body(vec![0u8; 4096])).await;
    s.send(Req::new("POST", "/b/nope")).await;
    let rx = Receiver::start().await;
    let hook = s
        .send(
            Req::new("POST", "/api/webhooks")
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .body(
                    serde_json::json!({"name": "m", "url": rx.url("/in"), "event": "payment_received"})
                        .to_string(),
                ),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.text());
    let hook = hook.json();
    let tested = s
        .send(
            Req::new(
                "POST",
                &format!("/api/webhooks/{}/test", hook["id"].as_str().unwrap()),
            )
            .header("authorization", format!("Bearer {TOKEN}")),
        )
        .await;
    assert_eq!(tested.status, StatusCode::OK, "{}", tested.text());

    let after = eventually(10, "the figures", || async {
        let m = scrape(&s).await;
        (value(
            &m,
            "hookbin_delivery_attempts_total",
            Some(("status", "200")),
        ) == 1.0)
            .then_some(m)
    })
    .await;
    assert_eq!(
        value(&after, "hookbin_captures_total", Some(("status", "200"))),
        3.0
    );
    assert_eq!(
        value(&after, "hookbin_captures_total", Some(("status", "413"))),
        1.0
    );
    assert_eq!(
        value(&after, "hookbin_captures_total", Some(("status", "404"))),
        1.0
    );
    assert_eq!(value(&after, "hookbin_captured_bytes_total", None), 15.0);
    assert!(
        value(&after, "hookbin_writer_batch_size", None) >= 3.0,
        "batches were observed"
    );
    assert_eq!(
        value(&after, "hookbin_deliveries", Some(("state", "succeeded"))),
        1.0
    );
    assert!(value(&after, "hookbin_database_bytes", None) > 0.0);
    assert_eq!(value(&after, "hookbin_sse_subscribers", None), 0.0);
}

/// The bench found `hookbin_deliveries{state="pending"}` stuck at its last count once no
/// delivery was pending any more (a state with no rows was never set back to 0).
#[tokio::test]
async fn a_delivery_state_nobody_is_in_any_more_reads_zero() {
    let s = TestServer::start_with(|c| {
        c.token = Some(TOKEN.into());
        c.retry = hookbin::sender::retry::RetrySchedule::parse("1s").unwrap();
    })
    .await;
    let auth = format!("Bearer {TOKEN}");
    let hook = s
        .send(
            Req::new("POST", "/api/webhooks")
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .body(
                    serde_json::json!({"name": "dead", "url": crate::support::dead_url(), "event": "payment_received"})
                        .to_string(),
                ),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.text());
    let fired = s
        .send(
            Req::new("POST", "/api/events/payment_received")
                .header("authorization", &auth)
                .body("{}"),
        )
        .await;
    assert_eq!(fired.status, StatusCode::ACCEPTED, "{}", fired.text());
    // Between its two attempts (1 s apart) the delivery is pending.
    let pending = value(
        &scrape(&s).await,
        "hookbin_deliveries",
        Some(("state", "pending")),
    );
    assert_eq!(pending, 1.0);
    eventually(20, "the delivery to fail", || async {
        let now = scrape(&s).await;
        (value(&now, "hookbin_deliveries", Some(("state", "failed"))) == 1.0).then_some(now)
    })
    .await;
    let after = scrape(&s).await;
    let pending = after
        .samples
        .iter()
        .find(|x| x.metric == "hookbin_deliveries" && x.labels.get("state") == Some("pending"))
        .expect("the pending gauge is still reported");
    assert!(
        matches!(pending.value, Value::Gauge(v) if v == 0.0),
        "{:?}",
        pending.value
    );
}
