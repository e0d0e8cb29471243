//! A team instance through HTTP: hookbin nodes sharing one PostgreSQL database (a throwaway
//! cluster, see `support::postgres`), as they run behind a load balancer. The real binary
//! stands in for a node that is SIGKILLed.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::StatusCode;
use serde_json::json;

use crate::support::postgres::Cluster;
use crate::support::process::{Hookbin, Tail, command, printed_ids};
use crate::support::receiver::Receiver;
use crate::support::{Req, TestServer, eventually, open, send};

/// Two in-process nodes on one fresh database; `None` (after saying so) without PostgreSQL.
async fn two_nodes(tune: fn(&mut hookbin::config::Config)) -> Option<(TestServer, TestServer)> {
    let pg = Cluster::shared().await?;
    let url = pg.fresh_database().await;
    let a = TestServer::on_database(&url, Some(pg.clone()), tune).await;
    let b = TestServer::on_database(&url, Some(pg), tune).await;
    Some((a, b))
}

/// Reads `request` events from an SSE body until `want` distinct ids have arrived (10 s at
/// most); every id in arrival order, repeats included.
async fn events(body: &mut hyper::body::Incoming, want: usize) -> Vec<String> {
    let mut seen = String::new();
    let mut ids = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while ids.iter().collect::<HashSet<_>>().len() < want {
            let frame = body.frame().await.expect("stream open").expect("frame");
            seen.push_str(&String::from_utf8_lossy(
                &frame.into_data().unwrap_or_default(),
            ));
            while let Some(start) = seen.find("event: request\ndata: ") {
                let Some(end) = seen[start..].find("\n\n") else {
                    break;
                };
                let data = &seen[start + 21..start + end];
                let event: serde_json::Value = serde_json::from_str(data).unwrap();
                ids.push(event["id"].as_str().unwrap().to_owned());
                seen.drain(..start + end + 2);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{want} events within 10 s; got {ids:?}"));
    ids
}

#[tokio::test]
async fn a_bin_page_and_tail_on_one_node_show_what_both_nodes_caught() {
    let Some((a, b)) = two_nodes(|_| {}).await else {
        return;
    };
    let bin = a.new_bin().await;
    let stream = open(a.addr, Req::new("GET", &format!("/bins/{bin}/events"))).await;
    assert_eq!(stream.status(), StatusCode::OK);
    let mut body = stream.into_body();
    let hello = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&hello).contains("connected"));
    let mut tail = command();
    tail.args(["tail", &bin, "-n", "0", "--max", "20", "--json"])
        .args(["--server", &a.url("")]);
    let mut tail = Tail::spawn(tail);
    tail.following().await;

    let mut sent = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        let req = Req::new("POST", &format!("/n{i}")).body(format!("capture {i}"));
        sent.push(node.capture(&bin, req).await);
    }
    let sent_set: HashSet<&String> = sent.iter().collect();

    let live = events(&mut body, 20).await;
    assert_eq!(live.len(), 20, "each capture announced once: {live:?}");
    assert_eq!(live.iter().collect::<HashSet<_>>(), sent_set);

    let out = tail.finish(60).await;
    let tailed = printed_ids(&out);
    assert_eq!(tailed.len(), 20, "none repeated: {tailed:?}");
    assert_eq!(tailed.iter().collect::<HashSet<_>>(), sent_set);

    // The page itself lists every capture, whichever node took it.
    let page = a.get(&format!("/bins/{bin}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    for id in &sent {
        assert!(
            html.contains(id.as_str()),
            "{id} missing from node A's page"
        );
    }
}

#[tokio::test]
async fn tail_misses_nothing_while_both_nodes_capture_into_the_bin_at_once() {
    let Some((a, b)) = two_nodes(|_| {}).await else {
        return;
    };
    let bin = a.new_bin().await;
    const N: usize = 240;
    let mut tail = command();
    tail.args(["tail", &bin, "-n", "0", "--max", &N.to_string(), "--json"])
        .args(["--server", &a.url("")]);
    let mut tail = Tail::spawn(tail);
    tail.following().await;
    // 12 senders at once, half to each node: the nodes' batches commit out of id order.
    let senders: Vec<_> = (0..12)
        .map(|w| {
            let (addr, path) = (
                if w % 2 == 0 { a.addr } else { b.addr },
                format!("/b/{bin}/w{w}"),
            );
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..N / 12 {
                    let r = send(addr, Req::new("POST", &path).body(format!("{w}/{i}"))).await;
                    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
                    ids.push(r.json()["request_id"].as_str().unwrap().to_owned());
                }
                ids
            })
        })
        .collect();
    let mut sent = HashSet::new();
    for s in senders {
        sent.extend(s.await.unwrap());
    }
    let out = tail.finish(60).await;
    let tailed = printed_ids(&out);
    assert_eq!(
        tailed.iter().collect::<HashSet<_>>().len(),
        N,
        "none repeated"
    );
    assert_eq!(
        tailed.into_iter().collect::<HashSet<_>>(),
        sent,
        "none skipped"
    );
}

#[tokio::test]
async fn wait_hands_out_a_capture_only_once_no_earlier_one_can_still_commit() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let a = TestServer::on_database(&url, Some(pg), |_| {}).await;
    let bin = a.new_bin().await;
    // A slow node's writer, by hand: its transaction begins (hookbin's connections carry the
    // name "hookbin") and takes its row key from the clock ...
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.application_name("hookbin");
    let (mut slow, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let tx = slow.transaction().await.unwrap();
    let early: i64 = tx
        .query_one(
            "SELECT (floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint << 16) | 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    crate::support::next_millisecond().await;
    // ... meanwhile node A takes a capture, with a later id, and commits it.
    let later = a.capture(&bin, Req::new("POST", "/later")).await;
    let path = format!("/api/bins/{bin}/wait?after=0000000000000000&timeout=20s");
    let addr = a.addr;
    let mut waiting = tokio::spawn(async move { send(addr, Req::new("GET", &path)).await });
    // The wait does not answer with the later capture while the earlier one may still come
    // (a window of 300 ms to show that it holds; the answer itself is awaited below).
    let held = tokio::time::timeout(Duration::from_millis(300), &mut waiting).await;
    assert!(
        held.is_err(),
        "answered while an earlier capture could still commit"
    );
    tx.execute(
        "INSERT INTO requests (seq, bin_id, received_at, method, path, query, http_version,
             remote_addr, headers, content_type, body_size, body, response_status)
         VALUES ($1, $2, now(), 'POST', '/early', '', 'HTTP/1.1', '127.0.0.1:1', ''::bytea,
             NULL, 0, ''::bytea, 200)",
        &[&early, &bin],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let answer = waiting.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let first = answer.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(first, format!("{early:016x}"), "the earlier capture first");
    assert_ne!(first, later);
}

#[tokio::test]
async fn a_node_whose_listener_was_cut_off_shows_what_it_missed_once_back() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let a = TestServer::on_database(&url, Some(pg.clone()), |_| {}).await;
    let b = TestServer::on_database(&url, Some(pg), |_| {}).await;
    let bin = a.new_bin().await;
    let stream = open(a.addr, Req::new("GET", &format!("/bins/{bin}/events"))).await;
    let mut body = stream.into_body();
    body.frame().await.unwrap().unwrap();
    let first = b.capture(&bin, Req::new("POST", "/before")).await;
    assert_eq!(events(&mut body, 1).await, [first]);
    // Every node's listening connection is cut (as a restarting proxy or a DBA would): the
    // notification of the next capture reaches nobody, and the listeners come back a second
    // later, reporting the gap.
    let admin = crate::postgres::raw(&url).await;
    let cut = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE query LIKE 'LISTEN hookbin_captures%' AND datname = current_database()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(cut.len(), 2, "both nodes listen");
    let missed = b.capture(&bin, Req::new("POST", "/during")).await;
    // Only the missed one: what the page had already is not announced again.
    assert_eq!(events(&mut body, 1).await, [missed]);
}

#[tokio::test]
async fn a_thousand_deliveries_fired_through_two_nodes_are_each_delivered_once() {
    let Some((a, b)) = two_nodes(|c| c.endpoint_concurrency = 32).await else {
        return;
    };
    let rx = Receiver::start().await;
    a.new_webhook("Team", &rx.url("/"), "payment_received")
        .await;
    let mut ids = Vec::new();
    for i in 0..1000 {
        let node = if i % 2 == 0 { &a } else { &b };
        let fired = node
            .send(Req::new("POST", "/api/events/payment_received").body("{}"))
            .await;
        assert_eq!(fired.status, StatusCode::ACCEPTED, "{}", fired.text());
        ids.push(
            fired.json()["deliveries"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Every delivery is recorded as succeeded (so none can be claimed again) ...
    for (i, id) in ids.iter().enumerate() {
        let node = if i % 2 == 0 { &b } else { &a };
        eventually(60, "the delivery to succeed", || async {
            let d = node.get(&format!("/api/deliveries/{id}")).await.json();
            (d["state"] == "succeeded").then_some(())
        })
        .await;
    }
    // ... and the endpoint got each exactly once.
    let got = rx.got();
    let delivered: Vec<&str> = got.iter().filter_map(|r| r.header("webhook-id")).collect();
    assert_eq!(delivered.len(), 1000, "sent more than once");
    let distinct: HashSet<&str> = delivered.iter().copied().collect();
    assert_eq!(distinct.len(), 1000);
}

#[tokio::test]
async fn a_node_killed_mid_delivery_leaves_it_to_the_other_after_the_lease() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let rx = Receiver::start().await;
    // The endpoint holds the first send open, so node A dies in the middle of it.
    rx.delay(Duration::from_secs(60));
    let timeout = 3;
    let lease = Duration::from_secs(timeout) + hookbin::sender::LEASE_MARGIN;
    let a = Hookbin::start(Path::new(&url), &["--timeout", &format!("{timeout}s")]);
    let hook = json!({"name": "Team", "url": rx.url("/"), "event": "payment_received"});
    let made = send(
        a.addr,
        Req::new("POST", "/api/webhooks").body(hook.to_string()),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let fired = send(
        a.addr,
        Req::new("POST", "/api/events/payment_received").body("{}"),
    )
    .await;
    assert_eq!(fired.status, StatusCode::ACCEPTED);
    let id = fired.json()["deliveries"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(10, "node A to start sending", || async {
        (!rx.got().is_empty()).then_some(())
    })
    .await;
    let first_sent = Instant::now();
    a.kill();
    rx.delay(Duration::ZERO);

    let b = TestServer::on_database(&url, Some(pg), |_| {}).await;
    let d = eventually(30, "node B to finish the delivery", || async {
        let d = b.get(&format!("/api/deliveries/{id}")).await.json();
        (d["state"] == "succeeded").then_some(d)
    })
    .await;
    assert!(
        first_sent.elapsed() + Duration::from_secs(1) >= lease,
        "taken over before the lease ran out"
    );
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "node A never recorded its attempt: {d}");
    assert_eq!(attempts[0]["status"], 200);
    // At least once: the endpoint saw the same delivery id twice.
    let got = rx.got();
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == Some(id.as_str()))
    );
}

#[tokio::test]
async fn captures_acknowledged_while_postgresql_stops_and_starts_are_all_kept() {
    let Some(mut pg) = Cluster::own().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let node = TestServer::on_database(&url, None, |_| {}).await;
    let bin = node.new_bin().await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let refused = Arc::new(std::sync::Mutex::new(Vec::new()));
    let load: Vec<_> = (0..8)
        .map(|w| {
            let (stop, acked, refused) = (stop.clone(), acked.clone(), refused.clone());
            let (addr, path) = (node.addr, format!("/b/{bin}/w{w}"));
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let req = Req::new("POST", &path).body(format!("{w}/{i}"));
                    let Ok(r) = crate::support::try_send(addr, req).await else {
                        continue;
                    };
                    match r.status {
                        StatusCode::OK => acked
                            .lock()
                            .unwrap()
                            .push(r.json()["request_id"].as_str().unwrap().to_owned()),
                        status => refused.lock().unwrap().push((status, r.text())),
                    }
                }
            })
        })
        .collect();
    let count = |v: &Arc<std::sync::Mutex<Vec<String>>>| v.lock().unwrap().len();
    eventually(20, "captures under load", || async {
        (count(&acked) > 200).then_some(())
    })
    .await;
    pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();
    eventually(
        20,
        "a capture refused while the database is down",
        || async { (!refused.lock().unwrap().is_empty()).then_some(()) },
    )
    .await;
    pg = tokio::task::spawn_blocking(move || {
        pg.start_again();
        pg
    })
    .await
    .unwrap();
    let before = count(&acked);
    eventually(30, "captures to be acknowledged again", || async {
        (count(&acked) > before + 200).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    for (status, text) in refused.lock().unwrap().iter() {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
        assert!(text.contains("unreachable"), "{text}");
    }
    let acked = acked.lock().unwrap().clone();
    let mut stored = HashSet::new();
    let mut before: Option<String> = None;
    loop {
        let q = before
            .as_ref()
            .map_or(String::new(), |b| format!("&before={b}"));
        let page = node
            .get(&format!("/api/bins/{bin}/requests?limit=1000{q}"))
            .await
            .json();
        for r in page["requests"].as_array().unwrap() {
            stored.insert(r["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
    }
    let missing: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged captures missing",
        missing.len()
    );
    drop(pg);
}

#[tokio::test]
async fn the_cli_works_on_the_shared_database_and_says_when_it_cannot_reach_it() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let node = TestServer::on_database(&url, Some(pg), |_| {}).await;
    let run = |args: Vec<String>| async move {
        let mut cmd = command();
        cmd.args(&args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    };
    let added = run(["--db", &url, "webhooks", "add", "--name", "From the CLI"]
        .into_iter()
        .chain([
            "--url",
            "http://127.0.0.1:9/in",
            "--event",
            "payment_received",
        ])
        .map(str::to_owned)
        .collect())
    .await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    // A node sees what the CLI wrote, and the CLI what the node holds.
    let hooks = node.get("/api/webhooks").await.json();
    assert_eq!(hooks["webhooks"][0]["name"], "From the CLI");
    let listed = run(vec![
        "--db".into(),
        url.clone(),
        "webhooks".into(),
        "list".into(),
    ])
    .await;
    assert!(String::from_utf8_lossy(&listed.stdout).contains("From the CLI"));

    let nowhere = format!(
        "postgres://team:s3cret@{}/hookbin",
        crate::support::dead_url()[7..].to_owned()
    );
    let failed = run(vec![
        "--db".into(),
        nowhere,
        "webhooks".into(),
        "list".into(),
    ])
    .await;
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("the database is unreachable"), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    assert!(!err.contains("s3cret"), "the password is printed: {err}");
}
