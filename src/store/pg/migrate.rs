//! Schema migrations on PostgreSQL: versioned steps in `hookbin_schema`, each applied once
//! however many nodes start at the same moment, because a node migrates holding a
//! transaction-scoped advisory lock (the others wait for it, then find nothing left to do).

use deadpool_postgres::Client;

use super::{failed, unreachable};
use crate::store::StoreError;

/// The advisory lock key migrations hold ("hookbin" in ASCII).
const LOCK: i64 = 0x68_6f6f_6b62_696e;

/// Each entry moves the schema up one version; only ever appended to.
const STEPS: &[&str] = &[
    // 1: bins and the requests they caught, bodies and headers as bytes.
    "CREATE TABLE bins (
        id         TEXT PRIMARY KEY,
        name       TEXT,
        created_at TIMESTAMPTZ NOT NULL
     );
     CREATE TABLE requests (
        seq             BIGINT PRIMARY KEY,
        bin_id          TEXT NOT NULL REFERENCES bins(id) ON DELETE CASCADE,
        received_at     TIMESTAMPTZ NOT NULL,
        method          TEXT NOT NULL,
        path            TEXT NOT NULL,
        query           TEXT NOT NULL,
        http_version    TEXT NOT NULL,
        remote_addr     TEXT NOT NULL,
        headers         BYTEA NOT NULL,
        content_type    TEXT,
        body_size       BIGINT NOT NULL,
        body            BYTEA NOT NULL,
        response_status INTEGER NOT NULL
     );
     CREATE INDEX requests_by_bin ON requests(bin_id, seq);
     CREATE SEQUENCE request_seq;",
    // 2: each bin's count and newest row key, kept by the writers once per bin per batch (the
    // nodes share them, so no node can hold them in memory as SQLite's single process does).
    "ALTER TABLE bins ADD COLUMN request_count BIGINT NOT NULL DEFAULT 0;
     ALTER TABLE bins ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;",
    // 3: the header filter reads the stored header list (u32 LE name length, name, u32 LE
    // value length, value, repeated) as SQLite's hb_has_header does: the name exactly (names
    // are stored lowercased), the value containing the text with ASCII case folded.
    "CREATE FUNCTION hb_has_header(h BYTEA, want_name TEXT, want_value TEXT) RETURNS BOOLEAN AS $$
     DECLARE
        i INT := 0;
        n INT := length(h);
        len INT;
        name BYTEA;
        val BYTEA;
     BEGIN
        WHILE i + 4 <= n LOOP
           len := get_byte(h, i) | (get_byte(h, i + 1) << 8) | (get_byte(h, i + 2) << 16)
                  | (get_byte(h, i + 3) << 24);
           name := substring(h FROM i + 5 FOR len);
           i := i + 4 + len;
           EXIT WHEN i + 4 > n;
           len := get_byte(h, i) | (get_byte(h, i + 1) << 8) | (get_byte(h, i + 2) << 16)
                  | (get_byte(h, i + 3) << 24);
           val := substring(h FROM i + 5 FOR len);
           i := i + 4 + len;
           IF lower(convert_from(name, 'LATIN1')) = want_name AND (want_value IS NULL OR
              strpos(translate(convert_from(val, 'LATIN1'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
                     'abcdefghijklmnopqrstuvwxyz'), want_value) > 0) THEN
              RETURN TRUE;
           END IF;
        END LOOP;
        RETURN FALSE;
     END
     $$ LANGUAGE plpgsql IMMUTABLE;",
    // 4: webhooks, the outbox of deliveries (due times in ms, as on SQLite) and every attempt.
    "CREATE TABLE webhooks (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        url        TEXT NOT NULL,
        event      TEXT NOT NULL,
        active     BOOLEAN NOT NULL,
        secret     TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
     );
     CREATE INDEX webhooks_by_event ON webhooks(event);
     CREATE TABLE deliveries (
        seq             BIGSERIAL PRIMARY KEY,
        id              TEXT NOT NULL UNIQUE,
        webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event           TEXT NOT NULL,
        event_id        TEXT,
        is_test         BOOLEAN NOT NULL,
        payload         BYTEA NOT NULL,
        state           TEXT NOT NULL,
        attempt_count   INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms BIGINT,
        created_at      TIMESTAMPTZ NOT NULL,
        redelivery_of   TEXT
     );
     CREATE INDEX deliveries_due ON deliveries(next_attempt_ms) WHERE state = 'pending';
     CREATE INDEX deliveries_by_webhook ON deliveries(webhook_id, seq);
     CREATE TABLE attempts (
        id                 BIGSERIAL PRIMARY KEY,
        delivery_id        TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
        at                 TIMESTAMPTZ NOT NULL,
        status             INTEGER,
        duration_ms        BIGINT NOT NULL,
        error              TEXT,
        request_headers    TEXT NOT NULL,
        response_headers   TEXT NOT NULL,
        response_body      BYTEA NOT NULL,
        response_truncated BOOLEAN NOT NULL
     );
     CREATE INDEX attempts_by_delivery ON attempts(delivery_id, id);",
    // 5: a batch takes one block of row-key low bits from the sequence (see `writer`).
    "ALTER SEQUENCE request_seq INCREMENT BY 512;",
    // 6: per-bin answers, forwarding and signing secret; every forward or replay of a capture.
    "CREATE TABLE bin_settings (
        bin_id            TEXT PRIMARY KEY REFERENCES bins(id) ON DELETE CASCADE,
        response_status   INTEGER,
        response_headers  TEXT,
        response_body     BYTEA,
        response_delay_ms BIGINT NOT NULL DEFAULT 0,
        forward_url       TEXT,
        signing_secret    TEXT
     );
     CREATE TABLE relays (
        id                 BIGSERIAL PRIMARY KEY,
        request_seq        BIGINT NOT NULL REFERENCES requests(seq) ON DELETE CASCADE,
        kind               TEXT NOT NULL,
        url                TEXT NOT NULL,
        at                 TIMESTAMPTZ NOT NULL,
        status             INTEGER,
        duration_ms        BIGINT NOT NULL,
        error              TEXT,
        response_headers   TEXT NOT NULL,
        response_body      BYTEA NOT NULL,
        response_truncated BOOLEAN NOT NULL
     );
     CREATE INDEX relays_by_request ON relays(request_seq, id);",
    // 7: no foreign key from requests to bins. Checking it made every batch take a share lock
    // on its bin's row, which with concurrent batches (and the count update) became a
    // MultiXact on every batch: captures ran about 30% faster without it. The writer learns
    // from its count update whether the bin still exists, and deleting a bin locks its row
    // before deleting its requests (see `bins`, `writer`).
    "ALTER TABLE requests DROP CONSTRAINT IF EXISTS requests_bin_id_fkey;",
    // 8: a batch's per-bin work in one statement (one round trip, where it was two to four per
    // bin): count it into its bin, evict past the cap, drop its rows for a bin that is gone
    // (returned), and notify the other nodes. The count update locks the bin's row until
    // COMMIT, so the fewer round trips after it, the shorter batches into one bin wait for
    // each other.
    "CREATE FUNCTION hb_count_batch(ids TEXT[], ns BIGINT[], firsts BIGINT[], lasts BIGINT[],
                                    caps BIGINT[], keys BIGINT[])
     RETURNS SETOF TEXT LANGUAGE plpgsql AS $$
     DECLARE
        i INT;
        held BIGINT;
        gone BIGINT;
     BEGIN
        FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
            UPDATE bins SET request_count = request_count + ns[i],
                            last_seq = greatest(last_seq, lasts[i])
             WHERE id = ids[i] RETURNING request_count INTO held;
            IF NOT FOUND THEN
                DELETE FROM requests WHERE seq = ANY(keys) AND bin_id = ids[i];
                RETURN NEXT ids[i];
                CONTINUE;
            END IF;
            IF caps[i] > 0 AND held > caps[i] THEN
                DELETE FROM requests WHERE seq IN (
                    SELECT seq FROM requests WHERE bin_id = ids[i] ORDER BY seq
                     LIMIT held - caps[i]);
                GET DIAGNOSTICS gone = ROW_COUNT;
                UPDATE bins SET request_count = request_count - gone WHERE id = ids[i];
            END IF;
            PERFORM pg_notify('hookbin_captures', ids[i] || ' ' || firsts[i] || ' ' || lasts[i]);
        END LOOP;
     END $$;",
    // 9: answer rules per bin (JSON), the rule that answered each capture, and how many
    // requests each counting rule (a sequence, a random share) has matched, shared by every
    // node so a sequence advances once per request whichever node takes it.
    "ALTER TABLE bin_settings ADD COLUMN rules TEXT;
     ALTER TABLE requests ADD COLUMN response_rule TEXT;
     CREATE TABLE rule_steps (
        bin_id TEXT NOT NULL REFERENCES bins(id) ON DELETE CASCADE,
        rule   TEXT NOT NULL,
        step   BIGINT NOT NULL,
        PRIMARY KEY (bin_id, rule)
     );",
    // 10: each webhook's deliveries by state, so the counts shown with every webhook come from
    // this index instead of from every delivery's row.
    "CREATE INDEX deliveries_by_webhook_state ON deliveries(webhook_id, state);",
];

/// The schema version this build writes.
pub const VERSION: i64 = STEPS.len() as i64;

/// Brings the database up to [`VERSION`]; refuses one written by a newer hookbin.
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(unreachable)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await
        .map_err(failed)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS hookbin_schema (version BIGINT NOT NULL)")
        .await
        .map_err(failed)?;
    let found: i64 = tx
        .query_opt("SELECT version FROM hookbin_schema", &[])
        .await
        .map_err(failed)?
        .map_or(0, |r| r.get(0));
    if found > VERSION {
        return Err(StoreError::Commit(format!(
            "the database has schema version {found}, newer than this hookbin supports ({VERSION}); upgrade hookbin"
        )));
    }
    for step in &STEPS[found as usize..] {
        tx.batch_execute(step).await.map_err(failed)?;
    }
    if found == 0 {
        tx.execute(
            "INSERT INTO hookbin_schema (version) VALUES ($1)",
            &[&VERSION],
        )
        .await
        .map_err(failed)?;
    } else if found < VERSION {
        tx.execute("UPDATE hookbin_schema SET version = $1", &[&VERSION])
            .await
            .map_err(failed)?;
    }
    tx.commit().await.map_err(failed)
}
