//! The delivery worker: claims due deliveries from the outbox and sends them concurrently,
//! at most `per_endpoint` at a time to any one host, so one slow receiver cannot hold up the
//! rest. It sleeps until woken (something was queued, or room freed for deliveries it had to
//! leave), until the next delivery falls due, or for at most a second, so deliveries queued by
//! another process (the CLI) on the same database are picked up too.
//!
//! While the node is busy capturing, it starts only as many attempts as [`super::pace`]
//! allows, so a retry storm does not take the cores from the bins.
//!
//! It runs on a thread of its own at normal priority: a lower one starved deliveries whenever
//! anything else kept the cores busy (20× slower beside three busy loops), and bought the
//! captures nothing measurable.
//!
//! Attempts are claimed and recorded in batches, because each claim and each record is a
//! write transaction and a storm of fast failures (a receiver that is down) would otherwise
//! cost two transactions per attempt:
//! - after a wake-up the worker lets [`GATHER`] pass, so whatever falls due meanwhile is taken
//!   in the same claim;
//! - an endpoint that answers fast gets up to [`QUEUED`] times its concurrency claimed at once,
//!   the extra waiting here for a place, and is claimed for again once half of that is gone;
//!   one kept waiting too long is left to its lease and claimed again later;
//! - an attempt frees its place at the endpoint as soon as it has an answer; its record goes
//!   to a recorder that writes the attempts of a few milliseconds in one write, and the
//!   delivery's slot in flight is given back only once its attempt is recorded. Until then
//!   the claim's lease keeps the delivery from being sent again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::pace::{self, Pace};
use super::{Retries, Sender};
use crate::model::{Attempt, DeliveryId, DueDelivery};
use crate::store::{Admit, Next, Store};

/// Most attempts recorded in one write.
const RECORD_BATCH: usize = 512;
/// How long the recorder gathers attempts after the first before it writes them.
const RECORD_GATHER: Duration = Duration::from_millis(5);

/// An attempt to record, and who waits for it to be recorded.
type Record = (DeliveryId, Attempt, Next, oneshot::Sender<()>);

/// Records attempts in batches: everything sent while the last batch was being written goes in
/// the next one. Failures are logged; the delivery's lease then runs out and it is sent again
/// (at least once).
async fn recorder(store: Store, mut rx: mpsc::UnboundedReceiver<Record>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        // Attempts that end within a moment of each other share one write.
        let gather = tokio::time::sleep(RECORD_GATHER);
        tokio::pin!(gather);
        while batch.len() < RECORD_BATCH {
            let room = RECORD_BATCH - batch.len();
            tokio::select! {
                n = rx.recv_many(&mut batch, room) => if n == 0 { break },
                () = &mut gather => break,
            }
        }
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
/// Most deliveries taken in one claim.
const CLAIM_BATCH: usize = 128;
/// How long the worker lets deliveries fall due (or be queued) after it was woken before it
/// claims, so that a stream of them is taken in a few claims rather than one claim each.
const GATHER: Duration = Duration::from_millis(20);
/// An endpoint whose last attempt took less than this answers (or fails) fast: the worker
/// claims up to [`QUEUED`] times its concurrency at once and keeps the extra waiting here, so
/// a storm of fast failures costs one claim per several attempts, not one per attempt.
const FAST: Duration = Duration::from_millis(100);
/// How many times its concurrency a fast endpoint may have claimed at once.
const QUEUED: usize = 8;
/// A delivery kept waiting for its endpoint's place longer than this is not sent: its lease
/// (the timeout plus [`super::LEASE_MARGIN`]) could run out during the attempt. It is left to
/// a later claim once the lease ends.
const START_WITHIN: Duration = Duration::from_secs(3);

/// What the worker holds for one endpoint: deliveries claimed and not yet answered (waiting
/// or in flight), the places that bound how many are in flight, and whether it is fast.
struct Endpoint {
    claimed: usize,
    places: Arc<Semaphore>,
    fast: bool,
}

impl Endpoint {
    /// How many deliveries this endpoint may have claimed at once.
    fn most(&self, per_endpoint: usize) -> usize {
        per_endpoint * if self.fast { QUEUED } else { 1 }
    }

    /// Counts one more delivery claimed for this endpoint; its places to wait for.
    fn take(&mut self) -> Arc<Semaphore> {
        self.claimed += 1;
        self.places.clone()
    }
}

/// Starts the worker on a thread of its own, so its claims, signing and records never queue
/// behind the server's tasks; it stops when `shutdown` turns true or its sender is dropped
/// (leases let unfinished sends resume). The handle finishes when the worker has stopped.
pub fn spawn(
    sender: Sender,
    per_endpoint: usize,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let (stopped, done) = oneshot::channel::<()>();
    let started = std::thread::Builder::new()
        .name("hookbin-sender".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the sender");
            rt.block_on(run(sender, per_endpoint.max(1), shutdown));
            let _ = stopped.send(());
        });
    if let Err(e) = started {
        tracing::error!(error = %e, "cannot start the delivery worker");
    }
    tokio::spawn(async move {
        let _ = done.await;
    })
}

/// The part of a URL that identifies the receiving server.
fn endpoint(url: &str) -> String {
    url.parse::<hyper::Uri>()
        .ok()
        .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)))
        .unwrap_or_else(|| url.to_owned())
}

/// What the worker and each of its sends share.
#[derive(Clone)]
struct Shared {
    sender: Sender,
    per_endpoint: usize,
    busy: Arc<Mutex<HashMap<String, Endpoint>>>,
    /// One permit per delivery in flight or waiting for its record, at most [`MAX_IN_FLIGHT`].
    slots: Arc<Semaphore>,
    /// Room freed for more: an endpoint's queue half gone, or a slot after all were taken.
    freed: Arc<Notify>,
    record: mpsc::UnboundedSender<Record>,
}

async fn run(sender: Sender, per_endpoint: usize, mut shutdown: watch::Receiver<bool>) {
    let lease_ms = sender.lease().as_millis() as i64;
    let (record, records) = mpsc::unbounded_channel::<Record>();
    tokio::spawn(recorder(sender.store.clone(), records));
    let w = Shared {
        sender,
        per_endpoint,
        busy: Arc::default(),
        slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        freed: Arc::new(Notify::new()),
        record,
    };
    let mut pace = Pace::new(std::time::Instant::now());
    loop {
        if *shutdown.borrow() {
            break;
        }
        let room = w.slots.available_permits();
        let captured = w.sender.store.metrics().captured();
        let allowed = pace.allowance(std::time::Instant::now(), captured);
        let most = room.min(CLAIM_BATCH);
        let paced = allowed < most;
        let limit = most.min(allowed);
        let refused = Arc::new(AtomicBool::new(false));
        let mut claimed = Vec::new();
        if limit > 0 {
            let admit = w.admission(refused.clone());
            match w.sender.store.claim_due(limit, lease_ms, admit).await {
                Ok(c) => claimed = c,
                Err(e) => tracing::error!(error = %e, "cannot claim deliveries"),
            }
        }
        let full = limit > 0 && claimed.len() == limit;
        pace.spend(claimed.len());
        for d in claimed {
            let key = endpoint(&d.url);
            let places = w
                .busy
                .lock()
                .expect("busy map")
                .entry(key.clone())
                .or_insert_with(|| Endpoint {
                    claimed: 0,
                    places: Arc::new(Semaphore::new(per_endpoint)),
                    fast: false,
                })
                .take();
            let slot = w
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore open");
            tokio::spawn(w.clone().send(d, key, places, slot));
        }
        // Held back for the captures: claim again when the allowance has grown.
        if paced && (full || limit == 0) {
            tokio::select! {
                () = tokio::time::sleep(pace::TICK) => continue,
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        if full && room > limit {
            continue;
        }
        // Wait for a reason to claim again: something queued, the next delivery falling due,
        // or (when this claim left due deliveries behind for want of room) room freed.
        let capped = full || refused.load(Ordering::Relaxed);
        let nap = match w.sender.store.next_due().await {
            Ok(Some(t)) => (t - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(POLL),
            _ => POLL,
        };
        let gather = tokio::select! {
            () = w.sender.wake.notified() => true,
            () = w.freed.notified(), if capped => false,
            // Deliveries left behind are already due: the timer then only looks again after
            // a moment, for other endpoints' deliveries, and claims at once.
            () = tokio::time::sleep(if capped { nap.max(GATHER) } else { nap }) => !capped,
            // Told to stop, or whoever could tell it is gone (the server was dropped).
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        // Whatever falls due or is queued in the next moment goes in the same claim; room
        // freed for deliveries already due is claimed at once.
        if gather {
            tokio::select! {
                () = tokio::time::sleep(GATHER) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    }
}

impl Shared {
    /// The claim's admission rule: an endpoint takes deliveries up to its concurrency, or
    /// [`QUEUED`] times that when it answers fast; `refused` notes that one was turned away.
    fn admission(&self, refused: Arc<AtomicBool>) -> Admit {
        let per_endpoint = self.per_endpoint;
        // Per endpoint: how many it has claimed, and the most it may.
        let mut seen: HashMap<String, (usize, usize)> = self
            .busy
            .lock()
            .expect("busy map")
            .iter()
            .map(|(key, e)| (key.clone(), (e.claimed, e.most(per_endpoint))))
            .collect();
        Box::new(move |url: &str| {
            let (n, most) = seen.entry(endpoint(url)).or_insert((0, per_endpoint));
            if *n < *most {
                *n += 1;
                true
            } else {
                refused.store(true, Ordering::Relaxed);
                false
            }
        })
    }

    /// One claimed delivery to `key`: waits for a place at the endpoint, makes the attempt
    /// (unless it waited so long that its lease could run out meanwhile), and hands it to the
    /// recorder.
    async fn send(
        self,
        d: DueDelivery,
        key: String,
        places: Arc<Semaphore>,
        slot: OwnedSemaphorePermit,
    ) {
        let waited = tokio::time::Instant::now();
        let place = places.acquire_owned().await.expect("semaphore open");
        let sent = if waited.elapsed() <= START_WITHIN {
            Some(self.sender.try_once(&d, Retries::OnSchedule).await)
        } else {
            None
        };
        drop(place);
        let low = {
            let mut b = self.busy.lock().expect("busy map");
            let e = b.get_mut(&key).expect("a claimed delivery's endpoint");
            e.claimed -= 1;
            if let Some((attempt, _)) = &sent {
                e.fast = Duration::from_millis(attempt.duration_ms) < FAST;
            }
            let low = e.claimed <= e.most(self.per_endpoint) / 2;
            // An endpoint is forgotten once idle, unless it is fast: that is what the next
            // claim needs to know about it.
            if e.claimed == 0 && !e.fast {
                b.remove(&key);
            }
            low
        };
        // Another claim is worth a transaction once this endpoint's queue is half gone.
        if low {
            self.freed.notify_one();
        }
        if let Some((attempt, next)) = sent {
            let (done, recorded) = oneshot::channel();
            if self.record.send((d.id, attempt, next, done)).is_ok() {
                let _ = recorded.await;
            }
        }
        // A freed slot is worth a claim only when every slot was taken.
        let was_full = self.slots.available_permits() == 0;
        drop(slot);
        if was_full {
            self.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::watch;

    use crate::config::Config;
    use crate::outbound::Client;
    use crate::sender::Sender;
    use crate::store::Store;

    /// Starts a worker over a fresh database, with its stop switch.
    async fn worker(dir: &tempfile::TempDir) -> (watch::Sender<bool>, super::JoinHandle<()>) {
        let config = Config::new(dir.path().join("h.db"));
        let store = Store::open(&config.db).await.unwrap();
        let client = Client::new(config.timeout, false, &config.trust);
        let sender = Sender::new(store, config.catalog, config.retry, client);
        let (stop, stopping) = watch::channel(false);
        (stop, super::spawn(sender, 4, stopping))
    }

    /// Fails unless the worker's handle finishes within a deadline.
    async fn stops(handle: super::JoinHandle<()>) {
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("the worker stopped")
            .unwrap();
    }

    #[tokio::test]
    async fn the_worker_stops_when_told_to() {
        let dir = tempfile::tempdir().unwrap();
        let (stop, handle) = worker(&dir).await;
        stop.send(true).unwrap();
        stops(handle).await;
    }

    #[tokio::test]
    async fn the_worker_stops_when_its_server_is_dropped_without_a_word() {
        // A dropped switch must not read as "go on" at once, or the worker claims in a loop
        // (on a thread of its own, outliving the server) for as long as the process lives.
        let dir = tempfile::tempdir().unwrap();
        let (stop, handle) = worker(&dir).await;
        drop(stop);
        stops(handle).await;
    }
}
