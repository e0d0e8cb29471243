//! Captured requests: insert with eviction, keyset-paginated listing, read and delete.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{Filter, Sqlite, StoreError, headers};
use crate::model::{BinId, Capture, NewCapture, RequestId};
use crate::store::Page;
use crate::time;

/// The columns every read selects; `{body}` is the whole body or a leading slice of it.
fn select(body_limit: Option<usize>) -> String {
    let body = match body_limit {
        Some(0) => "X''".to_owned(),
        Some(n) => format!("substr(body, 1, {n})"),
        None => "body".to_owned(),
    };
    format!(
        "SELECT seq, bin_id, received_at, method, path, query, http_version, remote_addr,
                headers, body_size, {body}, response_status, response_rule FROM requests"
    )
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Capture> {
    let headers: Vec<u8> = row.get(8)?;
    let received: String = row.get(2)?;
    let bin: String = row.get(1)?;
    Ok(Capture {
        id: RequestId::from_seq(row.get(0)?),
        bin_id: super::stored_bin_id(&bin, 1)?,
        received_at: time::parse(&received).unwrap_or_else(Utc::now),
        method: row.get(3)?,
        path: row.get(4)?,
        query: row.get(5)?,
        http_version: row.get(6)?,
        remote_addr: row.get(7)?,
        headers: headers::decode(&headers).unwrap_or_default(),
        body_size: row.get::<_, i64>(9)? as u64,
        // substr() of an empty blob is NULL.
        body: row
            .get::<_, Option<Vec<u8>>>(10)?
            .unwrap_or_default()
            .into(),
        response_status: row.get(11)?,
        response_rule: row.get(12)?,
    })
}

/// The largest row key so far (0 for an empty table); new keys continue above it.
pub(super) fn max_seq(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT coalesce(max(seq), 0) FROM requests", [], |r| {
            r.get(0)
        })?,
    )
}

/// The next row key: the time in milliseconds shifted left 16 bits, so keys sort by arrival and
/// read as a timestamp, or one more than the last key when that is larger (same millisecond,
/// or a clock that stepped back).
fn next_seq(last: &AtomicI64) -> i64 {
    let now = Utc::now().timestamp_millis() << 16;
    let next = now.max(last.load(Ordering::Relaxed) + 1);
    last.store(next, Ordering::Relaxed);
    next
}

/// Stores one capture under `seq`, inside the caller's transaction.
fn insert(conn: &Connection, seq: i64, c: &NewCapture) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO requests (seq, bin_id, received_at, method, path, query, http_version,
             remote_addr, headers, content_type, body_size, body, response_status, response_rule)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        seq,
        c.bin_id.as_str(),
        time::format(c.received_at),
        c.method,
        c.path,
        c.query,
        c.http_version,
        c.remote_addr,
        c.headers,
        c.content_type,
        c.body.len() as i64,
        &c.body[..],
        c.response_status,
        c.response_rule,
    ])?;
    Ok(())
}

/// Bins that went over their cap in the writer's current batch, with the cap. Their oldest
/// requests are evicted once per batch ([`evict_over_cap`]), not once per capture: one
/// statement per full bin removes from the low end of its index whatever the batch added, so a
/// full bin costs about what an empty one does, whatever its cap.
pub(super) type OverCap = Arc<Mutex<HashMap<String, u64>>>;

/// Evicts the oldest requests of each bin in `over` beyond its cap and forgets the list; run by
/// the writer just before COMMIT, so evictions commit with the inserts that caused them.
pub(super) fn evict_over_cap(
    conn: &Connection,
    over: &OverCap,
    counts: &super::Counts,
) -> rusqlite::Result<()> {
    let bins = std::mem::take(&mut *over.lock().expect("over-cap list poisoned"));
    for (bin, max) in bins {
        let count = counts
            .lock()
            .expect("counts poisoned")
            .get(&bin)
            .map(|h| h.count);
        let Some(excess) = count.and_then(|n| n.checked_sub(max)).filter(|&e| e > 0) else {
            continue;
        };
        let removed = conn
            .prepare_cached(
                "DELETE FROM requests WHERE seq IN (
                     SELECT seq FROM requests WHERE bin_id = ?1 ORDER BY seq LIMIT ?2)",
            )?
            .execute(params![bin, excess as i64])?;
        if let Some(held) = counts.lock().expect("counts poisoned").get_mut(&bin) {
            held.count = held.count.saturating_sub(removed as u64);
        }
    }
    Ok(())
}

/// Up to `n` requests of `bin` passing `filter` with row keys in `lo..hi`, newest first.
pub(super) fn fetch(
    conn: &Connection,
    bin: &str,
    lo: i64,
    hi: i64,
    n: usize,
    body_limit: Option<usize>,
    filter: &Filter,
) -> Result<Vec<Capture>, StoreError> {
    let (conditions, mut args) = filter.sql(5);
    // One bound each way, so SQLite's range on the row key is the tightest.
    let (lo, hi) = (lo.max(filter.seq_floor()), hi.min(filter.seq_ceiling()));
    if lo >= hi {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{} WHERE bin_id = ?1 AND seq >= ?2 AND seq < ?3{conditions} ORDER BY seq DESC LIMIT ?4",
        select(body_limit)
    );
    let mut all = vec![
        Value::Text(bin.to_owned()),
        Value::Integer(lo),
        Value::Integer(hi),
        Value::Integer(n as i64),
    ];
    all.append(&mut args);
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(all), from_row)?
        .collect::<Result<_, _>>()?)
}

/// A page by reading the bin's requests in order, checking each: the only way for filters the
/// index cannot narrow, and what indexed pages must equal.
pub(super) fn scan_page(
    conn: &Connection,
    bin: &str,
    limit: usize,
    before: Option<RequestId>,
    body_limit: Option<usize>,
    filter: &Filter,
) -> Result<Page, StoreError> {
    let below = before.map_or(i64::MAX, RequestId::seq);
    // One extra row tells whether another page follows.
    let requests = fetch(conn, bin, i64::MIN, below, limit + 1, body_limit, filter)?;
    Ok(Page::from_extra(requests, limit))
}

/// A page through the search index when the filter has a needle it can narrow by, else by
/// scanning.
pub(super) fn page(
    conn: &Connection,
    bin: &str,
    limit: usize,
    before: Option<RequestId>,
    body_limit: Option<usize>,
    filter: &Filter,
) -> Result<Page, StoreError> {
    match filter.needle_keys() {
        Some(keys) => super::search::page(conn, bin, limit, before, body_limit, filter, &keys),
        None => scan_page(conn, bin, limit, before, body_limit, filter),
    }
}

fn get(conn: &Connection, id: RequestId, body_limit: Option<usize>) -> Result<Capture, StoreError> {
    let sql = format!("{} WHERE seq = ?1", select(body_limit));
    conn.prepare_cached(&sql)?
        .query_row([id.seq()], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("request {id}")))
}

/// True when an insert failed because the row it belongs to is gone (the foreign key check).
pub(super) fn is_missing_parent(e: &StoreError) -> bool {
    matches!(e, StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

impl Sqlite {
    /// Stores a capture durably; resolves with its id once the transaction holding it has
    /// committed. The insert is one statement, so it skips the per-job savepoint that other
    /// writes take; a bin past `max_requests` (0 = no cap) has its oldest requests evicted in
    /// the same transaction, once per batch.
    pub async fn insert_capture(
        &self,
        capture: NewCapture,
        max_requests: u64,
    ) -> Result<(NewCapture, RequestId), StoreError> {
        let counts = self.counts.clone();
        let over = self.over_cap.clone();
        let last = self.last_seq.clone();
        let search = self.search.clone();
        self.write_unguarded(move |conn| {
            let bin = capture.bin_id.as_str();
            if !counts.lock().expect("counts poisoned").contains_key(bin) {
                return Err(StoreError::NotFound(format!("bin {bin}")));
            }
            let seq = next_seq(&last);
            if let Err(e) = insert(conn, seq, &capture) {
                if is_missing_parent(&e) {
                    // Another process deleted the bin: forget it here too.
                    counts.lock().expect("counts poisoned").remove(bin);
                    return Err(StoreError::NotFound(format!("bin {bin}")));
                }
                return Err(e);
            }
            search.stored(1);
            let mut counts = counts.lock().expect("counts poisoned");
            if let Some(held) = counts.get_mut(bin) {
                held.count += 1;
                held.last = seq;
                if max_requests > 0 && held.count > max_requests {
                    let mut over = over.lock().expect("over-cap list poisoned");
                    over.insert(bin.to_owned(), max_requests);
                }
            }
            Ok((capture, RequestId::from_seq(seq)))
        })
        .await
    }

    /// A bin's oldest requests that arrived after `after`, oldest first, with whole bodies: at
    /// most `limit`, and no more once their bodies reach `max_bytes` (the first always comes).
    pub async fn oldest_after(
        &self,
        bin: &BinId,
        after: RequestId,
        limit: usize,
        max_bytes: u64,
    ) -> Result<Vec<Capture>, StoreError> {
        let bin = bin.to_string();
        self.read(move |conn| {
            let sql = format!(
                "{} WHERE bin_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                select(None)
            );
            let mut st = conn.prepare_cached(&sql)?;
            let mut rows = st.query(params![bin, after.seq(), limit as i64])?;
            let (mut out, mut bytes) = (Vec::new(), 0u64);
            while bytes < max_bytes
                && let Some(row) = rows.next()?
            {
                let c = from_row(row)?;
                bytes += c.body_size;
                out.push(c);
            }
            Ok(out)
        })
        .await
    }

    /// The requests of `bin` just newer and just older than `id`, for stepping through a bin
    /// one request at a time; two index lookups, no bodies.
    pub async fn neighbours(
        &self,
        bin: &BinId,
        id: RequestId,
    ) -> Result<(Option<RequestId>, Option<RequestId>), StoreError> {
        let bin = bin.to_string();
        self.read(move |conn| {
            let one = |sql: &str| -> rusqlite::Result<Option<RequestId>> {
                conn.prepare_cached(sql)?
                    .query_row(params![bin, id.seq()], |r| r.get::<_, i64>(0))
                    .optional()
                    .map(|s| s.map(RequestId::from_seq))
            };
            let newer = one(
                "SELECT seq FROM requests WHERE bin_id = ?1 AND seq > ?2 ORDER BY seq LIMIT 1",
            )?;
            let older = one(
                "SELECT seq FROM requests WHERE bin_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT 1",
            )?;
            Ok((newer, older))
        })
        .await
    }

    /// A page of a bin's requests that pass `filter`, newest first, starting below the request
    /// `before`; each with its whole body, or at most `body_limit` leading bytes of it.
    pub async fn list_requests(
        &self,
        bin: &BinId,
        limit: usize,
        before: Option<RequestId>,
        body_limit: Option<usize>,
        filter: &Filter,
    ) -> Result<Page, StoreError> {
        let bin = bin.to_string();
        let filter = filter.clone();
        self.read(move |conn| {
            super::bins::get(conn, &bin)?;
            page(conn, &bin, limit, before, body_limit, &filter)
        })
        .await
    }

    /// One capture with its whole body, or with at most `body_limit` leading body bytes.
    pub async fn get_request(
        &self,
        id: RequestId,
        body_limit: Option<usize>,
    ) -> Result<Capture, StoreError> {
        self.read(move |conn| get(conn, id, body_limit)).await
    }

    /// Several captures with their whole bodies, in the order asked for; ids that are gone are
    /// left out.
    pub async fn get_requests(&self, ids: Vec<RequestId>) -> Result<Vec<Capture>, StoreError> {
        self.read(move |conn| {
            let marks = vec!["?"; ids.len()].join(",");
            let sql = format!("{} WHERE seq IN ({marks})", select(None));
            let mut found: std::collections::HashMap<RequestId, Capture> = conn
                .prepare(&sql)?
                .query_map(params_from_iter(ids.iter().map(|id| id.seq())), from_row)?
                .map(|c| c.map(|c| (c.id, c)))
                .collect::<Result<_, _>>()?;
            Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
        })
        .await
    }

    /// Deletes one capture; returns the bin it belonged to.
    pub async fn delete_request(&self, id: RequestId) -> Result<BinId, StoreError> {
        let counts = self.counts.clone();
        self.write_freeing(move |conn| {
            let bin: String = conn
                .prepare_cached("DELETE FROM requests WHERE seq = ?1 RETURNING bin_id")?
                .query_row([id.seq()], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("request {id}")))?;
            if let Some(held) = counts.lock().expect("counts poisoned").get_mut(&bin) {
                held.count = held.count.saturating_sub(1);
            }
            Ok(super::stored_bin_id(&bin, 0)?)
        })
        .await
    }
}
