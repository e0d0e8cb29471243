//! `hookbin listen` pipelining to the local app: what the app sees when it refuses some of a
//! window's requests, or hangs up after every answer.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Listener, check, first_arrivals, received_count, reported, setup, signed};
use crate::support::eventually;
use crate::support::receiver::Receiver;

#[tokio::test]
async fn captures_the_app_refuses_mid_window_come_again_after_it_and_all_settle() {
    let (s, _dir, state) = setup("shaky").await;
    let rx = Receiver::start().await;
    for i in 0..100 {
        s.capture("shaky", signed(i)).await;
    }
    // The first three requests to arrive (captures 0, 1, 2, the head of the first window) are
    // refused; everything after is taken.
    rx.script(&[503, 503, 503]);
    let l = Listener::start(
        &s.url(""),
        "shaky",
        &rx.url("/local"),
        &state,
        &["--from", "oldest", "--pipeline", "16"],
    );
    received_count(&rx, 103, "every capture, and the three again").await;
    let got: Vec<usize> = rx.got().iter().map(check).collect();
    assert_eq!(
        first_arrivals(&got),
        (0..100).collect::<Vec<_>>(),
        "first arrivals in the bin's order"
    );
    // The window already on the wire was taken; then the refused three, in order, once each.
    assert_eq!(&got[16..19], &[0, 1, 2], "arrivals: {got:?}");
    assert_eq!(got.len(), 103, "no capture beyond the three came twice");
    // Each refused capture's log says what finally happened to it: delivered.
    let ids: Vec<String> = s.get("/api/bins/shaky/requests?limit=100").await.json()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let oldest = ids.last().unwrap();
    let relays = reported(&s, oldest).await;
    assert_eq!(relays["relays"][0]["status"], 200, "{relays}");
    let log = std::fs::read_to_string(state.with_extension("log")).unwrap();
    assert!(log.contains("answered 503; trying again"), "{log}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["last"], ids[0].as_str(), "the position is the newest");
    assert!(l.terminate().await.success());
}

/// An app that reads one request, answers it with `connection: close` and hangs up, as simple
/// servers do; the bodies it took, in order.
async fn hanging_up_app() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/local", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let taken = got.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let body = loop {
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut req = httparse::Request::new(&mut headers);
                if let Ok(httparse::Status::Complete(head)) = req.parse(&buf) {
                    let len: usize = req
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .map_or(0, |h| {
                            std::str::from_utf8(h.value).unwrap().parse().unwrap()
                        });
                    if buf.len() >= head + len {
                        break Some(buf[head..head + len].to_vec());
                    }
                }
            };
            if let Some(body) = body {
                taken.lock().unwrap().push(body);
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        }
    });
    (url, got)
}

#[tokio::test]
async fn an_app_that_hangs_up_after_each_answer_gets_each_capture_once_in_order() {
    let (s, _dir, state) = setup("plain").await;
    for i in 0..60 {
        s.capture("plain", signed(i)).await;
    }
    let (url, got) = hanging_up_app().await;
    let l = Listener::start(&s.url(""), "plain", &url, &state, &["--from", "oldest"]);
    eventually(60, "all sixty", || async {
        (got.lock().unwrap().len() >= 60).then_some(())
    })
    .await;
    assert!(l.terminate().await.success());
    let bodies = got.lock().unwrap().clone();
    let want: Vec<Vec<u8>> = (0..60).map(super::body).collect();
    let log = std::fs::read_to_string(state.with_extension("log")).unwrap();
    assert!(bodies == want, "once each, in order; log:\n{log}");
}
