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
    let after = match after {
        Some(a) => {
            if let Some(c) = app.store.first_after(&bin, a).await? {
                return Ok(response::json(StatusCode::OK, &RequestOut::new(&c, &base)));
            }
            a
        }
        // Row keys are arrival times (ms << 16): "after now" is a key too.
        None => RequestId::from_seq(chrono::Utc::now().timestamp_millis() << 16),
    };
    // A stopping server answers open waits at once (204) instead of holding its shutdown.
    let mut stopping = app.shutdown.clone();
    let waited = tokio::time::timeout(timeout, async {
        loop {
            match feed.recv().await {
                Ok(a) if a.summary.id > after => return Some(a.summary.id),
                Ok(_) => {}
                // Fell behind the feed: the store knows what arrived.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return Some(after),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let arrived = tokio::select! {
        r = waited => r,
        _ = stopping.wait_for(|stop| *stop) => Ok(None),
    };
    match arrived {
        Ok(Some(id)) if id == after => match app.store.first_after(&bin, after).await? {
            Some(c) => Ok(response::json(StatusCode::OK, &RequestOut::new(&c, &base))),
            None => Ok(response::no_content()),
        },
        Ok(Some(id)) => {
            let c = app.store.get_request(id, None).await?;
            Ok(response::json(StatusCode::OK, &RequestOut::new(&c, &base)))
        }
        Ok(None) | Err(_) => Ok(response::no_content()),
    }
}
