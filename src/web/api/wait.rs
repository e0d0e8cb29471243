//! The long-poll a test uses to wait for a webhook instead of sleeping:
//! `GET /api/bins/{id}/wait?after=<request_id>&timeout=30s` answers with the first request that
//! arrived after `after` as soon as there is one (at once if it is already stored), or 204 when
//! the timeout passes first. Without `after`, it waits for the next request from now on.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::bins::RequestOut;
use crate::model::{BinId, RequestId};
use crate::units::parse_duration;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, query_pairs};

/// The longest a single wait may last; clients wait longer by asking again.
const MAX_WAIT: Duration = Duration::from_secs(120);
/// How often a found capture is checked again while an earlier one may still commit.
const SETTLE_POLL: Duration = Duration::from_millis(5);

pub async fn wait(
    app: &App,
    req: &Request<Incoming>,
    bin: BinId,
) -> Result<Response<Body>, WebError> {
    let mut after = None;
    let mut timeout = Duration::from_secs(30);
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
            _ => {}
        }
    }
    // Listen before looking, so nothing can arrive between the look and the wait.
    let mut feed = app.feed.subscribe(&bin);
    app.store.get_bin(&bin).await?;
    let base = app.base_url(req);
    // Row keys are arrival times (ms << 16): "after now" is a key too.
    let after =
        after.unwrap_or_else(|| RequestId::from_seq(chrono::Utc::now().timestamp_millis() << 16));
    let deadline = tokio::time::Instant::now() + timeout;
    // A stopping server answers open waits at once (204) instead of holding its shutdown.
    let mut stopping = app.shutdown.clone();
    loop {
        // The answer is the first capture after `after` once none before it can still commit
        // (several nodes commit out of id order): a client that moves its cursor to it then
        // misses nothing. The bound is read first: every capture below it has committed by
        // then, so the look that follows sees them all.
        let bound = app.store.settled_below().await?;
        if let Some(c) = app.store.first_after(&bin, after).await? {
            if bound.is_none_or(|s| c.id < s) {
                return Ok(response::json(StatusCode::OK, &RequestOut::new(&c, &base)));
            }
            // Another node's transaction that began earlier is still open: look again soon.
            tokio::select! {
                _ = tokio::time::sleep(SETTLE_POLL) => continue,
                _ = tokio::time::sleep_until(deadline) => return Ok(response::no_content()),
                _ = stopping.wait_for(|stop| *stop) => return Ok(response::no_content()),
            }
        }
        loop {
            let woken = tokio::select! {
                m = feed.recv() => m,
                _ = tokio::time::sleep_until(deadline) => return Ok(response::no_content()),
                _ = stopping.wait_for(|stop| *stop) => return Ok(response::no_content()),
            };
            match woken {
                Ok(a) if a.summary.id <= after => {}
                // Something after `after` arrived (or the feed fell behind): the store says
                // what comes first.
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return Ok(response::no_content());
                }
            }
        }
    }
}
