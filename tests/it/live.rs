//! Live updates: a bin page's event stream announces each capture as it is committed.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::StatusCode;

use crate::support::{Req, TestServer, open};

#[tokio::test]
async fn a_capture_arrives_on_the_bin_event_stream() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let other = s.new_bin().await;
    let resp = open(s.addr, Req::new("GET", &format!("/bins/{bin}/events"))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    // The first frame says the stream is open, so the capture below cannot be missed.
    let hello = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&hello).contains("connected"));

    s.capture(&other, Req::new("POST", "/not-this-one")).await;
    let id = s
        .capture(&bin, Req::new("POST", "/hook?x=1").body("{}"))
        .await;

    let mut seen = String::new();
    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame = body.frame().await.expect("stream open").expect("frame");
            seen.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap()));
            if let Some(start) = seen.find("event: request\ndata: ") {
                let rest = &seen[start + 21..];
                if let Some(end) = rest.find("\n\n") {
                    return serde_json::from_str::<serde_json::Value>(&rest[..end]).unwrap();
                }
            }
        }
    })
    .await
    .expect("event within 10 s");
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["path"], format!("/b/{bin}/hook"));
    assert_eq!(event["query"], "x=1");
    assert!(
        !seen.contains("not-this-one"),
        "events of other bins leak: {seen}"
    );
}

#[tokio::test]
async fn event_streams_of_unknown_bins_are_404() {
    let s = TestServer::start().await;
    let r = s.get("/bins/nope/events").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
