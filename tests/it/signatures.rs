//! Verifying captured signatures with a bin's secret: GitHub, Stripe and Standard Webhooks,
//! each with a known-good and a tampered request, on the page and through the API.

use hookbin::inspect::signatures::{github_signature, stripe_signature};
use hookbin::sender::signing;
use hyper::StatusCode;
use serde_json::json;

use crate::support::{Req, TestServer, texts};

const SECRET: &str = "whsec_local_test_secret";

async fn bin_with_secret(s: &TestServer) -> String {
    let bin = s.new_bin().await;
    let r = s
        .patch_json(
            &format!("/api/bins/{bin}"),
            json!({"signing_secret": SECRET}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    bin
}

/// Captures a POST into `bin` that carries one signature header; returns its id.
async fn signed(s: &TestServer, bin: &str, header: &str, value: String, body: &str) -> String {
    s.capture(
        bin,
        Req::new("POST", "")
            .header(header, value)
            .body(body.to_owned()),
    )
    .await
}

async fn verdicts(s: &TestServer, id: &str) -> Vec<String> {
    texts(
        &s.get(&format!("/requests/{id}")).await.html(),
        "#signature h3",
    )
}

#[tokio::test]
async fn github_signatures_are_checked_with_the_bin_secret() {
    let s = TestServer::start().await;
    let bin = bin_with_secret(&s).await;
    let body = r#"{"action":"opened","number":1}"#;
    let good = signed(
        &s,
        &bin,
        "x-hub-signature-256",
        github_signature(SECRET, body.as_bytes()),
        body,
    )
    .await;
    assert_eq!(verdicts(&s, &good).await, ["GitHub: signature valid"]);
    let tampered = signed(
        &s,
        &bin,
        "x-hub-signature-256",
        github_signature(SECRET, body.as_bytes()),
        &body.replace('1', "2"),
    )
    .await;
    assert_eq!(
        verdicts(&s, &tampered).await,
        ["GitHub: signature not valid"]
    );
}

#[tokio::test]
async fn stripe_signatures_are_checked_with_timestamp_and_body() {
    let s = TestServer::start().await;
    let bin = bin_with_secret(&s).await;
    let body = r#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
    let now = chrono::Utc::now().timestamp();
    let good = signed(
        &s,
        &bin,
        "stripe-signature",
        stripe_signature(SECRET, now, body.as_bytes()),
        body,
    )
    .await;
    assert_eq!(verdicts(&s, &good).await, ["Stripe: signature valid"]);
    let old = signed(
        &s,
        &bin,
        "stripe-signature",
        stripe_signature(SECRET, now - 3600, body.as_bytes()),
        body,
    )
    .await;
    assert_eq!(
        verdicts(&s, &old).await,
        ["Stripe: signature valid, timestamp too old"]
    );
    let tampered = signed(
        &s,
        &bin,
        "stripe-signature",
        stripe_signature(SECRET, now, body.as_bytes()),
        &body.replace("succeeded", "failed"),
    )
    .await;
    assert_eq!(
        verdicts(&s, &tampered).await,
        ["Stripe: signature not valid"]
    );

    // The API gives the same verdicts, with the bin's secret or one given for this check.
    let api = s.post(&format!("/api/requests/{good}/verify")).await.json();
    assert_eq!(api["checks"][0]["scheme"], "Stripe");
    assert_eq!(api["checks"][0]["valid"], true);
    assert_eq!(api["checks"][0]["secret"], "this bin's signing secret");
    let wrong = s
        .post_json(
            &format!("/api/requests/{good}/verify"),
            json!({"secret": "other"}),
        )
        .await
        .json();
    assert_eq!(wrong["checks"][0]["valid"], false);
    assert_eq!(wrong["checks"][0]["outcome"], "no_match");
}

#[tokio::test]
async fn standard_webhooks_signatures_are_checked_with_the_bin_secret() {
    let s = TestServer::start().await;
    let secret = signing::new_secret();
    let bin = s.new_bin().await;
    s.patch_json(
        &format!("/api/bins/{bin}"),
        json!({"signing_secret": secret}),
    )
    .await;
    let key = signing::secret_key(&secret).unwrap();
    let ts = chrono::Utc::now().timestamp();
    let body = br#"{"type":"payment.received"}"#;
    let sig = signing::sign(&key, "msg_abc", ts, body);
    let req = |body: &'static [u8]| {
        Req::new("POST", "")
            .header("webhook-id", "msg_abc")
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig.clone())
            .body(body)
    };
    let good = s.capture(&bin, req(body)).await;
    assert_eq!(
        verdicts(&s, &good).await,
        ["Standard Webhooks: signature valid"]
    );
    let tampered = s
        .capture(&bin, req(br#"{"type":"payment.refunded"}"#))
        .await;
    assert_eq!(
        verdicts(&s, &tampered).await,
        ["Standard Webhooks: signature not valid"]
    );
}

#[tokio::test]
async fn the_request_page_form_sets_the_secret_and_shows_the_verdict() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let body = "{}";
    let id = signed(
        &s,
        &bin,
        "x-hub-signature-256",
        github_signature("s3cret", body.as_bytes()),
        body,
    )
    .await;
    let doc = s.get(&format!("/requests/{id}")).await.html();
    assert_eq!(
        texts(&doc, "#signature h3"),
        ["GitHub: signature not valid"]
    );
    assert!(texts(&doc, "#signature p")[0].contains("No secret"));
    let r = s
        .send(Req::form(
            &format!("/bins/{bin}/secret"),
            format!("secret=s3cret&back=%2Frequests%2F{id}%23signature"),
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), format!("/requests/{id}#signature"));
    assert_eq!(verdicts(&s, &id).await, ["GitHub: signature valid"]);
    // Only local request pages are followed back to.
    let r = s
        .send(Req::form(
            &format!("/bins/{bin}/secret"),
            "secret=s3cret&back=https%3A%2F%2Fevil.example%2F",
        ))
        .await;
    assert_eq!(
        r.header("location"),
        format!("/bins/{bin}/settings?saved=secret")
    );
}
