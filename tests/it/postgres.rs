//! The PostgreSQL engine against a real server on loopback (a throwaway cluster, see
//! `support::postgres`): migrations once for nodes starting together, captures committed
//! before they are acknowledged and stored byte for byte, two nodes on one database.

use std::collections::HashSet;

use chrono::Utc;
use futures::future::join_all;
use hookbin::model::{BinId, NewCapture, RequestId};
use hookbin::store::pg::PgStore;
use hookbin::store::{StoreError, encode_headers};

use crate::support::postgres::Cluster;

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
    }
}

/// Every request of `bin`, newest first, read a page of `size` at a time.
async fn all(store: &PgStore, bin: &BinId, size: usize) -> Vec<hookbin::model::Capture> {
    let mut out = Vec::new();
    let mut before: Option<RequestId> = None;
    loop {
        let page = store.list_requests(bin, size, before).await.unwrap();
        let Some(last) = page.last() else {
            return out;
        };
        before = Some(last.id);
        out.extend(page);
    }
}

#[tokio::test]
async fn nodes_starting_together_migrate_the_schema_once() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let url = pg.fresh_database().await;
    let nodes = join_all((0..4).map(|_| PgStore::connect(&url))).await;
    assert!(nodes.iter().all(Result::is_ok), "every node starts");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query("SELECT version FROM hookbin_schema", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one version row");
    assert!(rows[0].get::<_, i64>(0) >= 1);
}

#[tokio::test]
async fn captures_are_stored_byte_for_byte_once_committed() {
    let Some(pg) = Cluster::shared().await else {
        return;
    };
    let store = PgStore::connect(&pg.fresh_database().await).await.unwrap();
    let bin = BinId::parse("team").unwrap();
    store.create_bin(&bin, Some("team")).await.unwrap();
    assert!(matches!(
        store.create_bin(&bin, None).await,
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
    let stray = store.insert_capture(capture(&missing, b"lost".to_vec()));
    let sends = bodies
        .iter()
        .map(|b| store.insert_capture(capture(&bin, b.clone())));
    let (stray, ids) = tokio::join!(stray, join_all(sends));
    assert!(matches!(stray, Err(StoreError::NotFound(_))), "{stray:?}");
    let ids: Vec<RequestId> = ids.into_iter().map(Result::unwrap).collect();
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
    let (a, b) = (
        PgStore::connect(&url).await.unwrap(),
        PgStore::connect(&url).await.unwrap(),
    );
    let bin = BinId::parse("shared").unwrap();
    a.create_bin(&bin, None).await.unwrap();
    let mut sent = HashSet::new();
    for i in 0..50 {
        let node = if i % 2 == 0 { &a } else { &b };
        sent.insert(
            node.insert_capture(capture(&bin, format!("{i}").into_bytes()))
                .await
                .unwrap(),
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
    match PgStore::connect(&url).await {
        Err(StoreError::Unreachable(msg)) => {
            assert!(msg.contains("the database is unreachable"), "{msg}")
        }
        Err(e) => panic!("not reported as unreachable: {e}"),
        Ok(_) => panic!("connected to nothing"),
    }
}
