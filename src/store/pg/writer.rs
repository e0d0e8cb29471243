//! A node's capture writer on PostgreSQL: takes every capture already waiting (up to a cap),
//! inserts them with one statement in one transaction, and answers each caller only after the
//! COMMIT; the same group commit as SQLite's writer, so a round trip and a commit are shared.

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;

use super::{failed, unreachable};
use crate::model::{NewCapture, RequestId};
use crate::store::StoreError;

/// Most captures one statement inserts (PostgreSQL takes at most 65,535 parameters).
const MAX_BATCH: usize = 512;
/// Columns bound per capture.
const COLUMNS: usize = 12;

/// One capture waiting to be stored, and where its id goes once committed.
pub struct Job {
    pub capture: NewCapture,
    /// The most requests its bin keeps (0: no cap); the oldest beyond it are evicted.
    pub max_requests: u64,
    pub done: oneshot::Sender<Result<RequestId, StoreError>>,
}

/// Batches in flight at once, each on its own connection: a commit waits for its WAL flush,
/// and while one batch waits the next is already being written (PostgreSQL flushes
/// concurrent commits together).
const IN_FLIGHT: usize = 4;

/// Starts the writer on `pool`; it ends when every sender is gone.
pub fn spawn(pool: Pool) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(8192);
    tokio::spawn(async move {
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            // Take a slot first, so captures queue up (and batch) while every slot is busy.
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
            let jobs = std::mem::take(&mut batch);
            let pool = pool.clone();
            tokio::spawn(async move {
                commit(&pool, jobs).await;
                drop(slot);
            });
        }
    });
    tx
}

/// Stores one batch and answers each of its callers.
async fn commit(pool: &Pool, jobs: Vec<Job>) {
    match insert(pool, &jobs).await {
        Ok(ids) => {
            for (job, id) in jobs.into_iter().zip(ids) {
                let _ = job.done.send(Ok(id));
            }
        }
        // One bad capture (its bin deleted meanwhile) must not fail the others: alone, each
        // gets its own answer.
        Err(_) if jobs.len() > 1 => {
            for job in jobs {
                let result = insert(pool, std::slice::from_ref(&job))
                    .await
                    .map(|ids| ids[0]);
                let _ = job.done.send(result);
            }
        }
        Err(e) => {
            for job in jobs {
                let _ = job.done.send(Err(clone_error(&e)));
            }
        }
    }
}

fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
        StoreError::Unreachable(m) => StoreError::Unreachable(m.clone()),
        other => StoreError::Commit(other.to_string()),
    }
}

/// Inserts `jobs` in one transaction; their ids in order once committed.
async fn insert(pool: &Pool, jobs: &[Job]) -> Result<Vec<RequestId>, StoreError> {
    let mut client = pool.get().await.map_err(unreachable)?;
    let tx = client.transaction().await.map_err(failed)?;
    let mut sql = String::from(
        "INSERT INTO requests (seq, bin_id, received_at, method, path, query, http_version,
             remote_addr, headers, content_type, body_size, body, response_status) VALUES ",
    );
    let sizes: Vec<i64> = jobs.iter().map(|j| j.capture.body.len() as i64).collect();
    let statuses: Vec<i32> = jobs
        .iter()
        .map(|j| i32::from(j.capture.response_status))
        .collect();
    let bodies: Vec<&[u8]> = jobs.iter().map(|j| &j.capture.body[..]).collect();
    let bins: Vec<&str> = jobs.iter().map(|j| j.capture.bin_id.as_str()).collect();
    let mut args: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(jobs.len() * COLUMNS);
    for (i, job) in jobs.iter().enumerate() {
        let c = &job.capture;
        let n = i * COLUMNS;
        if i > 0 {
            sql.push(',');
        }
        // The row key: the commit-time millisecond << 16, with the low bits from the shared
        // sequence so that two nodes never take the same key.
        sql += &format!(
            "((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint << 16)
               | (nextval('request_seq') & 65535), ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7, n + 8, n + 9, n + 10, n + 11, n + 12
        );
        args.push(&bins[i]);
        args.push(&c.received_at);
        args.push(&c.method);
        args.push(&c.path);
        args.push(&c.query);
        args.push(&c.http_version);
        args.push(&c.remote_addr);
        args.push(&c.headers);
        args.push(&c.content_type);
        args.push(&sizes[i]);
        args.push(&bodies[i]);
        args.push(&statuses[i]);
    }
    sql += " RETURNING seq, bin_id";
    let rows = tx.query(&sql, &args).await.map_err(|e| {
        if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
            StoreError::NotFound(format!("bin {}", jobs[0].capture.bin_id))
        } else {
            failed(e)
        }
    })?;
    // Counts per bin, once per bin per batch (in a fixed order, so two nodes' batches never
    // wait on each other's bin rows in a cycle). The UPDATE locks the bin's row until COMMIT,
    // so nodes capturing into one bin count and evict it one after another, never both from
    // the same count.
    let mut per_bin: std::collections::BTreeMap<String, (i64, i64, u64)> = Default::default();
    for r in &rows {
        let e = per_bin.entry(r.get::<_, String>(1)).or_default();
        e.0 += 1;
        e.1 = e.1.max(r.get(0));
    }
    for job in jobs {
        if let Some(e) = per_bin.get_mut(job.capture.bin_id.as_str()) {
            e.2 = e.2.max(job.max_requests);
        }
    }
    for (bin, (n, last, cap)) in &per_bin {
        let count: i64 = tx
            .query_one(
                "UPDATE bins SET request_count = request_count + $2, last_seq = greatest(last_seq, $3)
                 WHERE id = $1 RETURNING request_count",
                &[bin, n, last],
            )
            .await
            .map_err(failed)?
            .get(0);
        let excess = count - *cap as i64;
        if *cap > 0 && excess > 0 {
            let gone = tx
                .execute(
                    "DELETE FROM requests WHERE seq IN (
                         SELECT seq FROM requests WHERE bin_id = $1 ORDER BY seq LIMIT $2)",
                    &[bin, &excess],
                )
                .await
                .map_err(failed)?;
            tx.execute(
                "UPDATE bins SET request_count = request_count - $2 WHERE id = $1",
                &[bin, &(gone as i64)],
            )
            .await
            .map_err(failed)?;
        }
        // Delivered to every listening node when this transaction commits (see `follow`).
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&super::follow::CHANNEL, &format!("{bin} {last}")],
        )
        .await
        .map_err(failed)?;
    }
    tx.commit().await.map_err(failed)?;
    Ok(rows.iter().map(|r| RequestId::from_seq(r.get(0))).collect())
}
