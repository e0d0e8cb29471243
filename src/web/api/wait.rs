//! The long-poll a test uses to wait for a webhook instead of sleeping:
//! `GET /api/bins/{id}/wait?after=<request_id>&timeout=30s` answers with the first request that
//! arrived after `after` as soon as there is one (at once if it is already stored), or 204 when
//! the timeout passes first. Without `after`, it waits for the next request from now on.
//! `GET /api/bins/{id}/next` is the same wait answering with a batch: every request after
//! `after` up to `limit`, oldest first.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::bins::RequestOut;
use crate::model::{BinId, RequestId};
use crate::units::parse_duration;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, parse_limit, query_pairs};

/// The longest a single wait may last; clients wait longer by asking again.
const MAX_WAIT: Duration = Duration::from_secs(120);
/// How often a found capture is checked again while an earlier one may still commit.
const SETTLE_POLL: Duration = Duration::from_millis(5);

/// Most requests one `next` answer carries, and its default.
const MAX_BATCH: usize = 1000;
const DEFAULT_BATCH: usize = 100;
/// A `next` answer stops adding requests once their bodies reach this many bytes (the first
/// always comes), so one answer stays a few MiB whatever the bodies.
const BATCH_BYTES: u64 = 4 * 1024 * 1024;

/// `GET /api/bins/{id}/wait`: the first request after `after`, as soon as there is one.
pub async fn wait(
    app: &App,
    req: &Request<Incoming>,
    bin: BinId,
) -> Result<Response<Body>, WebError> {
    let (after, timeout, _) = params(req, false)?;
    let base = app.base_url(req);
    Ok(match arrived_after(app, bin, after, timeout, 1).await? {
        Some(found) => response::json(StatusCode::OK, &RequestOut::new(&found[0], &base)),
        None => response::no_content(),
    })
}

/// `GET /api/bins/{id}/next?after=<id>&limit=100&timeout=30s`: like `wait`, but answers with
/// every request after `after` up to `limit`, oldest first, as `{"requests": [...]}`, so a
/// client walking a bin (as `hookbin listen` does) takes a backlog many at a time.
pub async fn next(
    app: &App,
    req: &Request<Incoming>,
    bin: BinId,
) -> Result<Response<Body>, WebError> {
    let (after, timeout, limit) = params(req, true)?;
    let base = app.base_url(req);
    Ok(
        match arrived_after(app, bin, after, timeout, limit).await? {
            Some(found) => {
                // Base64 and text of each body, base64 and text of each header, and the rest.
                let size = found
                    .iter()
                    .map(|c| {
                        let headers: usize =
                            c.headers.iter().map(|h| h.name.len() + h.value.len()).sum();
                        c.body.len() * 3 + headers * 3 + 512
                    })
                    .sum();
                let requests = found.iter().map(|c| RequestOut::new(c, &base)).collect();
                response::json_sized(StatusCode::OK, &Batch { requests }, size)
            }
            None => response::no_content(),
        },
    )
}

/// The answer of `next`, serialized straight from its parts (not through a `Value` tree).
#[derive(serde::Serialize)]
struct Batch {
    requests: Vec<RequestOut>,
}

/// `after`, `timeout` and (when `batch`) `limit` from the query; unknown keys are ignored.
fn params(
    req: &Request<Incoming>,
    batch: bool,
) -> Result<(Option<RequestId>, Duration, usize), WebError> {
    let mut after = None;
    let mut timeout = Duration::from_secs(30);
    let mut limit = if batch { DEFAULT_BATCH } else { 1 };
    for (k, v) in query_pairs(req) {
        match k.as_str() {
            "after" => {
                after = Some(RequestId::parse(&v).ok_or_else(|| {
                    WebError::BadRequest(format!("after must be a request id, not '{v}'"))
                })?)
            }
            "timeout" => {
                timeout = parse_duration(&v)
                    .ok()
                    .filter(|d| *d <= MAX_WAIT)
                    .ok_or_else(|| {
                        WebError::BadRequest(format!(
                            "timeout must be a duration up to 120s, like 30s, not '{v}'"
                        ))
                    })?
            }
            "limit" if batch => limit = parse_limit(&v, MAX_BATCH)?,
            _ => {}
        }
    }
    Ok((after, timeout, limit))
}

/// Up to `limit` captures of `bin` after `after`, oldest first, as soon as there is one;
/// `None` when `timeout` passes first or the server is stopping.
async fn arrived_after(
    app: &App,
    bin: BinId,
    after: Option<RequestId>,
    timeout: Duration,
    limit: usize,
) -> Result<Option<Vec<crate::model::Capture>>, WebError> {
    // Listen before looking, so nothing can arrive between the look and the wait.
    let mut feed = app.feed.subscribe(&bin);
    app.store.get_bin(&bin).await?;
    // Row keys are arrival times (ms << 16): "after now" is a key too.
    let after =
        after.unwrap_or_else(|| RequestId::from_seq(chrono::Utc::now().timestamp_millis() << 16));
    let deadline = tokio::time::Instant::now() + timeout;
    // A stopping server answers open waits at once (204) instead of holding its shutdown.
    let mut stopping = app.shutdown.clone();
    loop {
        // The answer is what came after `after` once none before it can still commit (several
        // nodes commit out of id order): a client that moves its cursor past it then misses
        // nothing. The bound is read first: every capture below it has committed by then, so
        // the look that follows sees them all.
        let bound = app.store.settled_below().await?;
        let mut found = app
            .store
            .oldest_after(&bin, after, limit, BATCH_BYTES)
            .await?;
        if !found.is_empty() {
            if let Some(s) = bound {
                found.retain(|c| c.id < s);
            }
            if !found.is_empty() {
                return Ok(Some(found));
            }
            // Another node's transaction that began earlier is still open: look again soon.
            tokio::select! {
                _ = tokio::time::sleep(SETTLE_POLL) => continue,
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
                _ = stopping.wait_for(|stop| *stop) => return Ok(None),
            }
        }
        loop {
            let woken = tokio::select! {
                m = feed.recv() => m,
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
                _ = stopping.wait_for(|stop| *stop) => return Ok(None),
            };
            match woken {
                Ok(a) if a.summary.id <= after => {}
                // Something after `after` arrived (or the feed fell behind): the store says
                // what comes first.
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(None),
            }
        }
    }
}
