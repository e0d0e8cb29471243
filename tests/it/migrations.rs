//! A database written by an older hookbin opens in this one with nothing lost: each schema
//! change that moves data is checked by taking a database back to the shape before it.

use serde_json::json;

use crate::support::{TestServer, dead_url, eventually};

/// The webhooks as the API shows them (with their delivery counts and last attempt).
async fn webhooks(s: &TestServer, hooks: &[&serde_json::Value]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for hook in hooks {
        let path = format!("/api/webhooks/{}", hook["id"].as_str().unwrap());
        out.push(s.get(&path).await.json());
    }
    out
}

/// Takes a database back to how hookbin kept deliveries before `delivery_state` (migration 9):
/// state, attempts made and the next due time on the delivery's own row.
pub fn deliveries_before_their_state_table(conn: &rusqlite::Connection) {
    conn.execute_batch(
        "ALTER TABLE deliveries ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
         ALTER TABLE deliveries ADD COLUMN attempt_count INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE deliveries ADD COLUMN next_attempt_ms INTEGER;
         UPDATE deliveries SET
             state = (SELECT s.state FROM delivery_state s WHERE s.seq = deliveries.seq),
             attempt_count = (SELECT s.attempt_count FROM delivery_state s WHERE s.seq = deliveries.seq),
             next_attempt_ms = (SELECT s.next_attempt_ms FROM delivery_state s WHERE s.seq = deliveries.seq);
         DROP TABLE delivery_state;
         CREATE INDEX deliveries_due ON deliveries(next_attempt_ms) WHERE state = 'pending';
         CREATE INDEX deliveries_due_by_webhook ON deliveries(webhook_id, next_attempt_ms)
             WHERE state = 'pending';
         CREATE INDEX deliveries_by_webhook_state ON deliveries(webhook_id, state);",
    )
    .unwrap();
}

#[tokio::test]
async fn deliveries_keep_their_state_attempts_and_due_time_across_the_state_table_migration() {
    if crate::support::sqlite_only("the migration is of the SQLite schema") {
        return;
    }
    let s = TestServer::start_with(|c| {
        c.retry = hookbin::sender::retry::RetrySchedule::parse("1h").unwrap()
    })
    .await;
    let bin = s.new_bin().await;
    let live = s
        .new_webhook("Live", &s.url(&format!("/b/{bin}")), "customer_created")
        .await;
    let dead = s.new_webhook("Dead", &dead_url(), "customer_created").await;
    let fired = s
        .post_json("/api/events/customer_created", json!({}))
        .await
        .json();
    let ids: Vec<String> = fired["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{fired}");
    // One delivery succeeds; the other fails once and waits an hour for its retry.
    let before = eventually(20, "one success and one failed attempt", || async {
        let mut all = Vec::new();
        for id in &ids {
            all.push(s.get(&format!("/api/deliveries/{id}")).await.json());
        }
        all.iter()
            .all(|d| d["attempts"].as_array().unwrap().len() == 1)
            .then_some(all)
    })
    .await;
    let states: Vec<&str> = before
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"succeeded") && states.contains(&"pending"),
        "{before:?}"
    );
    let pending = before.iter().find(|d| d["state"] == "pending").unwrap();
    assert!(pending["next_attempt_at"].is_string(), "{pending}");
    let hooks_before = webhooks(&s, &[&live, &dead]).await;

    let mut s = s;
    s.shutdown().await;
    let conn = rusqlite::Connection::open(&s.db).unwrap();
    deliveries_before_their_state_table(&conn);
    conn.pragma_update(None, "user_version", 8).unwrap();
    drop(conn);
    let s = s.restart().await;

    for (id, was) in ids.iter().zip(&before) {
        let now = s.get(&format!("/api/deliveries/{id}")).await.json();
        assert_eq!(&now, was, "delivery {id} after the migration");
    }
    let hooks_after = webhooks(&s, &[&live, &dead]).await;
    assert_eq!(
        hooks_after, hooks_before,
        "webhook counts and last attempts"
    );
    let conn = rusqlite::Connection::open(&s.db).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, hookbin::store::SCHEMA_VERSION);
    // The pending delivery is still the one the outbox would claim next, an hour out.
    let due: i64 = conn
        .query_row(
            "SELECT count(*) FROM delivery_state WHERE state = 'pending' AND next_attempt_ms > ?1",
            [chrono::Utc::now().timestamp_millis() + 50 * 60 * 1000],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(due, 1);
}
