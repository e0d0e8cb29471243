//! The PostgreSQL engine against a real server on loopback (a throwaway cluster, see
//! `support::postgres`): migrations once for nodes starting together, captures committed
//! before they are acknowledged and stored byte for byte, two nodes on one database.

use std::collections::HashSet;

use chrono::Utc;
use futures::future::join_all;
use hookbin::model::{BinId, NewCapture, RequestId};
use hookbin::store::{Filter, Store, StoreError, encode_headers};

use crate::support::postgres::Cluster;

/// One node's store on a fresh database of the shared cluster (kept running while the
/// cluster handle lives); `None` (after saying so) without PostgreSQL.
async fn one_node() -> Option<(std::sync::Arc<Cluster>, Store)> {
    let pg = Cluster::shared().await?;
    let store = open(&pg.fresh_database().await).await.unwrap();
    Some((pg, store))
}

/// A node's store on the database at `url`, through the same face `--db` uses.
async fn open(url: &str) -> Result<Store, StoreError> {
    Store::open(std::path::Path::new(url)).await
}

fn capture(bin: &BinId, body: Vec<u8>) -> NewCapture {
    let headers: [(&str, &[u8]); 3] = [
        ("content-type", b"application/octet-stream"),
        ("x-dup", b"one"),
        ("x-dup", b"\xff two"),
    ];
    NewCapture {
        bin_id: bin.clone(),
        received_at: Utc::now(),
        method: "POST".into(),
        path: format!("/b/{bin}/orders"),
        query: "a=1".into(),
        http_version: "HTTP/1.1",
        remote_addr: "127.0.0.1:9".into(),
        headers: encode_headers(headers.into_iter()),
        content_type: Some("application/octet-stream".into()),
        signed: false,
        body: body.into(),
        response_status: 202,
        response_rule: Some("accept".into()),
    }
}

/// Two nodes on the database at `url`.
async fn two_nodes(url: &str) -> (Store, Store) {
    (open(url).await.unwrap(), open(url).await.unwrap())
}

/// A plain connection to the database at `url`, to look beneath the store.
pub(crate) async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// An attempt the receiver answered with `status` and an empty body.
fn answered(status: u16) -> hookbin::model::Attempt {
    hookbin::model::Attempt {
        at: Utc::now(),
        status: Some(status),
        duration_ms: 1,
        error: None,
        request_headers: vec![],
        response_headers: vec![],
        response_body: bytes::Bytes::new(),
        response_truncated: false,
    }
}

/// Every request of `bin`, newest first, read a page of `size` at a time.
async fn all(store: &Store, bin: &BinId, size: usize) -> Vec<hookbin::model::Capture> {
    let mut out = Vec::new();
    let mut before: Option<RequestId> = None;
    loop {
        let page = store
            .list_requests(bin, size, before, None, &Filter::default())
            .await
            .unwrap();
        out.extend(page.requests);
        match page.next {
            Some(next) => before = Some(next),
            None => return out,
        }
    }
}

#[tokio::test]
async fn nodes_starting_together_migrate_the_schema_once() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let nodes = join_all((0..4).map(|_| open(&url))).await;
    assert!(nodes.iter().all(Result::is_ok), "every node starts");
    let client = raw(&url).await;
    let rows = client
        .query("SELECT version FROM hookbin_schema", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one version row");
    assert!(rows[0].get::<_, i64>(0) >= 1);
}

#[tokio::test]
async fn captures_are_stored_byte_for_byte_once_committed() {
    let Some((_pg, store)) = one_node().await else {
        return;
    };
    let bin = BinId::parse("team").unwrap();
    store.create_bin(Some(bin.clone()), 0).await.unwrap();
    assert!(matches!(
        store.create_bin(Some(bin.clone()), 0).await,
        Err(StoreError::Conflict(_))
    ));
    // Many at once, so the writer batches them; one for a bin that does not exist among them.
    let bodies: Vec<Vec<u8>> = (0..300u32)
        .map(|i| {
            let mut b = format!("order {i} ").into_bytes();
            b.extend([0, 0xff, 0xfe, (i % 256) as u8]);
            b
        })
        .collect();
    let missing = BinId::parse("nobody").unwrap();
    let stray = store.insert_capture(capture(&missing, b"lost".to_vec()), 0);
    let sends = bodies
        .iter()
        .map(|b| store.insert_capture(capture(&bin, b.clone()), 0));
    let (stray, ids) = tokio::join!(stray, join_all(sends));
    assert!(matches!(stray, Err(StoreError::NotFound(_))), "{stray:?}");
    let ids: Vec<RequestId> = ids.into_iter().map(|r| r.unwrap().1).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        300,
        "ids are unique"
    );

    let stored = all(&store, &bin, 37).await;
    assert_eq!(stored.len(), 300);
    assert!(stored.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let by_id: std::collections::HashMap<_, _> = stored.iter().map(|c| (c.id, c)).collect();
    for (id, body) in ids.iter().zip(&bodies) {
        let c = by_id[id];
        assert_eq!(&c.body[..], &body[..], "the body as sent");
        assert_eq!(c.body_size, body.len() as u64);
        assert_eq!(c.headers.len(), 3);
        assert_eq!(
            c.headers[2].value, b"\xff two",
            "duplicate headers, raw bytes"
        );
        assert_eq!((c.query.as_str(), c.response_status), ("a=1", 202));
    }
}

#[tokio::test]
async fn two_nodes_on_one_database_see_each_others_captures() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let (a, b) = two_nodes(&url).await;
    let bin = BinId::parse("shared").unwrap();
    a.create_bin(Some(bin.clone()), 0).await.unwrap();
    let mut sent = HashSet::new();
    for i in 0..50 {
        let node = if i % 2 == 0 { &a } else { &b };
        sent.insert(
            node.insert_capture(capture(&bin, format!("{i}").into_bytes()), 0)
                .await
                .unwrap()
                .1,
        );
    }
    for node in [&a, &b] {
        let seen: HashSet<RequestId> = all(node, &bin, 20).await.iter().map(|c| c.id).collect();
        assert_eq!(seen, sent, "each node lists every capture");
    }
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error() {
    let port = crate::support::free_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/none?connect_timeout=5");
    match open(&url).await {
        Err(StoreError::Unreachable(msg)) => {
            assert!(msg.contains("the database is unreachable"), "{msg}")
        }
        Err(e) => panic!("not reported as unreachable: {e}"),
        Ok(_) => panic!("connected to nothing"),
    }
}

/// Captures from a small vocabulary, so filters match some and miss others: mixed case,
/// bytes that are not UTF-8, duplicate and differing headers, several methods and paths.
fn varied(bin: &BinId, i: usize) -> NewCapture {
    const WORDS: [&[u8]; 6] = [
        b"Alpha",
        b"beta",
        b"ORD-12",
        b"\xff\xfe",
        b"zz",
        b"\xc3\x80",
    ];
    let mut c = capture(bin, [WORDS[i % 6], WORDS[(i / 6) % 6], b" end"].concat());
    c.method = ["POST", "put", "GET"][i % 3].into();
    c.path = format!("/b/{bin}/{}", ["orders", "Orders/12", "hooks"][i % 3]);
    let kind: &[u8] = [&b"Alpha"[..], b"beta", b"\xffx"][(i / 2) % 3];
    c.headers = encode_headers([("x-kind", kind), ("x-kind", b"other")].into_iter());
    c
}

#[tokio::test]
async fn filters_answer_as_they_do_on_sqlite() {
    let Some((_pg, store)) = one_node().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = Store::open(&dir.path().join("t.db")).await.unwrap();
    let bin = BinId::parse("same").unwrap();
    store.create_bin(Some(bin.clone()), 0).await.unwrap();
    lite.create_bin(Some(bin.clone()), 0).await.unwrap();
    for i in 0..72 {
        store.insert_capture(varied(&bin, i), 0).await.unwrap();
        lite.insert_capture(varied(&bin, i), 0).await.unwrap();
    }
    let mut filters = vec![Filter::default()];
    for text in ["alpha", "ORD-1", "\u{e0}", "zz", "Z", "end", "nothing"] {
        filters.push(Filter {
            text: Some(text.into()),
            ..Filter::default()
        });
    }
    for path in ["orders", "Orders", "12", "hooks/"] {
        filters.push(Filter {
            path: Some(path.into()),
            ..Filter::default()
        });
    }
    for (name, value) in [
        ("x-kind", None),
        ("X-Kind", Some("ALPHA")),
        ("x-kind", Some("oth")),
        ("x-none", None),
    ] {
        filters.push(Filter {
            header: Some((name.into(), value.map(Into::into))),
            ..Filter::default()
        });
    }
    for method in ["post", "PUT", "delete"] {
        filters.push(Filter {
            method: Some(method.into()),
            ..Filter::default()
        });
    }
    filters.push(Filter {
        text: Some("beta".into()),
        method: Some("GET".into()),
        path: Some("hooks".into()),
        ..Filter::default()
    });
    for filter in filters {
        let shape =
            |c: &hookbin::model::Capture| (c.method.clone(), c.path.clone(), c.body.clone());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut pa, mut pb) = (None, None);
        loop {
            let x = store
                .list_requests(&bin, 7, pa, None, &filter)
                .await
                .unwrap();
            let y = lite
                .list_requests(&bin, 7, pb, None, &filter)
                .await
                .unwrap();
            a.extend(x.requests.iter().map(shape));
            b.extend(y.requests.iter().map(shape));
            assert_eq!(x.next.is_some(), y.next.is_some(), "{filter:?}");
            match (x.next, y.next) {
                (Some(n), Some(m)) => (pa, pb) = (Some(n), Some(m)),
                _ => break,
            }
        }
        assert_eq!(a, b, "{filter:?}");
    }
    lite.close().await.unwrap();
}

#[tokio::test]
async fn counts_stay_right_through_captures_deletes_and_clears() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let (a, b) = two_nodes(&url).await;
    let bin = a.create_bin(None, 2).await.unwrap();
    a.create_bin(None, 2).await.unwrap();
    assert!(matches!(
        b.create_bin(None, 2).await,
        Err(StoreError::Full(_))
    ));
    let sends = (0..40).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        node.insert_capture(capture(&bin.id, vec![b'x'; i]), 0)
    });
    let ids: Vec<RequestId> = join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().1)
        .collect();
    let held = b.get_bin(&bin.id).await.unwrap();
    assert_eq!(held.request_count, 40);
    assert!(held.last_request_at.is_some());
    assert_eq!(a.delete_request(ids[3]).await.unwrap(), bin.id);
    assert!(matches!(
        a.get_request(ids[3], None).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        &b.get_request(ids[4], None).await.unwrap().body[..],
        &[b'x'; 4][..]
    );
    assert_eq!(a.get_bin(&bin.id).await.unwrap().request_count, 39);
    assert_eq!(b.clear_bin(&bin.id).await.unwrap(), 39);
    assert_eq!(a.get_bin(&bin.id).await.unwrap().request_count, 0);
    a.delete_bin(&bin.id).await.unwrap();
    assert!(matches!(
        b.get_bin(&bin.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        a.insert_capture(capture(&bin.id, b"late".to_vec()), 0)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

fn hook_fields() -> hookbin::store::WebhookFields {
    hookbin::store::WebhookFields {
        name: "orders".into(),
        url: "http://127.0.0.1:9/hook".into(),
        event: "payment_received".into(),
        active: true,
    }
}

#[tokio::test]
async fn two_nodes_claiming_at_once_take_each_delivery_once() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let (a, b) = two_nodes(&url).await;
    a.create_webhook(hook_fields(), "whsec_x".into())
        .await
        .unwrap();
    let fires = (0..1000).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        node.enqueue_event(
            "payment_received",
            bytes::Bytes::from(format!("{{\"n\":{i}}}")),
        )
    });
    let fired: HashSet<_> = join_all(fires)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap().1.into_iter().map(|(d, _)| d))
        .collect();
    assert_eq!(fired.len(), 1000);
    // Both nodes claim in a loop until nothing is due; every delivery once, in all.
    let drain = |node: Store| async move {
        let mut mine = Vec::new();
        loop {
            let got = node
                .claim_due(25, 60_000, Box::new(|_| true))
                .await
                .unwrap();
            if got.is_empty() {
                return mine;
            }
            mine.extend(got.into_iter().map(|d| d.id));
        }
    };
    let (x, y) = tokio::join!(drain(a.clone()), drain(b.clone()));
    assert!(
        !x.is_empty() && !y.is_empty(),
        "both nodes took some: {} / {}",
        x.len(),
        y.len()
    );
    let all: Vec<_> = x.iter().chain(&y).cloned().collect();
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 1000, "no delivery taken twice");
    assert_eq!(unique, fired);
}

#[tokio::test]
async fn a_lease_that_runs_out_lets_another_node_finish_the_delivery() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let (a, b) = two_nodes(&url).await;
    a.create_webhook(hook_fields(), "whsec_x".into())
        .await
        .unwrap();
    let (_, made) = a
        .enqueue_event("payment_received", bytes::Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let id = made[0].0.clone();
    // Node A takes it for 300 ms and dies before recording anything.
    let taken = a.claim_due(10, 300, Box::new(|_| true)).await.unwrap();
    assert_eq!(taken.len(), 1);
    drop(a);
    assert!(
        b.claim_due(10, 60_000, Box::new(|_| true))
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let again = crate::support::eventually(10, "the lease to run out", || async {
        let got = b.claim_due(10, 60_000, Box::new(|_| true)).await.unwrap();
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(again[0].id, id);
    let attempt = hookbin::model::Attempt {
        request_headers: vec![("webhook-id".into(), id.to_string())],
        response_body: bytes::Bytes::from_static(b"ok"),
        ..answered(200)
    };
    b.record_attempt(&id, attempt, hookbin::store::Next::Succeeded)
        .await
        .unwrap();
    let d = b.get_delivery(&id).await.unwrap();
    assert_eq!(d.state, hookbin::model::DeliveryState::Succeeded);
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(&d.attempts[0].response_body[..], b"ok");
    assert!(
        b.claim_due(10, 60_000, Box::new(|_| true))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Waits for what `heard` says next, for up to 10 s.
async fn next_heard(
    heard: &mut tokio::sync::broadcast::Receiver<hookbin::store::Heard>,
) -> hookbin::store::Heard {
    tokio::time::timeout(std::time::Duration::from_secs(10), heard.recv())
        .await
        .expect("heard within 10 s")
        .expect("still listening")
}

#[tokio::test]
async fn every_node_hears_captures_as_they_commit() {
    use hookbin::store::Heard;
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let (a, b) = two_nodes(&url).await;
    let (one, two) = (BinId::parse("one").unwrap(), BinId::parse("two").unwrap());
    for bin in [&one, &two] {
        a.create_bin(Some(bin.clone()), 0).await.unwrap();
    }
    let mut heard = b.follow().expect("PostgreSQL reports commits");
    // The listener needs a moment to connect: capture until it hears one (for up to 10 s).
    let mut tries = 0;
    loop {
        a.insert_capture(capture(&one, b"ping".to_vec()), 0)
            .await
            .unwrap();
        let wait = std::time::Duration::from_millis(200);
        if let Ok(Ok(_)) = tokio::time::timeout(wait, heard.recv()).await {
            break;
        }
        tries += 1;
        assert!(tries < 50, "the listener heard nothing in 10 s");
    }
    while heard.try_recv().is_ok() {}
    let (_, first) = a
        .insert_capture(capture(&one, b"1".to_vec()), 0)
        .await
        .unwrap();
    assert_eq!(
        next_heard(&mut heard).await,
        Heard::Committed {
            bin: one.clone(),
            oldest: first,
            newest: first
        }
    );
    let (_, second) = b
        .insert_capture(capture(&two, b"2".to_vec()), 0)
        .await
        .unwrap();
    assert_eq!(
        next_heard(&mut heard).await,
        Heard::Committed {
            bin: two.clone(),
            oldest: second,
            newest: second
        }
    );
}

#[tokio::test]
async fn captures_say_unreachable_while_the_database_is_down_and_recover_after() {
    use hookbin::store::Heard;
    let Some(mut pg) = Cluster::own().await else {
        return;
    };
    let store = open(&pg.fresh_database().await).await.unwrap();
    let bin = store.create_bin(None, 0).await.unwrap().id;
    let mut heard = store.follow().expect("PostgreSQL reports commits");
    let mut acked = Vec::new();
    for i in 0..20u8 {
        acked.push(
            store
                .insert_capture(capture(&bin, vec![i]), 0)
                .await
                .unwrap()
                .1,
        );
    }
    pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();
    match store
        .insert_capture(capture(&bin, b"down".to_vec()), 0)
        .await
    {
        Err(StoreError::Unreachable(msg)) => {
            assert!(msg.contains("the database is unreachable"), "{msg}")
        }
        other => panic!("not reported as unreachable: {other:?}"),
    }
    pg = tokio::task::spawn_blocking(move || {
        pg.start_again();
        pg
    })
    .await
    .unwrap();
    // The node recovers by itself: the pool reconnects, and so does the listener.
    let back = crate::support::eventually(20, "captures to work again", || async {
        store
            .insert_capture(capture(&bin, b"back".to_vec()), 0)
            .await
            .ok()
            .map(|(_, id)| id)
    })
    .await;
    acked.push(back);
    let stored: HashSet<RequestId> = all(&store, &bin, 50).await.iter().map(|c| c.id).collect();
    assert!(
        acked.iter().all(|id| stored.contains(id)),
        "every acknowledged capture is there"
    );
    // Then the listener, which reconnects every second, reports the gap.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, heard.recv()).await {
            Ok(Ok(Heard::Gap)) => break,
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => panic!("no gap reported within 20 s"),
        }
    }
    drop(pg);
}

#[tokio::test]
async fn nodes_capturing_into_a_capped_bin_keep_exactly_its_cap() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let (a, b) = two_nodes(&url).await;
    let bin = a.create_bin(None, 0).await.unwrap().id;
    let sends = (0..400usize).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        node.insert_capture(capture(&bin, i.to_string().into_bytes()), 50)
    });
    let ids: Vec<RequestId> = join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().1)
        .collect();
    assert_eq!(a.get_bin(&bin).await.unwrap().request_count, 50);
    let kept = all(&b, &bin, 100).await;
    assert_eq!(kept.len(), 50, "exactly the cap is stored");
    // The newest 50 row keys are the ones kept.
    let mut newest: Vec<RequestId> = ids.clone();
    newest.sort();
    let newest: HashSet<RequestId> = newest.into_iter().rev().take(50).collect();
    assert_eq!(kept.iter().map(|c| c.id).collect::<HashSet<_>>(), newest);
}

#[tokio::test]
async fn stepping_and_picking_requests_answer_as_on_sqlite() {
    let Some((_pg, store)) = one_node().await else {
        return;
    };
    let bin = store.create_bin(None, 0).await.unwrap().id;
    let mut ids = Vec::new();
    for i in 0..5u8 {
        ids.push(
            store
                .insert_capture(capture(&bin, vec![i]), 0)
                .await
                .unwrap()
                .1,
        );
    }
    let after = store.oldest_after(&bin, ids[1], 1, u64::MAX).await.unwrap();
    assert_eq!((after[0].id, &after[0].body[..]), (ids[2], &[2u8][..]));
    let batch = store
        .oldest_after(&bin, ids[0], 10, u64::MAX)
        .await
        .unwrap();
    assert_eq!(batch.iter().map(|c| c.id).collect::<Vec<_>>(), ids[1..]);
    // Bodies of one byte each: the batch stops once two bytes are in it.
    let bounded = store.oldest_after(&bin, ids[0], 10, 2).await.unwrap();
    assert_eq!(bounded.iter().map(|c| c.id).collect::<Vec<_>>(), ids[1..3]);
    assert!(
        store
            .oldest_after(&bin, ids[4], 10, 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.neighbours(&bin, ids[2]).await.unwrap(),
        (Some(ids[3]), Some(ids[1]))
    );
    assert_eq!(
        store.neighbours(&bin, ids[0]).await.unwrap(),
        (Some(ids[1]), None)
    );
    store.delete_request(ids[3]).await.unwrap();
    let picked = store
        .get_requests(vec![ids[4], ids[3], ids[0]])
        .await
        .unwrap();
    let got: Vec<RequestId> = picked.iter().map(|c| c.id).collect();
    assert_eq!(
        got,
        vec![ids[4], ids[0]],
        "in the order asked, the deleted one left out"
    );
}

#[tokio::test]
async fn nodes_sweeping_idle_bins_at_once_delete_each_once() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let (a, b) = two_nodes(&url).await;
    let idle = a.create_bin(None, 0).await.unwrap().id;
    let busy = a.create_bin(None, 0).await.unwrap().id;
    let fresh = a.create_bin(None, 0).await.unwrap().id;
    let client = raw(&url).await;
    // Two bins made two days ago; one of them caught a request just now.
    client
        .execute(
            "UPDATE bins SET created_at = now() - interval '2 days' WHERE id = ANY($1)",
            &[&vec![idle.as_str(), busy.as_str()]],
        )
        .await
        .unwrap();
    a.insert_capture(capture(&busy, b"now".to_vec()), 0)
        .await
        .unwrap();
    let day = std::time::Duration::from_secs(86_400);
    let (x, y) = tokio::join!(
        a.expire_bins(day, Utc::now()),
        b.expire_bins(day, Utc::now())
    );
    assert_eq!(x.unwrap() + y.unwrap(), 1, "the idle bin, once");
    assert!(matches!(
        a.get_bin(&idle).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(a.get_bin(&busy).await.is_ok() && a.get_bin(&fresh).await.is_ok());
}

#[tokio::test]
async fn settings_and_relays_are_kept_per_bin_and_request() {
    use hookbin::model::{BinResponse, BinSettings, Relay, RelayKind};
    let Some((_pg, store)) = one_node().await else {
        return;
    };
    let bin = store.create_bin(None, 0).await.unwrap().id;
    assert_eq!(
        *store.bin_settings(&bin).await.unwrap(),
        BinSettings::default()
    );
    let settings = BinSettings {
        response: Some(BinResponse {
            status: 418,
            headers: vec![("x-a".into(), "1".into()), ("x-a".into(), "2".into())],
            body: bytes::Bytes::from_static(b"\xffteapot"),
            delay_ms: 250,
        }),
        rules: std::sync::Arc::new(
            serde_json::from_value(serde_json::json!([
                {"name": "paid", "when": {"path": "/orders/*"}, "answers": [{"status": 500}, {"status": 200}]}
            ]))
            .unwrap(),
        ),
        forward_url: Some("http://127.0.0.1:9/in".into()),
        signing_secret: Some("whsec_abc".into()),
    };
    store
        .set_bin_settings(&bin, settings.clone())
        .await
        .unwrap();
    assert_eq!(*store.bin_settings(&bin).await.unwrap(), settings);
    store
        .set_bin_settings(&bin, BinSettings::default())
        .await
        .unwrap();
    assert_eq!(
        *store.bin_settings(&bin).await.unwrap(),
        BinSettings::default()
    );
    let nobody = BinId::parse("nobody").unwrap();
    assert!(matches!(
        store.set_bin_settings(&nobody, settings).await,
        Err(StoreError::NotFound(_))
    ));

    let (_, id) = store
        .insert_capture(capture(&bin, b"x".to_vec()), 0)
        .await
        .unwrap();
    let relay = |kind, status| Relay {
        request_id: id,
        kind,
        url: "http://127.0.0.1:9/in".into(),
        at: Utc::now(),
        status,
        duration_ms: 7,
        error: status.is_none().then(|| "connection refused".into()),
        response_headers: vec![("server".into(), "x".into())],
        response_body: bytes::Bytes::from_static(b"ok"),
        response_truncated: false,
    };
    store
        .record_relay(relay(RelayKind::Forward, Some(202)))
        .await
        .unwrap();
    store
        .record_relay(relay(RelayKind::Replay, None))
        .await
        .unwrap();
    let log = store.relays(id).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].kind, log[0].status),
        (RelayKind::Replay, None),
        "newest first"
    );
    assert_eq!(log[1].status, Some(202));
    store.delete_request(id).await.unwrap();
    assert!(matches!(
        store.record_relay(relay(RelayKind::Replay, None)).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn webhooks_page_change_and_count_their_deliveries() {
    let Some((_pg, store)) = one_node().await else {
        return;
    };
    let mut made = Vec::new();
    for name in ["Orders", "refunds", "sites"] {
        let f = hookbin::store::WebhookFields {
            name: name.into(),
            ..hook_fields()
        };
        made.push(store.create_webhook(f, "whsec_1".into()).await.unwrap());
        crate::support::next_millisecond().await;
    }
    let (first, next) = store.list_webhooks_page(None, None, 2).await.unwrap();
    let names: Vec<&str> = first.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["sites", "refunds"], "newest first");
    let (rest, end) = store.list_webhooks_page(None, next, 2).await.unwrap();
    assert_eq!(
        (rest.len(), rest[0].name.as_str(), end),
        (1, "Orders", None)
    );
    let (found, _) = store
        .list_webhooks_page(Some("ORDER".into()), None, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "search ignores case");

    let id = made[0].id.clone();
    let patch = hookbin::store::WebhookPatch {
        name: Some("orders v2".into()),
        ..Default::default()
    };
    let changed = store.update_webhook(&id, patch).await.unwrap();
    assert_eq!(
        (changed.name.as_str(), changed.url.as_str()),
        ("orders v2", "http://127.0.0.1:9/hook")
    );
    let rotated = store.rotate_secret(&id, "whsec_2".into()).await.unwrap();
    assert_eq!(rotated.secret, "whsec_2");

    // All three are on the event: one delivery each; one attempt recorded on the first.
    store
        .enqueue_event("payment_received", bytes::Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let due = store
        .claim_due(10, 60_000, Box::new(|_| true))
        .await
        .unwrap();
    let mine = due.iter().find(|d| d.webhook_id == id).unwrap();
    let attempt = answered(200);
    store
        .record_attempt(&mine.id, attempt, hookbin::store::Next::Succeeded)
        .await
        .unwrap();
    let stats = store.get_webhook(&id).await.unwrap().stats;
    assert_eq!(
        (
            stats.total,
            stats.succeeded,
            stats.pending,
            stats.last_status
        ),
        (1, 1, 0, Some(200))
    );
    store.delete_webhook(&id).await.unwrap();
    assert!(matches!(
        store.get_webhook(&id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.get_delivery(&mine.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_webhook(&id).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn deliveries_page_resend_count_and_prune() {
    use hookbin::model::DeliveryState;
    let Some((_pg, store)) = one_node().await else {
        return;
    };
    let hook = store
        .create_webhook(hook_fields(), "whsec_1".into())
        .await
        .unwrap();
    assert_eq!(store.next_due().await.unwrap(), None);
    let mut fired = Vec::new();
    for i in 0..5 {
        let (_, made) = store
            .enqueue_event("payment_received", bytes::Bytes::from(format!("{i}")))
            .await
            .unwrap();
        fired.push(made[0].0.clone());
    }
    assert!(store.next_due().await.unwrap().is_some());
    let test = store
        .create_test_delivery(
            &hook.id,
            "payment_received",
            bytes::Bytes::from_static(b"t"),
        )
        .await
        .unwrap();
    assert!(store.get_delivery(&test).await.unwrap().is_test);
    let taken = store.claim_these(vec![test.clone()], 60_000).await.unwrap();
    assert_eq!((taken.len(), &taken[0].payload[..]), (1, &b"t"[..]));
    // Newest first, two at a time: the test send, then the five fired, newest first.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let (page, next) = store.list_deliveries(&hook.id, 2, before).await.unwrap();
        seen.extend(page.into_iter().map(|d| d.id));
        match next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    let mut expected = vec![test.clone()];
    expected.extend(fired.iter().rev().cloned());
    assert_eq!(seen, expected);

    let again = store.redeliver(&fired[0]).await.unwrap();
    assert_eq!(again.redelivery_of.as_ref(), Some(&fired[0]));
    assert_eq!(&again.payload[..], b"0");
    // Finish every fired one; only finished deliveries older than the cutoff are pruned.
    let due = store
        .claim_due(50, 60_000, Box::new(|_| true))
        .await
        .unwrap();
    assert_eq!(
        due.len(),
        6,
        "five fired and the re-delivery; never the test send"
    );
    for d in &due {
        let attempt = answered(500);
        store
            .record_attempt(&d.id, attempt, hookbin::store::Next::Failed)
            .await
            .unwrap();
    }
    let states = store.delivery_states().await.unwrap();
    let count = |s: DeliveryState| {
        states
            .iter()
            .find(|(n, _)| n == s.as_str())
            .map_or(0, |x| x.1)
    };
    assert_eq!(
        (count(DeliveryState::Failed), count(DeliveryState::Pending)),
        (6, 1)
    );
    let week = std::time::Duration::from_secs(7 * 86_400);
    assert_eq!(
        store.prune_deliveries(week, Utc::now()).await.unwrap(),
        0,
        "too young"
    );
    let later = Utc::now() + chrono::Duration::days(8);
    assert_eq!(store.prune_deliveries(week, later).await.unwrap(), 6);
    assert!(
        store.get_delivery(&test).await.is_ok(),
        "a pending one is kept"
    );
}

#[tokio::test]
async fn bins_page_by_activity_or_creation_and_search_by_id() {
    use hookbin::store::{BinOrder, BinQuery};
    let Some((_pg, store)) = one_node().await else {
        return;
    };
    let mut ids = Vec::new();
    for name in ["alpha-1", "beta-2", "alpha-3"] {
        let id = BinId::parse(name).unwrap();
        store.create_bin(Some(id.clone()), 0).await.unwrap();
        ids.push(id);
        crate::support::next_millisecond().await;
    }
    // The oldest bin catches a request: it leads by activity, not by creation.
    store
        .insert_capture(capture(&ids[0], b"hi".to_vec()), 0)
        .await
        .unwrap();
    let walk = |order| {
        let store = store.clone();
        async move {
            let mut out = Vec::new();
            let mut after = None;
            loop {
                let q = BinQuery {
                    q: None,
                    order,
                    after,
                    limit: 2,
                };
                let page = store.list_bins_page(q).await.unwrap();
                assert_eq!(page.matched, 3);
                out.extend(page.bins.into_iter().map(|b| b.id.to_string()));
                match page.next {
                    Some(n) => after = BinQuery::cursor(&n),
                    None => return out,
                }
            }
        }
    };
    assert_eq!(
        walk(BinOrder::Activity).await,
        ["alpha-1", "alpha-3", "beta-2"]
    );
    assert_eq!(
        walk(BinOrder::Created).await,
        ["alpha-3", "beta-2", "alpha-1"]
    );
    let q = BinQuery {
        q: Some("ALPHA".into()),
        order: BinOrder::Created,
        after: None,
        limit: 10,
    };
    let found = store.list_bins_page(q).await.unwrap();
    assert_eq!(found.matched, 2);
    assert_eq!(found.bins[0].request_count, 0);
    assert_eq!(found.bins[1].request_count, 1);
}

#[tokio::test]
async fn a_bin_deleted_while_nodes_capture_into_it_leaves_no_requests_behind() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let (a, b) = two_nodes(&url).await;
    let bin = a.create_bin(None, 0).await.unwrap().id;
    // The delete starts once a first capture is stored, with the rest still on their way.
    let first_stored = tokio::sync::Notify::new();
    let signal = &first_stored;
    let sends = join_all((0..600usize).map(|i| {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        let bin = bin.clone();
        async move {
            let result = node.insert_capture(capture(&bin, vec![1; 100]), 0).await;
            if result.is_ok() {
                signal.notify_one();
            }
            result
        }
    }));
    let delete = async {
        first_stored.notified().await;
        a.delete_bin(&bin).await
    };
    let (results, deleted) = tokio::join!(sends, delete);
    deleted.unwrap();
    let stored = results.iter().filter(|r| r.is_ok()).count();
    eprintln!("{stored} of 600 stored before the bin went");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(StoreError::NotFound(_)))),
        "each capture is stored or told its bin is gone"
    );
    let client = raw(&url).await;
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM requests WHERE bin_id = $1",
            &[&bin.as_str()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "no request outlives its bin");
}

#[tokio::test]
async fn deleting_a_bin_waits_for_a_batch_that_is_counting_into_it() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let store = open(&url).await.unwrap();
    let bin = store.create_bin(None, 0).await.unwrap().id;
    // A writer's batch, held open: its row is in, and it holds the bin's row (as a writer's
    // count update does) when the delete starts.
    let mut client = raw(&url).await;
    let tx = client.transaction().await.unwrap();
    tx.batch_execute(&format!(
        "INSERT INTO requests (seq, bin_id, received_at, method, path, query, http_version,
             remote_addr, headers, body_size, body, response_status)
         VALUES (1, '{bin}', now(), 'POST', '/b/{bin}', '', 'HTTP/1.1', '127.0.0.1:1', '', 0, '', 200);
         UPDATE bins SET request_count = request_count + 1 WHERE id = '{bin}';"
    ))
    .await
    .unwrap();
    let delete = tokio::spawn({
        let (store, bin) = (store.clone(), bin.clone());
        async move { store.delete_bin(&bin).await }
    });
    // The delete is seen waiting on a lock (PostgreSQL's own view of it), not just slow.
    let watcher = raw(&url).await;
    crate::support::eventually(10, "the delete to wait on the batch's lock", || async {
        let waiting: i64 = watcher
            .query_one("SELECT count(*) FROM pg_locks WHERE NOT granted", &[])
            .await
            .unwrap()
            .get(0);
        (waiting > 0).then_some(())
    })
    .await;
    assert!(!delete.is_finished(), "the delete waits for the batch");
    tx.commit().await.unwrap();
    delete.await.unwrap().unwrap();
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM requests WHERE bin_id = $1",
            &[&bin.as_str()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the batch's request went with its bin");
}

#[tokio::test]
async fn a_sequence_advances_once_per_request_whichever_node_takes_it() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let (a, b) = two_nodes(&url).await;
    let bin = BinId::parse("ruled").unwrap();
    a.create_bin(Some(bin.clone()), 0).await.unwrap();
    // Both nodes count matches of one rule at once: every count is handed out exactly once.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        let bin = bin.clone();
        tasks.push(tokio::spawn(async move {
            node.rule_step(&bin, "fail twice").await.unwrap()
        }));
    }
    let mut steps = Vec::new();
    for t in tasks {
        steps.push(t.await.unwrap());
    }
    steps.sort_unstable();
    assert_eq!(steps, (0..40).collect::<Vec<u64>>());
    assert_eq!(
        b.rule_steps(&bin).await.unwrap(),
        [("fail twice".to_owned(), 40)]
    );
    a.reset_rule_steps(&bin, None).await.unwrap();
    assert_eq!(
        b.rule_step(&bin, "fail twice").await.unwrap(),
        0,
        "reset on one node is seen by all"
    );
}
