//! Announces on this node's feed the captures every node commits, where the store reports
//! commits (PostgreSQL: nodes behind one load balancer share a database, and a bin page on one
//! node must show what another caught).
//!
//! Each report names a bin and the row keys one transaction wrote into it; when someone here
//! follows that bin, those rows are read back and announced (the feed drops the ones this
//! node announced itself). After a gap (the store's listener reconnected, or this task fell
//! behind) every followed bin is read again from when its followers began.

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use super::Feed;
use crate::inspect::signatures::SIGNATURE_HEADERS;
use crate::model::{BinId, Capture, CaptureSummary, RequestId};
use crate::store::{Filter, Heard, Store, StoreError};

/// Rows read per page when announcing a range.
const PAGE: usize = 256;

/// Follows the store's commit reports until `stopping` turns true; ends at once on an engine
/// without them (SQLite, whose captures all pass through this process's capturer).
pub async fn run(store: Store, feed: Feed, mut stopping: watch::Receiver<bool>) {
    let Some(mut heard) = store.follow() else {
        return;
    };
    loop {
        let next = tokio::select! {
            next = heard.recv() => next,
            _ = stopping.wait_for(|stop| *stop) => return,
        };
        let result = match next {
            Ok(Heard::Committed {
                bin,
                oldest,
                newest,
            }) if feed.is_watched(&bin) => {
                announce(&store, &feed, &bin, oldest, newest, usize::MAX).await
            }
            Ok(Heard::Committed { .. }) => Ok(()),
            Ok(Heard::Gap) | Err(RecvError::Lagged(_)) => {
                let mut result = Ok(());
                // Only what arrived since each bin's followers began (older captures are on
                // their pages already), and at most the newest page of it.
                for (bin, since) in feed.watched() {
                    let newest = RequestId::from_seq(i64::MAX - 1);
                    result = result.and(announce(&store, &feed, &bin, since, newest, 1).await);
                }
                result
            }
            Err(RecvError::Closed) => return,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot read captures committed by other nodes");
        }
    }
}

/// Announces the captures of `bin` from `oldest` up to `newest` (at most `pages` pages of the
/// newest of them), oldest first.
async fn announce(
    store: &Store,
    feed: &Feed,
    bin: &BinId,
    oldest: RequestId,
    newest: RequestId,
    pages: usize,
) -> Result<(), StoreError> {
    let mut found = Vec::new();
    let mut before = Some(RequestId::from_seq(newest.seq() + 1));
    for _ in 0..pages {
        let Some(below) = before else {
            break;
        };
        let page = match store
            .list_requests(bin, PAGE, Some(below), Some(0), &Filter::default())
            .await
        {
            Ok(page) => page,
            // Deleted meanwhile: nothing to announce.
            Err(StoreError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let reached = page.requests.last().is_none_or(|c| c.id <= oldest);
        found.extend(page.requests.into_iter().filter(|c| c.id >= oldest));
        before = if reached { None } else { page.next };
    }
    for c in found.iter().rev() {
        feed.publish(bin, c.id, || summary(c));
    }
    Ok(())
}

/// What the live feed shows of a stored capture.
fn summary(c: &Capture) -> CaptureSummary {
    CaptureSummary {
        id: c.id,
        bin_id: c.bin_id.clone(),
        received_at: c.received_at,
        method: c.method.clone(),
        path: c.path.clone(),
        query: c.query.clone(),
        content_type: c.content_type().map(str::to_owned),
        body_size: c.body_size,
        remote_addr: c.remote_addr.clone(),
        response_status: c.response_status,
        signed: SIGNATURE_HEADERS.iter().any(|h| c.header(h).is_some()),
    }
}
