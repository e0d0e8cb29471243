//! The retention sweeper: once a minute, deletes bins idle past `--bin-ttl` and finished
//! deliveries older than `--delivery-retention`. Deletes go through the writer in small
//! chunks, so captures keep flowing while a large log is pruned.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::Store;

const EVERY: Duration = Duration::from_secs(60);

/// Starts the sweeper; it stops when `shutdown` turns true.
pub fn spawn(
    store: Store,
    bin_ttl: Option<Duration>,
    delivery_retention: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            sweep(&store, bin_ttl, delivery_retention, chrono::Utc::now()).await;
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    })
}

/// One pass as of `now` (the clock is a parameter so that tests can move it); errors are
/// logged, and the next pass tries again.
pub async fn sweep(
    store: &Store,
    bin_ttl: Option<Duration>,
    delivery_retention: Duration,
    now: chrono::DateTime<chrono::Utc>,
) {
    if let Some(ttl) = bin_ttl {
        match store.expire_bins(ttl, now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(bins = n, "deleted idle bins"),
            Err(e) => tracing::warn!(error = %e, "cannot expire bins"),
        }
    }
    match store.prune_deliveries(delivery_retention, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deliveries = n, "pruned old deliveries"),
        Err(e) => tracing::warn!(error = %e, "cannot prune deliveries"),
    }
}
