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
