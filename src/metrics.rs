//! Operational figures in the Prometheus text format (`GET /metrics`), through the
//! prometheus-client crate: what was captured and answered, what the writer commits and how
//! fast, what the sender delivered, forwards, live viewers and the database's size. One set
//! per store, so each server (and each test) counts only its own.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label with the HTTP status (or `none` when no answer came).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Status {
    pub status: String,
}

/// A label with a delivery's state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct State {
    pub state: String,
}

/// Every figure hookbin reports.
pub struct Metrics {
    registry: Mutex<Registry>,
    captures: Family<Status, Counter>,
    /// The `status="200"` series of `captures`, kept at hand: the capture path counts it
    /// without building a label.
    captured_ok: Counter,
    bytes_stored: Counter,
    batch_size: Histogram,
    queue_depth: Gauge,
    batch_seconds: Histogram,
    attempts: Family<Status, Counter>,
    attempt_seconds: Histogram,
    forwards: Family<Status, Counter>,
    deliveries: Family<State, Gauge>,
    subscribers: Gauge,
    database_bytes: Gauge,
    search_pending: Gauge,
}

fn status(code: Option<u16>) -> Status {
    Status {
        status: code.map_or_else(|| "none".to_owned(), |c| c.to_string()),
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("hookbin")),
            captures: Family::default(),
            captured_ok: Counter::default(),
            bytes_stored: Counter::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            queue_depth: Gauge::default(),
            batch_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            attempts: Family::default(),
            attempt_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            forwards: Family::default(),
            deliveries: Family::default(),
            subscribers: Gauge::default(),
            database_bytes: Gauge::default(),
            search_pending: Gauge::default(),
        };
        let ok = m.captures.get_or_create(&status(Some(200))).clone();
        let m = Metrics {
            captured_ok: ok,
            ..m
        };
        {
            let mut r = m.registry.lock().expect("registry poisoned");
            r.register(
                "captures",
                "Requests to bins, by the status hookbin answered",
                m.captures.clone(),
            );
            r.register(
                "captured_bytes",
                "Body bytes of captures stored",
                m.bytes_stored.clone(),
            );
            r.register(
                "writer_batch_size",
                "Writes committed together per transaction",
                m.batch_size.clone(),
            );
            r.register(
                "search_index_pending_requests",
                "Requests stored but not yet in the search index (searched by scanning meanwhile)",
                m.search_pending.clone(),
            );
            r.register(
                "writer_queue_depth",
                "Writes waiting for the writer when its last batch began",
                m.queue_depth.clone(),
            );
            r.register(
                "writer_batch_seconds",
                "Time from BEGIN to COMMIT of a write batch",
                m.batch_seconds.clone(),
            );
            r.register(
                "delivery_attempts",
                "Delivery attempts, by the receiver's status",
                m.attempts.clone(),
            );
            r.register(
                "delivery_attempt_seconds",
                "Time a delivery attempt took",
                m.attempt_seconds.clone(),
            );
            r.register("deliveries", "Deliveries by state", m.deliveries.clone());
            r.register(
                "forwards",
                "Forwards and replays, by the target's status",
                m.forwards.clone(),
            );
            r.register(
                "sse_subscribers",
                "Followers of the live feed: open bin pages and waiting long-polls",
                m.subscribers.clone(),
            );
            r.register(
                "database_bytes",
                "Size of the database file and its WAL",
                m.database_bytes.clone(),
            );
        }
        m
    }

    /// A request to a bin answered with `code` (stored or refused).
    pub fn capture(&self, code: u16) {
        if code == 200 {
            self.captured_ok.inc();
        } else {
            self.captures.get_or_create(&status(Some(code))).inc();
        }
    }

    /// How many captures this node has answered 200 so far: the sender paces itself by it.
    pub fn captured(&self) -> u64 {
        self.captured_ok.get()
    }

    /// A capture stored with `bytes` of body.
    pub fn stored(&self, bytes: u64) {
        self.bytes_stored.inc_by(bytes);
    }

    /// A write batch of `jobs` committed in `took`, with `queued` more waiting when it began.
    pub fn batch(&self, jobs: usize, queued: usize, took: Duration) {
        self.batch_size.observe(jobs as f64);
        self.queue_depth.set(queued as i64);
        self.batch_seconds.observe(took.as_secs_f64());
    }

    /// A delivery attempt that got `code` (or no answer) in `took`.
    pub fn attempt(&self, code: Option<u16>, took: Duration) {
        self.attempts.get_or_create(&status(code)).inc();
        self.attempt_seconds.observe(took.as_secs_f64());
    }

    /// A forward or replay that got `code` (or no answer).
    pub fn forward(&self, code: Option<u16>) {
        self.forwards.get_or_create(&status(code)).inc();
    }

    /// The figures read at scrape time, then the whole set in the text format.
    pub fn render(
        &self,
        deliveries: &[(String, u64)],
        subscribers: usize,
        database_bytes: u64,
        search_pending: u64,
    ) -> String {
        // A state no delivery is in any more reads 0, not the last count it had.
        for state in ["pending", "succeeded", "failed"] {
            let n = deliveries
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            self.deliveries
                .get_or_create(&State {
                    state: state.to_owned(),
                })
                .set(n as i64);
        }
        self.subscribers.set(subscribers as i64);
        self.database_bytes.set(database_bytes as i64);
        self.search_pending.set(search_pending as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(
            &mut out,
            &self.registry.lock().expect("registry poisoned"),
        )
        .expect("writing to a String cannot fail");
        out
    }
}
