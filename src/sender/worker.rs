//! The delivery worker: claims due deliveries from the outbox and sends them concurrently,
//! at most `per_endpoint` at a time to any one host, so one slow receiver cannot hold up the
//! rest. It sleeps until woken (something was queued or finished), until the next delivery
//! falls due, or for at most a second, so deliveries queued by another process (the CLI) on the
//! same database are picked up too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::{Retries, Sender};

/// Most deliveries in flight at once, over all endpoints.
const MAX_IN_FLIGHT: usize = 256;
/// Longest the worker sleeps without looking at the outbox.
const POLL: Duration = Duration::from_secs(1);

/// Starts the worker; it stops when `shutdown` turns true (leases let unfinished sends resume).
pub fn spawn(
    sender: Sender,
    per_endpoint: usize,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(run(sender, per_endpoint.max(1), shutdown))
}

/// The part of a URL that identifies the receiving server.
fn endpoint(url: &str) -> String {
    url.parse::<hyper::Uri>()
        .ok()
        .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)))
        .unwrap_or_else(|| url.to_owned())
}

async fn run(sender: Sender, per_endpoint: usize, mut shutdown: watch::Receiver<bool>) {
    let busy: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let lease_ms = sender.lease().as_millis() as i64;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let room = slots.available_permits();
        let mut claimed = Vec::new();
        if room > 0 {
            let mut seen = busy.lock().expect("busy map").clone();
            let admit = Box::new(move |url: &str| {
                let n = seen.entry(endpoint(url)).or_default();
                let ok = *n < per_endpoint;
                if ok {
                    *n += 1;
                }
                ok
            });
            match sender.store.claim_due(room.min(128), lease_ms, admit).await {
                Ok(c) => claimed = c,
                Err(e) => tracing::error!(error = %e, "cannot claim deliveries"),
            }
        }
        let full_batch = !claimed.is_empty() && claimed.len() == room.min(128);
        for d in claimed {
            let key = endpoint(&d.url);
            *busy
                .lock()
                .expect("busy map")
                .entry(key.clone())
                .or_default() += 1;
            let permit = slots.clone().acquire_owned().await.expect("semaphore open");
            let (sender, busy) = (sender.clone(), busy.clone());
            tokio::spawn(async move {
                if let Err(e) = sender.deliver(&d, Retries::OnSchedule).await {
                    // The lease runs out and the delivery is sent again: at least once.
                    tracing::error!(error = %e, delivery = %d.id, "cannot record attempt");
                }
                let mut b = busy.lock().expect("busy map");
                if let Some(n) = b.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        b.remove(&key);
                    }
                }
                drop(b);
                drop(permit);
                sender.wake();
            });
        }
        if full_batch {
            continue;
        }
        let nap = match sender.store.next_due().await {
            Ok(Some(t)) => (t - chrono::Utc::now()).to_std().unwrap_or(POLL).min(POLL),
            _ => POLL,
        };
        tokio::select! {
            () = sender.wake.notified() => {}
            () = tokio::time::sleep(nap) => {}
            _ = shutdown.changed() => {}
        }
    }
}
