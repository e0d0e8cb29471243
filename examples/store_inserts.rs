//! The storage engines on their own, without HTTP: how many 1 KiB captures a second each one
//! commits (every one acknowledged only after its COMMIT) with 64 writers at once, and how
//! many are then stored: the engines' own cost, apart from hyper's and the load generator's.
//!
//! `cargo run --release --example store_inserts -- <sqlite file | postgres://…> [captures]`

use std::time::Instant;

use chrono::Utc;
use hookbin::model::{BinId, NewCapture};
use hookbin::store::{Store, encode_headers};

const WRITERS: usize = 64;

fn capture(bin: &BinId, i: usize) -> NewCapture {
    let body = format!("{{\"n\":{i},\"note\":\"{}\"}}", "x".repeat(1000));
    NewCapture {
        bin_id: bin.clone(),
        received_at: Utc::now(),
        method: "POST".into(),
        path: format!("/b/{bin}/orders"),
        query: String::new(),
        http_version: "HTTP/1.1",
        remote_addr: "127.0.0.1:1".into(),
        headers: encode_headers([("content-type", &b"application/json"[..])].into_iter()),
        content_type: Some("application/json".into()),
        signed: false,
        body: body.into(),
        response_status: 200,
        response_rule: None,
    }
}

/// Sends `n` captures from `WRITERS` tasks through `insert`, waiting for each; the seconds
/// it took.
async fn drive<F, Fut>(insert: F, bin: &BinId, n: usize) -> f64
where
    F: Fn(NewCapture) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per = n / WRITERS;
    let started = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (insert, bin) = (insert.clone(), bin.clone());
            tokio::spawn(async move {
                for i in 0..per {
                    insert(capture(&bin, w * per + i)).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().expect("usage: store_inserts <db> [captures]");
    let n: usize = args.next().map_or(100_000, |a| a.parse().expect("a count"));
    let bin = BinId::parse("bench").unwrap();
    let store = Store::open(std::path::Path::new(&db)).await.expect("open");
    let _ = store.create_bin(Some(bin.clone()), 0).await;
    let s = store.clone();
    let insert = move |c| {
        let s = s.clone();
        async move {
            s.insert_capture(c, 0).await.unwrap();
        }
    };
    let took = drive(insert, &bin, n).await;
    let stored = store.get_bin(&bin).await.unwrap().request_count;
    store.close().await.unwrap();
    let sent = n / WRITERS * WRITERS;
    println!(
        "{sent} captures in {took:.2} s: {:.0} captures/s acknowledged; {stored} stored",
        sent as f64 / took
    );
}
