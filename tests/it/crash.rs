//! Crashes and shutdown, with the real binary: SIGKILL loses nothing acknowledged, pending
//! deliveries go out after a restart, SIGTERM exits cleanly.

use std::sync::{Arc, Mutex};

use hyper::StatusCode;
use serde_json::json;

use crate::support::process::Hookbin;
use crate::support::receiver::Receiver;
use crate::support::{Req, eventually, send, try_send};

fn integrity(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_capture() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let h = Hookbin::start(&db, &["--max-requests", "0"]);
    let addr = h.addr;
    let bin = send(addr, Req::new("POST", "/api/bins")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let (acked, bin) = (acked.clone(), bin.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let body = format!("client {c} request {n}");
                    match try_send(
                        addr,
                        Req::new("POST", &format!("/b/{bin}")).body(body.clone()),
                    )
                    .await
                    {
                        Ok(r) if r.status == StatusCode::OK => {
                            let id = r.json()["request_id"].as_str().unwrap().to_owned();
                            acked.lock().unwrap().push((id, body));
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    eventually(20, "some acknowledged captures", || async {
        (acked.lock().unwrap().len() > 300).then_some(())
    })
    .await;
    h.kill();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(integrity(&db), "ok");

    let h = Hookbin::start(&db, &[]);
    for (id, body) in &acked {
        let r = send(h.addr, Req::new("GET", &format!("/api/requests/{id}"))).await;
        assert_eq!(r.status, StatusCode::OK, "acknowledged {id} was lost");
        assert_eq!(r.json()["body_text"], body.as_str());
    }
    let count = send(h.addr, Req::new("GET", &format!("/api/bins/{bin}")))
        .await
        .json()["request_count"]
        .as_u64()
        .unwrap();
    assert!(
        count >= acked.len() as u64,
        "{count} stored < {} acknowledged",
        acked.len()
    );
}

#[tokio::test]
async fn sigkill_keeps_pending_deliveries_and_sends_them_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.db");
    let rx = Receiver::start().await;
    rx.script(&[503; 1000]);
    // A delivery in flight at the kill stays leased for the timeout plus 5 s, then is due again.
    let flags = [
        "--timeout",
        "1s",
        "--retry-schedule",
        "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms",
    ];
    let h = Hookbin::start(&db, &flags);
    let hook =
        json!({"name": "Outbox", "url": rx.url("/"), "event": "payment_received"}).to_string();
    let created = send(h.addr, Req::new("POST", "/api/webhooks").body(hook)).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let mut ids = Vec::new();
    for _ in 0..10 {
        let fired = send(
            h.addr,
            Req::new("POST", "/api/events/payment_received").body("{}"),
        )
        .await
        .json();
        ids.push(fired["deliveries"][0]["id"].as_str().unwrap().to_owned());
    }
    // Every delivery has a failed attempt on record (and is pending) before the crash.
    for id in &ids {
        eventually(20, "a first, failed attempt", || async {
            let d = send(h.addr, Req::new("GET", &format!("/api/deliveries/{id}")))
                .await
                .json();
            let tried = !d["attempts"].as_array().unwrap().is_empty();
            (d["state"] == "pending" && tried).then_some(())
        })
        .await;
    }
    h.kill();
    assert_eq!(integrity(&db), "ok");

    rx.clear_script();
    let h = Hookbin::start(&db, &flags);
    for id in &ids {
        let d = eventually(30, "the delivery to succeed after restart", || async {
            let d = send(h.addr, Req::new("GET", &format!("/api/deliveries/{id}")))
                .await
                .json();
            (d["state"] == "succeeded").then_some(d)
        })
        .await;
        let attempts = d["attempts"].as_array().unwrap();
        assert!(attempts.len() >= 2, "{d}");
        assert_eq!(attempts[0]["status"], 503);
        assert_eq!(attempts.last().unwrap()["status"], 200);
    }
}

#[tokio::test]
async fn sigterm_finishes_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let h = Hookbin::start(&db, &[]);
    let bin = send(h.addr, Req::new("POST", "/api/bins")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = send(
        h.addr,
        Req::new("POST", &format!("/b/{bin}")).body("before stop"),
    )
    .await
    .json()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = tokio::task::spawn_blocking(move || h.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    // A clean stop folds the WAL into the database file and removes it.
    assert!(!dir.path().join("term.db-wal").exists(), "WAL left behind");
    assert_eq!(integrity(&db), "ok");
    let h = Hookbin::start(&db, &[]);
    let r = send(h.addr, Req::new("GET", &format!("/api/requests/{id}")))
        .await
        .json();
    assert_eq!(r["body_text"], "before stop");
}
