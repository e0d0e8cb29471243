//! The search index on a real server: an older database gains it in the background while
//! searches stay complete, and the page and the API say how far behind it is.

use crate::support::{Req, TestServer, eventually};

/// Requests added beneath the server, so that building their index takes a while.
const OLD_ROWS: i64 = 200_000;

fn ids(page: &serde_json::Value) -> Vec<String> {
    page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_older_database_gains_its_index_in_the_background_and_searches_stay_complete() {
    if crate::support::sqlite_only("the search index is SQLite's") {
        return;
    }
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    for body in [
        "order ORD-7731 paid",
        "needle-old in a haystack",
        "nothing here",
    ] {
        s.capture(
            &bin,
            Req::new("POST", &format!("/b/{bin}/orders")).body(body),
        )
        .await;
    }
    let db = s.db.clone();
    let s = {
        let mut s = s;
        s.shutdown().await;
        // Many more requests, then the database as a hookbin without the index left it.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {OLD_ROWS})
             INSERT INTO requests (seq, bin_id, received_at, method, path, query, http_version,
                 remote_addr, headers, content_type, body_size, body, response_status)
             SELECT r.seq - n.i, r.bin_id, r.received_at, r.method, '/b/{bin}/filler', '',
                 r.http_version, r.remote_addr, r.headers, NULL, 12, CAST('filler ' || n.i AS BLOB), 200
             FROM n, (SELECT * FROM requests ORDER BY seq LIMIT 1) r;
             DROP TABLE search_blocks; DROP TABLE search_groups; DROP TABLE search_state;
             DROP TABLE rule_steps; ALTER TABLE bin_settings DROP COLUMN rules;
             ALTER TABLE requests DROP COLUMN response_rule;
             PRAGMA user_version = 5;"
        ))
        .unwrap();
        crate::migrations::deliveries_before_their_state_table(&conn);
        conn.execute_batch("DROP INDEX deliveries_by_webhook_state;")
            .unwrap();
        drop(conn);
        s.restart().await
    };

    let search = format!("/api/bins/{bin}/requests?q=NEEDLE-OLD");
    let first = s.get(&search).await.json();
    assert_eq!(ids(&first).len(), 1, "found while the index is being built");
    // The page says the index is being built while it is far behind.
    let note = eventually(20, "the page to say the index is being built", || async {
        let page = s.get(&format!("/bins/{bin}?q=ord-7731")).await.text();
        page.contains("Building the search index").then_some(page)
    })
    .await;
    assert!(note.contains("id=\"index-note\""), "{note}");
    let lag = eventually(60, "the index to catch up", || async {
        let page = s.get(&search).await.json();
        (page["index"]["pending"] == 0).then_some(page)
    })
    .await;
    assert_eq!(lag["index"]["behind_ms"], 0);
    assert_eq!(ids(&lag), ids(&first), "the same answer once indexed");
    let page = s.get(&format!("/bins/{bin}?q=ord-7731")).await.text();
    assert!(!page.contains("index-note"), "no note once caught up");
    let found = s
        .get(&format!(
            "/api/bins/{bin}/requests?q=filler%20199999&limit=5"
        ))
        .await
        .json();
    assert_eq!(ids(&found).len(), 1, "{found}");
    let none = s
        .get(&format!(
            "/api/bins/{bin}/requests?path=filler&q=zz-none-zz"
        ))
        .await
        .json();
    assert_eq!(ids(&none), Vec::<String>::new());
    let built: i64 = rusqlite::Connection::open(&s.db)
        .unwrap()
        .query_row("SELECT count(*) FROM search_groups", [], |r| r.get(0))
        .unwrap();
    assert!(built > 0, "the index was built into groups");
}
