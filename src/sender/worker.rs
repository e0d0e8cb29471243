//! The delivery worker: claims due deliveries from the outbox and sends them concurrently,
//! at most `per_endpoint` at a time to any one host, so one slow receiver cannot hold up the
//! rest. It sleeps until woken (something was queued or finished), until the next delivery
//! falls due, or for at most a second, so deliveries queued by another process (the CLI) on the
//! same database are picked up too.
//!
//! An attempt frees its place at the endpoint as soon as it has an answer; its record goes to
//! a recorder that writes every attempt finished while the previous write was under way in one
//! write, and the delivery's slot in flight is given back only once its attempt is recorded.
//! A storm of fast failures (a receiver that is down) so costs one write per batch of attempts
//! rather than one per attempt; until it is recorded, the claim's lease keeps the delivery from
//! being sent again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::{Retries, Sender};
use crate::model::{Attempt, DeliveryId};
use crate::store::{Next, Store};

/// Most attempts recorded in one write.
const RECORD_BATCH: usize = 512;

/// An attempt to record, and who waits for it to be recorded.
type Record = (DeliveryId, Attempt, Next, oneshot::Sender<()>);

/// Records attempts in batches: everything sent while the last batch was being written goes in
/// the next one. Failures are logged; the delivery's lease then runs out and it is sent again
/// (at least once).
async fn recorder(store: Store, mut rx: mpsc::UnboundedReceiver<Record>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let (items, waiting): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|(id, attempt, next, done)| ((id, attempt, next), done))
            .unzip();
        match store.record_attempts(items).await {
            Ok(gone) => {
                for id in gone {
                    tracing::debug!(delivery = %id, "the delivery was deleted before its attempt was recorded");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot record attempts"),
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}

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
    let (record, records) = mpsc::unbounded_channel::<Record>();
    tokio::spawn(recorder(sender.store.clone(), records));
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
            let (sender, busy, record) = (sender.clone(), busy.clone(), record.clone());
            tokio::spawn(async move {
                let (attempt, next) = sender.try_once(&d, Retries::OnSchedule).await;
                {
                    let mut b = busy.lock().expect("busy map");
                    if let Some(n) = b.get_mut(&key) {
                        *n -= 1;
                        if *n == 0 {
                            b.remove(&key);
                        }
                    }
                }
                sender.wake();
                let (done, recorded) = oneshot::channel();
                if record.send((d.id, attempt, next, done)).is_ok() {
                    let _ = recorded.await;
                }
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
