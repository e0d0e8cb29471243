//! Connection settings and schema migrations, versioned with `PRAGMA user_version`.
//!
//! Migrations only ever append: version N is reached by running steps 1..=N in order, each in
//! its own transaction. A database from a newer hookbin is refused rather than guessed at.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Each entry moves the schema up one version.
const MIGRATIONS: &[&str] = &[
    // 1: bins and the requests they captured.
    "CREATE TABLE bins (
        id            TEXT PRIMARY KEY,
        name          TEXT,
        created_at    TEXT NOT NULL,
        request_count INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE requests (
        seq          INTEGER PRIMARY KEY,
        id           TEXT NOT NULL UNIQUE,
        bin_id       TEXT NOT NULL REFERENCES bins(id) ON DELETE CASCADE,
        received_at  TEXT NOT NULL,
        method       TEXT NOT NULL,
        path         TEXT NOT NULL,
        query        TEXT NOT NULL,
        http_version TEXT NOT NULL,
        remote_addr  TEXT NOT NULL,
        headers      BLOB NOT NULL,
        content_type TEXT,
        body_size    INTEGER NOT NULL,
        body         BLOB NOT NULL
     );
     CREATE INDEX requests_by_bin ON requests(bin_id, seq);",
    // 2: webhooks, the outbox of deliveries, and every attempt made.
    "CREATE TABLE webhooks (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        url        TEXT NOT NULL,
        event      TEXT NOT NULL,
        active     INTEGER NOT NULL,
        secret     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
     );
     CREATE INDEX webhooks_by_event ON webhooks(event);
     CREATE TABLE deliveries (
        seq             INTEGER PRIMARY KEY,
        id              TEXT NOT NULL UNIQUE,
        webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event           TEXT NOT NULL,
        event_id        TEXT,
        is_test         INTEGER NOT NULL,
        payload         BLOB NOT NULL,
        state           TEXT NOT NULL,
        attempt_count   INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER,
        created_at      TEXT NOT NULL,
        redelivery_of   TEXT
     );
     CREATE INDEX deliveries_due ON deliveries(next_attempt_ms) WHERE state = 'pending';
     CREATE INDEX deliveries_by_webhook ON deliveries(webhook_id, seq);
     CREATE TABLE attempts (
        id                 INTEGER PRIMARY KEY,
        delivery_id        TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
        at                 TEXT NOT NULL,
        status             INTEGER,
        duration_ms        INTEGER NOT NULL,
        error              TEXT,
        request_headers    TEXT NOT NULL,
        response_headers   TEXT NOT NULL,
        response_body      BLOB NOT NULL,
        response_truncated INTEGER NOT NULL
     );
     CREATE INDEX attempts_by_delivery ON attempts(delivery_id, id);",
    // 3: a request's id is its row key (assigned by the writer, time-ordered), so the separate
    // unique text id and its index go; counts per bin are kept in memory, not per insert.
    "CREATE TABLE requests_v3 (
        seq          INTEGER PRIMARY KEY,
        bin_id       TEXT NOT NULL REFERENCES bins(id) ON DELETE CASCADE,
        received_at  TEXT NOT NULL,
        method       TEXT NOT NULL,
        path         TEXT NOT NULL,
        query        TEXT NOT NULL,
        http_version TEXT NOT NULL,
        remote_addr  TEXT NOT NULL,
        headers      BLOB NOT NULL,
        content_type TEXT,
        body_size    INTEGER NOT NULL,
        body         BLOB NOT NULL
     );
     INSERT INTO requests_v3 SELECT seq, bin_id, received_at, method, path, query, http_version,
        remote_addr, headers, content_type, body_size, body FROM requests;
     DROP TABLE requests;
     ALTER TABLE requests_v3 RENAME TO requests;
     CREATE INDEX requests_by_bin ON requests(bin_id, seq);
     ALTER TABLE bins DROP COLUMN request_count;",
    // 4: per-bin answers, forwarding and signing secret; the status each capture was answered
    // with; every forward or replay of a capture with the target's answer.
    "CREATE TABLE bin_settings (
        bin_id            TEXT PRIMARY KEY REFERENCES bins(id) ON DELETE CASCADE,
        response_status   INTEGER,
        response_headers  TEXT,
        response_body     BLOB,
        response_delay_ms INTEGER NOT NULL DEFAULT 0,
        forward_url       TEXT,
        signing_secret    TEXT
     );
     ALTER TABLE requests ADD COLUMN response_status INTEGER NOT NULL DEFAULT 200;
     CREATE TABLE relays (
        id                 INTEGER PRIMARY KEY,
        request_seq        INTEGER NOT NULL REFERENCES requests(seq) ON DELETE CASCADE,
        kind               TEXT NOT NULL,
        url                TEXT NOT NULL,
        at                 TEXT NOT NULL,
        status             INTEGER,
        duration_ms        INTEGER NOT NULL,
        error              TEXT,
        response_headers   TEXT NOT NULL,
        response_body      BLOB NOT NULL,
        response_truncated INTEGER NOT NULL
     );
     CREATE INDEX relays_by_request ON relays(request_seq, id);",
    // 5: due deliveries per webhook, so a claim reads only the rows it can take: one endpoint
    // full of failing retries is skipped without reading its backlog.
    "CREATE INDEX deliveries_due_by_webhook ON deliveries(webhook_id, next_attempt_ms)
        WHERE state = 'pending';",
    // 6: the search index (see `search`): per-block trigram filters, groups of them transposed,
    // and the row key up to which requests are indexed. An existing database starts at 0 and
    // is indexed in the background.
    "CREATE TABLE search_blocks (
        id        INTEGER PRIMARY KEY,
        bin_id    TEXT NOT NULL REFERENCES bins(id) ON DELETE CASCADE,
        first_seq INTEGER NOT NULL,
        last_seq  INTEGER NOT NULL,
        rows      INTEGER NOT NULL,
        sealed    INTEGER NOT NULL,
        bits      BLOB NOT NULL
     );
     CREATE INDEX search_blocks_by_bin ON search_blocks(bin_id, first_seq);
     CREATE TABLE search_groups (
        id        INTEGER PRIMARY KEY,
        bin_id    TEXT NOT NULL REFERENCES bins(id) ON DELETE CASCADE,
        first_seq INTEGER NOT NULL,
        last_seq  INTEGER NOT NULL,
        log2      INTEGER NOT NULL,
        blocks    INTEGER NOT NULL,
        spans     BLOB NOT NULL,
        bits      BLOB NOT NULL
     );
     CREATE INDEX search_groups_by_bin ON search_groups(bin_id, first_seq);
     CREATE TABLE search_state (indexed_upto INTEGER NOT NULL);
     INSERT INTO search_state (indexed_upto) VALUES (0);",
    // 7: answer rules per bin (JSON), the rule that answered each capture, and how many
    // requests each counting rule (a sequence, a random share) has matched.
    "ALTER TABLE bin_settings ADD COLUMN rules TEXT;
     ALTER TABLE requests ADD COLUMN response_rule TEXT;
     CREATE TABLE rule_steps (
        bin_id TEXT NOT NULL REFERENCES bins(id) ON DELETE CASCADE,
        rule   TEXT NOT NULL,
        step   INTEGER NOT NULL,
        PRIMARY KEY (bin_id, rule)
     ) WITHOUT ROWID;",
    // 8: each webhook's deliveries by state, so the counts shown with every webhook come from
    // this index instead of from every delivery's row (~1.7 KB each, read on each look).
    "CREATE INDEX deliveries_by_webhook_state ON deliveries(webhook_id, state);",
    // 9: what changes with each claim and attempt (state, attempts made, when next due) moves
    // to a narrow table of its own. A delivery's row (~1.7 KB, its payload) is then written
    // once; claims and records rewrite ~70-byte rows, many to a page, so a storm of attempts
    // writes a fraction of the WAL pages it did (each changed page is a whole 16 KiB frame).
    "CREATE TABLE delivery_state (
        seq             INTEGER PRIMARY KEY REFERENCES deliveries(seq) ON DELETE CASCADE,
        webhook_id      TEXT NOT NULL,
        state           TEXT NOT NULL,
        attempt_count   INTEGER NOT NULL,
        next_attempt_ms INTEGER
     );
     INSERT INTO delivery_state (seq, webhook_id, state, attempt_count, next_attempt_ms)
        SELECT seq, webhook_id, state, attempt_count, next_attempt_ms FROM deliveries;
     DROP INDEX deliveries_due;
     DROP INDEX deliveries_due_by_webhook;
     DROP INDEX deliveries_by_webhook_state;
     ALTER TABLE deliveries DROP COLUMN state;
     ALTER TABLE deliveries DROP COLUMN attempt_count;
     ALTER TABLE deliveries DROP COLUMN next_attempt_ms;
     CREATE INDEX delivery_state_due ON delivery_state(webhook_id, next_attempt_ms)
        WHERE state = 'pending';
     CREATE INDEX delivery_state_by_webhook ON delivery_state(webhook_id, state);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Page size for new databases. Requests are ~1–2 KiB rows written in batches; 16 KiB pages
/// mean a quarter of the WAL frames (and write syscalls) per batch compared with 4 KiB.
const PAGE_SIZE: i64 = 16384;

/// Settings every connection needs: WAL so readers never block the writer, `synchronous=NORMAL`
/// (a commit survives a process crash; the last commits may be lost on power loss), and a busy
/// timeout so a reader opening during a checkpoint waits instead of failing.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Takes effect only for a new database (before its first table).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement journals (which a multi-row delete inside a savepoint needs) stay in memory:
    // on a full disk a temporary file could not be written, and deletes must still work.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Checkpoints run on their own thread (see `checkpoint`), never inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // When the log starts over, keep the file's blocks up to the writer's restart threshold:
    // rewriting blocks the file already has is much cheaper than growing it again (about +15%
    // capture throughput measured). A file that overshot the threshold (large bodies arriving
    // while a restart waits for readers) is cut back to it; the WAL is removed at close.
    conn.pragma_update(None, "journal_size_limit", super::checkpoint::WAL_LIMIT)?;
    Ok(())
}

/// Brings the database up to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_a_fresh_database_and_refuses_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = Connection::open(&path).unwrap();
        configure(&conn).unwrap();
        migrate(&mut conn, &path).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        migrate(&mut conn, &path).unwrap();

        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, &path).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    }

    #[test]
    fn version_3_keeps_requests_captured_under_version_2() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = Connection::open(&path).unwrap();
        configure(&conn).unwrap();
        for step in &MIGRATIONS[..2] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO bins (id, name, created_at, request_count) VALUES ('old', NULL, '2026-01-01T00:00:00.000Z', 1);
             INSERT INTO requests (id, bin_id, received_at, method, path, query, http_version,
                remote_addr, headers, content_type, body_size, body)
             VALUES ('u', 'old', '2026-01-01T00:00:01.000Z', 'POST', '/b/old', '', 'HTTP/1.1',
                '127.0.0.1:1', X'', NULL, 2, X'6869');",
        )
        .unwrap();
        migrate(&mut conn, &path).unwrap();
        let (seq, body): (i64, Vec<u8>) = conn
            .query_row(
                "SELECT seq, body FROM requests WHERE bin_id = 'old'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((seq, body.as_slice()), (1, &b"hi"[..]));
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }
}
