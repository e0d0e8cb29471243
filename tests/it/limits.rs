//! A public hookbin's limits: captures and new bins per client address (429 with Retry-After,
//! each client its own budget, the address a trusted proxy saw), and a cap on the bins held.

use hookbin::model::BinId;
use hookbin::web::forwarded::parse_cidr;
use hookbin::web::limits::Rate;
use hyper::StatusCode;

use crate::support::{Req, TestServer};

fn from(ip: &str, req: Req) -> Req {
    req.header("x-forwarded-for", ip)
}

#[tokio::test]
async fn captures_over_the_rate_get_429_and_are_not_stored() {
    let s = TestServer::start_with(|c| {
        c.capture_rate = Some(Rate::parse("5/min").unwrap());
        // The test client stands in for a proxy, so each forwarded address is a client.
        c.trusted_proxies = vec![parse_cidr("127.0.0.1").unwrap()];
        c.token = Some("limits-test-token-0123456789".into());
        c.bins = vec![BinId::parse("lim").unwrap()];
    })
    .await;
    for _ in 0..5 {
        let r = s
            .send(from("198.51.100.1", Req::new("POST", "/b/lim")))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = s
        .send(from("198.51.100.1", Req::new("POST", "/b/lim").body("x")))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=13).contains(&wait), "{wait}");
    assert!(r.json()["error"].as_str().unwrap().contains("198.51.100.1"));
    // Another client has its own budget.
    let r = s
        .send(from("198.51.100.2", Req::new("POST", "/b/lim")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let bin = s
        .send(
            Req::new("GET", "/api/bins/lim")
                .header("authorization", "Bearer limits-test-token-0123456789"),
        )
        .await
        .json();
    assert_eq!(
        bin["request_count"], 6,
        "the refused capture was not stored"
    );
}

#[tokio::test]
async fn new_bins_are_limited_per_client_and_capped_in_all() {
    let s = TestServer::start_with(|c| {
        c.bin_rate = Some(Rate::parse("2/h").unwrap());
        c.max_bins = 3;
    })
    .await;
    let new = || s.post_json("/api/bins", serde_json::json!({}));
    assert_eq!(new().await.status, StatusCode::CREATED);
    assert_eq!(new().await.status, StatusCode::CREATED);
    let r = new().await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!r.header("retry-after").is_empty());
    // The page says so next to the form.
    let r = s.send(Req::form("/bins", "name=")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("too many new bins"));

    let s = TestServer::start_with(|c| c.max_bins = 2).await;
    let new = || s.post_json("/api/bins", serde_json::json!({}));
    assert_eq!(new().await.status, StatusCode::CREATED);
    assert_eq!(new().await.status, StatusCode::CREATED);
    let r = new().await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("limit of 2 bins")
    );
    assert_eq!(
        s.get("/api/bins").await.json()["bins"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
