//! Captured requests: insert with eviction, keyset-paginated listing, read and delete.

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, StoreError, headers};
use crate::model::{BinId, Capture, NewCapture, RequestId};
use crate::time;

/// One page of a bin's requests, newest first, with the id to pass as `before` for the next.
#[derive(Debug)]
pub struct Page {
    pub requests: Vec<Capture>,
    pub next: Option<RequestId>,
}

/// The columns every read selects; `{body}` is the whole body or a leading slice of it.
fn select(body_limit: Option<usize>) -> String {
    let body = match body_limit {
        Some(0) => "X''".to_owned(),
        Some(n) => format!("substr(body, 1, {n})"),
        None => "body".to_owned(),
    };
    format!(
        "SELECT id, bin_id, received_at, method, path, query, http_version, remote_addr,
                headers, body_size, {body} FROM requests"
    )
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Capture> {
    let headers: Vec<u8> = row.get(8)?;
    let received: String = row.get(2)?;
    let bin: String = row.get(1)?;
    Ok(Capture {
        id: RequestId::parse(&row.get::<_, String>(0)?).unwrap_or_default(),
        bin_id: BinId::parse(&bin).expect("stored bin ids are valid"),
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
    })
}

/// Stores one capture and evicts the bin's oldest requests beyond `max_requests` (0 = keep all),
/// all inside the caller's transaction.
fn insert(conn: &Connection, c: &NewCapture, max_requests: u64) -> Result<(), StoreError> {
    let bumped = conn
        .prepare_cached("UPDATE bins SET request_count = request_count + 1 WHERE id = ?1")?
        .execute([c.bin_id.as_str()])?;
    if bumped == 0 {
        return Err(StoreError::NotFound(format!("bin {}", c.bin_id)));
    }
    conn.prepare_cached(
        "INSERT INTO requests (id, bin_id, received_at, method, path, query, http_version,
             remote_addr, headers, content_type, body_size, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        c.id.as_str(),
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
    ])?;
    if max_requests > 0 {
        evict(conn, c.bin_id.as_str(), max_requests)?;
    }
    Ok(())
}

fn evict(conn: &Connection, bin: &str, keep: u64) -> Result<(), StoreError> {
    let count: i64 = conn
        .prepare_cached("SELECT request_count FROM bins WHERE id = ?1")?
        .query_row([bin], |r| r.get(0))?;
    if count as u64 <= keep {
        return Ok(());
    }
    let removed = conn
        .prepare_cached(
            "DELETE FROM requests WHERE bin_id = ?1 AND seq <= (
                 SELECT seq FROM requests WHERE bin_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        )?
        .execute(params![bin, keep as i64])?;
    conn.prepare_cached("UPDATE bins SET request_count = request_count - ?2 WHERE id = ?1")?
        .execute(params![bin, removed as i64])?;
    Ok(())
}

fn page(
    conn: &Connection,
    bin: &str,
    limit: usize,
    before: Option<&str>,
    body_limit: Option<usize>,
) -> Result<Page, StoreError> {
    let before_seq: i64 = match before {
        None => i64::MAX,
        Some(id) => conn
            .prepare_cached("SELECT seq FROM requests WHERE id = ?1 AND bin_id = ?2")?
            .query_row([id, bin], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("request {id} in bin {bin}")))?,
    };
    // One extra row tells whether another page follows.
    let sql = format!(
        "{} WHERE bin_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
        select(body_limit)
    );
    let mut requests: Vec<Capture> = conn
        .prepare_cached(&sql)?
        .query_map(params![bin, before_seq, limit as i64 + 1], from_row)?
        .collect::<Result<_, _>>()?;
    let next = if requests.len() > limit {
        requests.truncate(limit);
        requests.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(Page { requests, next })
}

fn get(conn: &Connection, id: &str, body_limit: Option<usize>) -> Result<Capture, StoreError> {
    let sql = format!("{} WHERE id = ?1", select(body_limit));
    conn.prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("request {id}")))
}

impl Store {
    /// Stores a capture durably; resolves only after the transaction holding it has committed.
    pub async fn insert_capture(
        &self,
        capture: NewCapture,
        max_requests: u64,
    ) -> Result<NewCapture, StoreError> {
        self.write(move |conn| {
            insert(conn, &capture, max_requests)?;
            Ok(capture)
        })
        .await
    }

    /// A page of a bin's requests, newest first, starting below the request `before`; each
    /// with its whole body, or at most `body_limit` leading bytes of it.
    pub async fn list_requests(
        &self,
        bin: &BinId,
        limit: usize,
        before: Option<&RequestId>,
        body_limit: Option<usize>,
    ) -> Result<Page, StoreError> {
        let bin = bin.to_string();
        let before = before.map(|b| b.to_string());
        self.read(move |conn| {
            super::bins::get(conn, &bin)?;
            page(conn, &bin, limit, before.as_deref(), body_limit)
        })
        .await
    }

    /// One capture with its whole body, or with at most `body_limit` leading body bytes.
    pub async fn get_request(
        &self,
        id: &RequestId,
        body_limit: Option<usize>,
    ) -> Result<Capture, StoreError> {
        let id = id.to_string();
        self.read(move |conn| get(conn, &id, body_limit)).await
    }

    /// Deletes one capture; returns the bin it belonged to.
    pub async fn delete_request(&self, id: &RequestId) -> Result<BinId, StoreError> {
        let id = id.to_string();
        self.write(move |conn| {
            let bin: String = conn
                .prepare_cached("DELETE FROM requests WHERE id = ?1 RETURNING bin_id")?
                .query_row([&id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("request {id}")))?;
            conn.prepare_cached("UPDATE bins SET request_count = request_count - 1 WHERE id = ?1")?
                .execute([&bin])?;
            Ok(BinId::parse(&bin).expect("stored bin ids are valid"))
        })
        .await
    }
}
