//! A node's capture writer on PostgreSQL: takes every capture already waiting (up to a cap),
//! copies them in with one COPY in one transaction, and answers each caller only after the
//! COMMIT; the same group commit as SQLite's writer, so a round trip and a commit are shared.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{failed, unreachable};
use crate::metrics::Metrics;
use crate::model::{NewCapture, RequestId};
use crate::store::StoreError;

/// Most captures one batch takes; also the step of `request_seq`, whose every value gives a
/// batch this many row-key low bits.
const MAX_BATCH: usize = 512;
/// Columns written per capture, and their types in the COPY.
const COLUMNS: usize = 13;
const COPY_TYPES: [Type; COLUMNS] = [
    Type::INT8,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::TEXT,
    Type::INT8,
    Type::BYTEA,
    Type::INT4,
];

/// One capture waiting to be stored, and where its id goes once committed.
pub struct Job {
    pub capture: NewCapture,
    /// The most requests its bin keeps (0: no cap); the oldest beyond it are evicted.
    pub max_requests: u64,
    pub done: oneshot::Sender<Result<(NewCapture, RequestId), StoreError>>,
}

/// Batches in flight at once, each on its own connection: a commit waits for its WAL flush,
/// and while one batch waits the next is already being written (PostgreSQL flushes
/// concurrent commits together).
const IN_FLIGHT: usize = 4;

/// Starts the writer on `pool`; it ends when every sender is gone. Each batch is reported to
/// `metrics`, and its captures taken off `queued` once answered.
pub fn spawn(
    pool: Pool,
    queued: Arc<watch::Sender<usize>>,
    metrics: Arc<Metrics>,
) -> mpsc::Sender<Job> {
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
            let (pool, queued, metrics) = (pool.clone(), queued.clone(), metrics.clone());
            let waiting = rx.len();
            tokio::spawn(async move {
                let (n, began) = (jobs.len(), std::time::Instant::now());
                commit(&pool, jobs).await;
                metrics.batch(n, waiting, began.elapsed());
                queued.send_modify(|q| *q -= n);
                drop(slot);
            });
        }
    });
    tx
}

/// Stores one batch and answers each of its callers.
async fn commit(pool: &Pool, jobs: Vec<Job>) {
    match insert(pool, &jobs).await {
        Ok(results) => {
            for (job, result) in jobs.into_iter().zip(results) {
                let _ = job.done.send(result.map(|id| (job.capture, id)));
            }
        }
        // Whatever failed the batch, each capture gets its own answer from a batch of one.
        Err(_) if jobs.len() > 1 => {
            for job in jobs {
                let result = match insert(pool, std::slice::from_ref(&job)).await {
                    Ok(mut one) => one.remove(0),
                    Err(e) => Err(e),
                };
                let _ = job.done.send(result.map(|id| (job.capture, id)));
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

/// One bin's part of a batch: how many captures, its first and last row keys, and the
/// largest cap asked for.
struct PerBin {
    n: i64,
    first: i64,
    last: i64,
    cap: u64,
}

/// Inserts `jobs` in one transaction; once committed, each one's id in order, or `NotFound`
/// for a capture whose bin is gone (its row is not kept).
async fn insert(
    pool: &Pool,
    jobs: &[Job],
) -> Result<Vec<Result<RequestId, StoreError>>, StoreError> {
    let mut client = pool.get().await.map_err(unreachable)?;
    let tx = client.transaction().await.map_err(failed)?;
    // Row keys: this moment's millisecond << 16, with the low bits from a block of the shared
    // sequence (which steps by MAX_BATCH), so that two nodes never take the same key.
    let head = tx
        .query_one(
            "SELECT nextval('request_seq'), floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
            &[],
        )
        .await
        .map_err(failed)?;
    let (base, ms): (i64, i64) = (head.get(0), head.get(1));
    let keys: Vec<i64> = (0..jobs.len() as i64)
        .map(|i| (ms << 16) | ((base + i) & 0xffff))
        .collect();
    // COPY in PostgreSQL's binary format: the fastest way in, with nothing to parse.
    let sink = tx
        .copy_in(
            "COPY requests (seq, bin_id, received_at, method, path, query, http_version,
                 remote_addr, headers, content_type, body_size, body, response_status)
             FROM STDIN BINARY",
        )
        .await
        .map_err(failed)?;
    let writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
    let mut writer = std::pin::pin!(writer);
    for (job, key) in jobs.iter().zip(&keys) {
        let c = &job.capture;
        let (size, status) = (c.body.len() as i64, i32::from(c.response_status));
        // Kept to the millisecond, as SQLite keeps it and the API shows it, so that a `since`
        // or `until` copied from a shown time matches the same requests on both engines.
        let received = chrono::DateTime::from_timestamp_millis(c.received_at.timestamp_millis())
            .unwrap_or(c.received_at);
        let row: [&(dyn ToSql + Sync); COLUMNS] = [
            key,
            &c.bin_id.as_str(),
            &received,
            &c.method,
            &c.path,
            &c.query,
            &c.http_version,
            &c.remote_addr,
            &c.headers,
            &c.content_type,
            &size,
            &&c.body[..],
            &status,
        ];
        writer.as_mut().write(&row).await.map_err(failed)?;
    }
    writer.finish().await.map_err(failed)?;
    // Counts per bin, once per bin per batch (in a fixed order, so two nodes' batches never
    // wait on each other's bin rows in a cycle). The UPDATE locks the bin's row until COMMIT,
    // so nodes capturing into one bin count and evict it one after another, never both from
    // the same count.
    let mut per_bin: std::collections::BTreeMap<&str, PerBin> = Default::default();
    for (job, key) in jobs.iter().zip(&keys) {
        let e = per_bin
            .entry(job.capture.bin_id.as_str())
            .or_insert(PerBin {
                n: 0,
                first: *key,
                last: *key,
                cap: 0,
            });
        e.n += 1;
        e.last = e.last.max(*key);
        e.cap = e.cap.max(job.max_requests);
    }
    let mut missing = std::collections::BTreeSet::new();
    for (
        bin,
        &PerBin {
            n,
            first,
            last,
            cap,
        },
    ) in &per_bin
    {
        let count: Option<i64> = tx
            .query_opt(
                "UPDATE bins SET request_count = request_count + $2, last_seq = greatest(last_seq, $3)
                 WHERE id = $1 RETURNING request_count",
                &[bin, &n, &last],
            )
            .await
            .map_err(failed)?
            .map(|r| r.get(0));
        let Some(count) = count else {
            // The bin is gone (deleted before this batch could lock its row): so are these.
            let mine: Vec<i64> = jobs
                .iter()
                .zip(&keys)
                .filter(|(j, _)| j.capture.bin_id.as_str() == *bin)
                .map(|(_, k)| *k)
                .collect();
            tx.execute("DELETE FROM requests WHERE seq = ANY($1)", &[&mine])
                .await
                .map_err(failed)?;
            missing.insert(*bin);
            continue;
        };
        let excess = count - cap as i64;
        if cap > 0 && excess > 0 {
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
            &[&super::follow::CHANNEL, &format!("{bin} {first} {last}")],
        )
        .await
        .map_err(failed)?;
    }
    tx.commit().await.map_err(failed)?;
    Ok(jobs
        .iter()
        .zip(keys)
        .map(|(job, key)| {
            let bin = job.capture.bin_id.as_str();
            match missing.contains(bin) {
                true => Err(StoreError::NotFound(format!("bin {bin}"))),
                false => Ok(RequestId::from_seq(key)),
            }
        })
        .collect())
}
