//! A node's capture writer on PostgreSQL: takes every capture already waiting (up to a cap),
//! copies them in with one COPY in one transaction, and answers each caller only after the
//! COMMIT; the same group commit as SQLite's writer, so a round trip and a commit are shared.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use deadpool_postgres::Pool;
use futures_util::SinkExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::types::{IsNull, ToSql, Type};

use super::{failed, unreachable};
use crate::metrics::Metrics;
use crate::model::{NewCapture, RequestId};
use crate::store::StoreError;

/// Most captures one batch takes; also the step of `request_seq`, whose every value gives a
/// batch this many row-key low bits.
const MAX_BATCH: usize = 512;
/// Columns written per capture, and their types in the COPY.
const COLUMNS: usize = 14;
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
    Type::TEXT,
];

/// One capture waiting to be stored, and where its id goes once committed.
pub struct Job {
    pub capture: NewCapture,
    /// The most requests its bin keeps (0: no cap); the oldest beyond it are evicted.
    pub max_requests: u64,
    pub done: oneshot::Sender<Result<(NewCapture, RequestId), StoreError>>,
}

/// Batches in flight at once, each on its own connection: while one commits (waiting for its
/// WAL flush), the next is copied in. More do not help: batches into one bin take its count
/// row's lock in turn, so a third would only wait, with fewer captures per commit (measured:
/// 1, 2 and 4 in flight gave 29.8k, 38.2k and 24.8k captures/s with `store_inserts`).
const IN_FLIGHT: usize = 2;

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

const HEAD: &str =
    "SELECT nextval('request_seq'), floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
const COPY: &str = "COPY requests (seq, bin_id, received_at, method, path, query, http_version,
    remote_addr, headers, content_type, body_size, body, response_status, response_rule)
    FROM STDIN BINARY";
const COUNT: &str = "SELECT hb_count_batch($1, $2, $3, $4, $5, $6)";

/// The captures of `jobs` with their row `keys`, in COPY's binary format (a header, each row
/// as its field count and length-prefixed fields, a trailer).
fn copy_data(jobs: &[Job], keys: &[i64]) -> Result<Bytes, StoreError> {
    let size: usize = jobs
        .iter()
        .map(|j| j.capture.body.len() + j.capture.headers.len() + 256)
        .sum();
    let mut buf = BytesMut::with_capacity(size + 32);
    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
    buf.put_i32(0); // flags
    buf.put_i32(0); // no header extension
    for (job, key) in jobs.iter().zip(keys) {
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
            &c.response_rule,
        ];
        buf.put_i16(COLUMNS as i16);
        for (value, ty) in row.iter().zip(&COPY_TYPES) {
            let at = buf.len();
            buf.put_i32(0);
            let written = value.to_sql_checked(ty, &mut buf).map_err(|e| {
                StoreError::Commit(format!("cannot encode a capture for COPY: {e}"))
            })?;
            let len = match written {
                IsNull::Yes => -1,
                IsNull::No => (buf.len() - at - 4) as i32,
            };
            buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
    }
    buf.put_i16(-1);
    Ok(buf.freeze())
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
    let client = pool.get().await.map_err(unreachable)?;
    // Statements are prepared once per connection: each unprepared one costs a round trip
    // and a parse.
    let mut prepared = Vec::with_capacity(3);
    for sql in [HEAD, COPY, COUNT] {
        prepared.push(client.prepare_cached(sql).await.map_err(failed)?);
    }
    client.batch_execute("BEGIN").await.map_err(failed)?;
    let result = write(&client, jobs, &prepared).await;
    // A failure leaves the transaction open or aborted: end it before the connection goes
    // back to the pool, or keep the connection out of the pool if even that fails.
    if result.is_err() && client.batch_execute("ROLLBACK").await.is_err() {
        drop(deadpool_postgres::Object::take(client));
    }
    result
}

/// The statements of [`insert`] after BEGIN, up to and including COMMIT.
async fn write(
    client: &deadpool_postgres::Client,
    jobs: &[Job],
    prepared: &[tokio_postgres::Statement],
) -> Result<Vec<Result<RequestId, StoreError>>, StoreError> {
    let [head, copy, count] = prepared else {
        unreachable!("three statements are prepared");
    };
    // Row keys: this moment's millisecond << 16, with the low bits from a block of the shared
    // sequence (which steps by MAX_BATCH), so that two nodes never take the same key.
    let head = client.query_one(head, &[]).await.map_err(failed)?;
    let (base, ms): (i64, i64) = (head.get(0), head.get(1));
    let keys: Vec<i64> = (0..jobs.len() as i64)
        .map(|i| (ms << 16) | ((base + i) & 0xffff))
        .collect();
    // COPY in PostgreSQL's binary format, the whole batch as one message: the fastest way in,
    // with nothing to parse.
    let mut sink = std::pin::pin!(client.copy_in(copy).await.map_err(failed)?);
    sink.send(copy_data(jobs, &keys)?).await.map_err(failed)?;
    sink.finish().await.map_err(failed)?;
    // Counts per bin, once per bin per batch, evicting past the cap (`hb_count_batch`, see
    // `migrate`). Its count update locks the bin's row until COMMIT, so nodes capturing into
    // one bin count and evict it one after another, never both from the same count; a bin
    // deleted before this batch could lock its row keeps none of these rows.
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
    // In bin order, so two nodes' batches never wait on each other's bin rows in a cycle.
    let (mut ids, mut ns, mut firsts, mut lasts, mut caps) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (bin, p) in &per_bin {
        ids.push(*bin);
        ns.push(p.n);
        firsts.push(p.first);
        lasts.push(p.last);
        caps.push(p.cap as i64);
    }
    // The count takes the bin's row lock, held until COMMIT: COMMIT is sent right behind it
    // (pipelined, one round trip for both), so batches into one bin wait for each other as
    // briefly as they can. Should the count fail, PostgreSQL answers that COMMIT with a
    // rollback.
    let (counted, committed) = futures_util::future::join(
        client.query(count, &[&ids, &ns, &firsts, &lasts, &caps, &keys]),
        client.batch_execute("COMMIT"),
    )
    .await;
    let missing: std::collections::BTreeSet<String> =
        counted.map_err(failed)?.iter().map(|r| r.get(0)).collect();
    committed.map_err(failed)?;
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
