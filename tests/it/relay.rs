//! Replay and forward: captures re-sent byte for byte to a local receiver, with the target's
//! answer logged beside the capture.

use hyper::StatusCode;
use serde_json::json;

use crate::support::receiver::Receiver;
use crate::support::{Req, TestServer, count, eventually, texts};

/// A body no text re-encoding could survive: NUL, invalid UTF-8 and a CR LF.
const BINARY: &[u8] = b"\x00\xff\xfe{\"sig\":1}\r\n\x80";

fn signed_capture() -> Req {
    Req::new("POST", "/orders/42?source=shop&x=1")
        .header("content-type", "application/octet-stream")
        .header("webhook-id", "msg_1")
        .header("webhook-signature", "v1,abc=")
        .header("x-dup", "one")
        .header("x-dup", "two")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "must not travel")
        .body(BINARY)
}

#[tokio::test]
async fn replay_sends_the_exact_request_and_logs_the_answer() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let bin = s.new_bin().await;
    let id = s.capture(&bin, signed_capture()).await;

    rx.script(&[418]);
    let r = s
        .post_json(
            &format!("/api/requests/{id}/replay"),
            json!({"url": rx.url("/replayed?k=v")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let relay = r.json();
    assert_eq!(relay["kind"], "replay");
    assert_eq!(
        relay["status"], 418,
        "the target's answer, even when not 2xx"
    );
    assert_eq!(relay["error"], serde_json::Value::Null);
    assert_eq!(relay["response_body_text"], "answer 418");

    let got = rx.got();
    assert_eq!(got.len(), 1);
    let g = &got[0];
    assert_eq!(g.method, "POST");
    assert_eq!(g.path, "/replayed?k=v", "the URL given, as given");
    assert_eq!(&g.body[..], BINARY, "body bytes are untouched");
    assert_eq!(g.header("webhook-signature"), Some("v1,abc="));
    assert_eq!(g.header("content-type"), Some("application/octet-stream"));
    let dups: Vec<&str> = g
        .headers
        .iter()
        .filter(|(k, _)| k == "x-dup")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(dups, ["one", "two"], "duplicates keep their order");
    assert_eq!(g.header("x-hop"), None, "named by Connection: hop-by-hop");
    assert_eq!(
        g.header("content-length"),
        Some(BINARY.len().to_string().as_str())
    );
    assert_eq!(g.header("host"), Some(rx.addr.to_string().as_str()));

    let log = s.get(&format!("/api/requests/{id}/relays")).await.json();
    assert_eq!(log["relays"].as_array().unwrap().len(), 1);
    assert_eq!(log["relays"][0]["status"], 418);

    // The page shows the replay and offers the same URL again.
    let doc = s.get(&format!("/requests/{id}")).await.html();
    assert_eq!(count(&doc, "#relays details"), 1);
    assert!(texts(&doc, "#relays summary")[0].contains("418"));
}

#[tokio::test]
async fn replay_reports_an_unreachable_target_and_refuses_bad_input() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let id = s.capture(&bin, Req::new("GET", "")).await;
    let dead = format!("{}/x", crate::support::dead_url());
    let r = s
        .post_json(&format!("/api/requests/{id}/replay"), json!({"url": dead}))
        .await
        .json();
    assert_eq!(r["status"], serde_json::Value::Null);
    assert!(
        r["error"].as_str().unwrap().contains("could not connect"),
        "{r}"
    );

    let path = format!("/api/requests/{id}/replay");
    s.post_json(&path, json!({"url": "ftp://x"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.post_json(&path, json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.post_json(
        "/api/requests/0000000000000001/replay",
        json!({"url": "http://127.0.0.1:9/"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_replay_form_replays_and_shows_the_answer() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let bin = s.new_bin().await;
    let id = s
        .capture(&bin, Req::new("PUT", "").body("form replay"))
        .await;
    let form = format!(
        "url={}",
        form_urlencoded::byte_serialize(rx.url("/f").as_bytes()).collect::<String>()
    );
    let r = s
        .send(Req::form(&format!("/requests/{id}/replay"), form))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(rx.got()[0].method, "PUT");
    assert_eq!(&rx.got()[0].body[..], b"form replay");
    let doc = s.get(&format!("/requests/{id}")).await.html();
    assert!(texts(&doc, "#relays summary")[0].contains("200"));
}

#[tokio::test]
async fn a_forwarding_bin_sends_every_capture_on_and_logs_the_answer() {
    // One forward at a time, so forwards reach the receiver in the order they were queued.
    let s = TestServer::start_with(|c| c.endpoint_concurrency = 1).await;
    let rx = Receiver::start().await;
    let bin = s.new_bin().await;
    let r = s
        .patch_json(
            &format!("/api/bins/{bin}"),
            json!({"forward_url": rx.url("/hooks?app=1")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["forward_url"], rx.url("/hooks?app=1"));

    let id = s.capture(&bin, signed_capture()).await;
    let got = eventually(10, "the forward to arrive", || async {
        rx.got().into_iter().next()
    })
    .await;
    assert_eq!(got.path, "/hooks/orders/42?app=1&source=shop&x=1");
    assert_eq!(&got.body[..], BINARY);
    assert_eq!(got.header("webhook-id"), Some("msg_1"));
    assert_eq!(got.header("x-hop"), None);

    let relays = eventually(10, "the forward to be logged", || async {
        let v = s.get(&format!("/api/requests/{id}/relays")).await.json();
        (!v["relays"].as_array().unwrap().is_empty()).then_some(v)
    })
    .await;
    assert_eq!(relays["relays"][0]["kind"], "forward");
    assert_eq!(relays["relays"][0]["status"], 200);
    assert_eq!(
        relays["relays"][0]["url"],
        rx.url("/hooks/orders/42?app=1&source=shop&x=1")
    );

    // Forwarding stops when the URL is cleared; a bin cannot forward to itself.
    s.patch_json(&format!("/api/bins/{bin}"), json!({"forward_url": null}))
        .await;
    s.capture(&bin, Req::new("POST", "").body("not forwarded"))
        .await;
    let own = s.url(&format!("/b/{bin}/x"));
    s.patch_json(&format!("/api/bins/{bin}"), json!({"forward_url": own}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    s.patch_json(&format!("/api/bins/{bin}"), json!({"forward_url": "nope"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    // Forwarding on again, one marker: once it has arrived, any forward of the capture made
    // while forwarding was off would have arrived before it.
    s.patch_json(
        &format!("/api/bins/{bin}"),
        json!({"forward_url": rx.url("/m")}),
    )
    .await;
    s.capture(&bin, Req::new("POST", "").body("marker")).await;
    let got = eventually(10, "the marker's forward", || async {
        let got = rx.got();
        got.iter().any(|r| &r.body[..] == b"marker").then_some(got)
    })
    .await;
    let bodies: Vec<&[u8]> = got.iter().map(|r| &r.body[..]).collect();
    assert_eq!(bodies, [BINARY, b"marker".as_slice()]);
}

#[tokio::test]
async fn forwarding_is_set_from_the_bin_page() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let bin = s.new_bin().await;
    let form = |body: String| Req::form(&format!("/bins/{bin}/forward"), body);
    let bad = s.send(form("url=not-a-url".into())).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let doc = bad.html();
    assert!(texts(&doc, "#url-error")[0].contains("not-a-url"));
    assert_eq!(count(&doc, "#url[aria-invalid=true]"), 1);

    let url: String = form_urlencoded::byte_serialize(rx.url("/in").as_bytes()).collect();
    let ok = s.send(form(format!("url={url}"))).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    s.capture(&bin, Req::new("POST", "").body("via page")).await;
    let got = eventually(10, "the forward", || async { rx.got().into_iter().next() }).await;
    assert_eq!(&got.body[..], b"via page");

    let stop = s.send(form("action=reset".into())).await;
    assert_eq!(stop.status, StatusCode::SEE_OTHER);
    assert_eq!(
        s.get(&format!("/api/bins/{bin}")).await.json()["forward_url"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn two_bins_forwarding_to_each_other_do_not_loop() {
    let s = TestServer::start().await;
    let a = s.new_bin().await;
    let b = s.new_bin().await;
    for (from, to) in [(&a, &b), (&b, &a)] {
        let r = s
            .patch_json(
                &format!("/api/bins/{from}"),
                json!({"forward_url": s.url(&format!("/b/{to}"))}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let first = s.capture(&a, Req::new("POST", "").body("ping")).await;
    // A's capture reaches B, carrying hookbin's Via; B logs why it does not send it back.
    let in_b = eventually(10, "the forward to reach B", || async {
        let v = s.get(&format!("/api/bins/{b}/requests")).await.json();
        v["requests"].as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(in_b["body_text"], "ping");
    let via = in_b["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "via")
        .expect("a Via header")[1]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(via.starts_with("1.1 hookbin-"), "{via}");
    let b_id = in_b["id"].as_str().unwrap();
    let unsent = eventually(10, "B's refusal to be logged", || async {
        let v = s.get(&format!("/api/requests/{b_id}/relays")).await.json();
        v["relays"].as_array().unwrap().first().cloned()
    })
    .await;
    assert!(
        unsent["error"].as_str().unwrap().contains("could loop"),
        "{unsent}"
    );
    let a_list = s.get(&format!("/api/bins/{a}/requests")).await.json();
    assert_eq!(a_list["requests"].as_array().unwrap().len(), 1);
    assert_eq!(a_list["requests"][0]["id"], first.as_str());
}

#[tokio::test]
async fn a_slow_target_cannot_make_forwards_pile_up_without_bound() {
    let s = TestServer::start_with(|c| c.max_body = 40 * 1024 * 1024).await;
    let rx = Receiver::start().await;
    rx.delay(std::time::Duration::from_secs(2));
    let bin = s.new_bin().await;
    s.patch_json(
        &format!("/api/bins/{bin}"),
        json!({"forward_url": rx.url("/slow")}),
    )
    .await;
    let big = vec![b'x'; 33 * 1024 * 1024];
    let first = s
        .capture(&bin, Req::new("POST", "").body(big.clone()))
        .await;
    // The first (33 MiB) is still with the slow target: another 33 MiB would pass the 64 MiB cap.
    let second = s.capture(&bin, Req::new("POST", "").body(big)).await;
    let logged = |id: String| {
        let s = &s;
        async move {
            eventually(20, "the forward to be logged", || async {
                let v = s.get(&format!("/api/requests/{id}/relays")).await.json();
                v["relays"].as_array().unwrap().first().cloned()
            })
            .await
        }
    };
    let refused = logged(second).await;
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("already waiting"),
        "{refused}"
    );
    assert_eq!(logged(first).await["status"], 200);
    // Once the backlog has drained, forwarding goes on.
    let third = s.capture(&bin, Req::new("POST", "").body("small")).await;
    assert_eq!(logged(third).await["status"], 200);
    assert_eq!(rx.got().len(), 2);
}

#[tokio::test]
async fn forwards_still_queued_at_shutdown_are_logged_as_not_sent() {
    // A target that takes connections and never answers: the one forward allowed in flight
    // hangs, and the rest wait in the queue when the server is stopped.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/hook", silent.local_addr().unwrap());
    let (arrived, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        // A failed accept (a peer gone before it was taken) must not drop the listener: that
        // would refuse the forward in flight and let a queued one take its slot.
        loop {
            if let Ok((c, _)) = silent.accept().await {
                open.push(c);
                let _ = arrived.send(());
            }
        }
    });
    let s = TestServer::start_with(|c| {
        c.endpoint_concurrency = 1;
        c.timeout = std::time::Duration::from_secs(60);
    })
    .await;
    let bin = s.new_bin().await;
    s.patch_json(&format!("/api/bins/{bin}"), json!({"forward_url": target}))
        .await;
    let mut ids = vec![s.capture(&bin, Req::new("POST", "/0")).await];
    // The first forward holds the one slot once the target has its connection; the next two
    // can only queue behind it.
    tokio::time::timeout(std::time::Duration::from_secs(20), arrivals.recv())
        .await
        .expect("the first forward reaches the target");
    for i in 1..3 {
        ids.push(s.capture(&bin, Req::new("POST", &format!("/{i}"))).await);
    }
    // Shutdown ends the forwarding task (the hanging forward is left after a grace period)
    // instead of leaving it running, and says what became of the queued ones.
    let s = s.restart().await;
    let mut logged = Vec::new();
    for id in &ids {
        let v = s.get(&format!("/api/requests/{id}/relays")).await.json();
        logged.push(v["relays"].clone());
    }
    let unsent = |i: usize| {
        logged[i]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["error"].as_str().unwrap_or("").contains("shutting down"))
            .count()
    };
    assert_eq!(
        (unsent(0), unsent(1), unsent(2)),
        (0, 1, 1),
        "the forward in flight is not logged as unsent, the two still queued are: {logged:?}"
    );
    held.abort();
}
