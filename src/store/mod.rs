//! The `Store`: the one face the rest of hookbin talks to, over one of two engines.
//!
//! - `sqlite`: the embedded default, one process owning one database file, with a group-commit
//!   writer thread and the search index.
//! - `pg`: PostgreSQL, for a team instance whose nodes share one database.
//!
//! `--db` chooses: a `postgres://` (or `postgresql://`) URL selects PostgreSQL, anything else
//! is a SQLite file path. Both engines answer every method below the same way (the integration
//! suite runs on each), so `web`, `capture` and `sender` never learn which one is behind it.
//! Each acknowledges a write only after its transaction has committed. The store never sees
//! HTTP types: callers hand it plain `model` data.

mod filter;
mod headers;
pub mod pg;
mod query;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::metrics::Metrics;
use crate::model::{
    Attempt, Bin, BinId, BinSettings, Capture, Delivery, DeliveryId, DueDelivery, EventId,
    NewCapture, Relay, RequestId, Webhook, WebhookId,
};

pub use filter::Filter;
pub use headers::{decode as decode_headers, encode as encode_headers};
pub use pg::follow::Heard;
pub use query::{Admit, BinOrder, BinPage, BinQuery, Next, Page, WebhookFields, WebhookPatch};
pub use sqlite::lock::{LockError, ServerLock};
pub use sqlite::schema::SCHEMA_VERSION;
pub use sqlite::search;

/// What can go wrong in storage; the web layer maps each kind to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("cannot open database {}: {cause}", path.display())]
    Open {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    #[error(
        "database {path} has schema version {found}, newer than this hookbin supports ({supported}); upgrade hookbin or use another --db"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{0}")]
    Full(String),
    #[error("{0}")]
    ReadOnly(String),
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("commit failed: {0}")]
    Commit(String),
    /// The database server cannot be reached (PostgreSQL): a 503, and worth retrying.
    #[error("{0}")]
    Unreachable(String),
    #[error("the store is shut down")]
    Closed,
    /// A write job panicked (a bug); its writes were rolled back.
    #[error("the write failed on an internal error and nothing of it was stored")]
    Panicked,
}

/// Cuts a list read with one item beyond `limit` (which only says that another page follows)
/// back to `limit`; the key of its last item when another page follows, for the next page.
pub(crate) fn cut<T, K>(items: &mut Vec<T>, limit: usize, key: impl FnOnce(&T) -> K) -> Option<K> {
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(key)
    } else {
        None
    }
}

/// A cheap-to-clone handle to hookbin's database, whichever engine holds it.
#[derive(Clone)]
pub struct Store {
    engine: Engine,
    metrics: Arc<Metrics>,
}

#[derive(Clone)]
enum Engine {
    Sqlite(sqlite::Sqlite),
    Pg(pg::PgStore),
}

/// True when `db` names a PostgreSQL database (a `postgres://` or `postgresql://` URL) rather
/// than a SQLite file.
pub fn is_postgres(db: &Path) -> bool {
    let text = db.to_string_lossy();
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// `db` as it may be shown: a PostgreSQL URL without its password.
pub fn shown(db: &Path) -> String {
    let text = db.to_string_lossy();
    if !is_postgres(db) {
        return text.into_owned();
    }
    let (scheme, rest) = text.split_once("://").unwrap_or(("", &text));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split_once(':').map_or(user, |(n, _)| n);
            format!("{scheme}://{name}:***@{host}{}", &rest[end..])
        }
        _ => text.into_owned(),
    }
}

/// A bin's answer rules as stored: JSON, or NULL for none.
fn rules_text(rules: &[crate::rules::Rule]) -> Option<String> {
    (!rules.is_empty()).then(|| serde_json::to_string(rules).expect("rules serialize"))
}

/// Stored answer rules read back; a row this build cannot read counts as no rules.
fn rules_from_text(text: Option<String>) -> Arc<Vec<crate::rules::Rule>> {
    Arc::new(
        text.and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
    )
}

/// Methods both engines have with the same signature: each is passed to the engine behind the
/// face.
macro_rules! on_engine {
    ($( $(#[$doc:meta])* pub async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match &self.engine {
                        Engine::Sqlite(s) => s.$name($($arg),*).await,
                        Engine::Pg(p) => p.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

on_engine! {
    /// Creates a bin, named or with a fresh id; `max_bins` (0 = no cap) refuses one too many.
    pub async fn create_bin(&self, name: Option<BinId>, max_bins: u64) -> Result<Bin, StoreError>;
    /// One bin with its request count.
    pub async fn get_bin(&self, id: &BinId) -> Result<Bin, StoreError>;
    /// Deletes a bin with everything it holds.
    pub async fn delete_bin(&self, id: &BinId) -> Result<(), StoreError>;
    /// Deletes a bin's requests and keeps the bin; how many went.
    pub async fn clear_bin(&self, id: &BinId) -> Result<u64, StoreError>;
    /// Deletes the bins that caught nothing for `ttl` as of `now`; how many went.
    pub async fn expire_bins(&self, ttl: std::time::Duration, now: DateTime<Utc>) -> Result<usize, StoreError>;
    /// One page of bins, by activity or creation, optionally searched.
    pub async fn list_bins_page(&self, query: BinQuery) -> Result<BinPage, StoreError>;
    /// A bin's oldest requests after `after`, oldest first (for `wait` and `next`): at most
    /// `limit`, and no more once their bodies reach `max_bytes`.
    pub async fn oldest_after(&self, bin: &BinId, after: RequestId, limit: usize, max_bytes: u64) -> Result<Vec<Capture>, StoreError>;
    /// The requests just newer and just older than `id` in its bin.
    pub async fn neighbours(&self, bin: &BinId, id: RequestId) -> Result<(Option<RequestId>, Option<RequestId>), StoreError>;
    /// One page of a bin's requests, newest first, below `before`, matching `filter`; each
    /// with its whole body or at most `body_limit` leading bytes of it.
    pub async fn list_requests(&self, bin: &BinId, limit: usize, before: Option<RequestId>, body_limit: Option<usize>, filter: &Filter) -> Result<Page, StoreError>;
    /// One capture with its whole body, or with at most `body_limit` leading body bytes.
    pub async fn get_request(&self, id: RequestId, body_limit: Option<usize>) -> Result<Capture, StoreError>;
    /// The captures with these ids that exist, in the order asked.
    pub async fn get_requests(&self, ids: Vec<RequestId>) -> Result<Vec<Capture>, StoreError>;
    /// Deletes one request; the bin it was in.
    pub async fn delete_request(&self, id: RequestId) -> Result<BinId, StoreError>;
    /// Replaces a bin's settings; the default settings remove them.
    pub async fn set_bin_settings(&self, id: &BinId, s: BinSettings) -> Result<(), StoreError>;
    /// Counts one more match of a bin's counting rule (a sequence, a random share) and returns
    /// how many came before it, atomically across every node.
    pub async fn rule_step(&self, bin: &BinId, rule: &str) -> Result<u64, StoreError>;
    /// How many requests each counting rule of a bin has matched since its last reset.
    pub async fn rule_steps(&self, bin: &BinId) -> Result<Vec<(String, u64)>, StoreError>;
    /// Starts a bin's sequences (one rule, or all) from their first answer again.
    pub async fn reset_rule_steps(&self, bin: &BinId, rule: Option<String>) -> Result<(), StoreError>;
    /// Logs a forward or replay of a request.
    pub async fn record_relay(&self, r: Relay) -> Result<(), StoreError>;
    /// Logs many forwards at once; the ids of the captures gone meanwhile (left out).
    pub async fn record_relays(&self, rs: Vec<Relay>) -> Result<Vec<RequestId>, StoreError>;
    /// The forwards and replays of a request, oldest first.
    pub async fn relays(&self, id: RequestId) -> Result<Vec<Relay>, StoreError>;
    /// Creates a webhook with its signing secret.
    pub async fn create_webhook(&self, f: WebhookFields, secret: String) -> Result<Webhook, StoreError>;
    /// One webhook with its delivery figures.
    pub async fn get_webhook(&self, id: &WebhookId) -> Result<Webhook, StoreError>;
    /// Every webhook (for the CLI and signature checks).
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError>;
    /// One page of webhooks after `after`, optionally searched; the key of the next page.
    pub async fn list_webhooks_page(&self, q: Option<String>, after: Option<WebhookId>, limit: usize) -> Result<(Vec<Webhook>, Option<WebhookId>), StoreError>;
    /// Changes the fields `patch` names.
    pub async fn update_webhook(&self, id: &WebhookId, patch: WebhookPatch) -> Result<Webhook, StoreError>;
    /// Replaces a webhook's signing secret.
    pub async fn rotate_secret(&self, id: &WebhookId, secret: String) -> Result<Webhook, StoreError>;
    /// Deletes a webhook with its deliveries.
    pub async fn delete_webhook(&self, id: &WebhookId) -> Result<(), StoreError>;
    /// Records an event and one pending delivery for each webhook subscribed to it.
    pub async fn enqueue_event(&self, event: &str, payload: Bytes) -> Result<(EventId, Vec<(DeliveryId, WebhookId)>), StoreError>;
    /// A delivery of a test event to one webhook.
    pub async fn create_test_delivery(&self, webhook_id: &WebhookId, event: &str, payload: Bytes) -> Result<DeliveryId, StoreError>;
    /// Sends a delivery's payload again, as a new delivery.
    pub async fn redeliver(&self, id: &DeliveryId) -> Result<Delivery, StoreError>;
    /// Leases up to `limit` due deliveries for `lease_ms`, as far as `admit` lets each
    /// endpoint take more; a leased delivery is no other claimer's until its lease runs out.
    pub async fn claim_due(&self, limit: usize, lease_ms: i64, admit: Admit) -> Result<Vec<DueDelivery>, StoreError>;
    /// Leases these deliveries now, when they are pending and not leased by another claimer.
    pub async fn claim_these(&self, ids: Vec<DeliveryId>, lease_ms: i64) -> Result<Vec<DueDelivery>, StoreError>;
    /// Records an attempt and what comes next for its delivery.
    pub async fn record_attempt(&self, id: &DeliveryId, attempt: Attempt, next: Next) -> Result<(), StoreError>;
    /// Records many attempts at once; the deliveries gone meanwhile (their attempts left out).
    pub async fn record_attempts(&self, batch: Vec<(DeliveryId, Attempt, Next)>) -> Result<Vec<DeliveryId>, StoreError>;
    /// One delivery with its attempts.
    pub async fn get_delivery(&self, id: &DeliveryId) -> Result<Delivery, StoreError>;
    /// One page of a webhook's deliveries, newest first; the key of the next page.
    pub async fn list_deliveries(&self, webhook_id: &WebhookId, limit: usize, before: Option<DeliveryId>) -> Result<(Vec<Delivery>, Option<DeliveryId>), StoreError>;
    /// When the next pending delivery is due.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// How many deliveries are in each state.
    pub async fn delivery_states(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// Deletes finished deliveries older than `age` as of `now`; how many went.
    pub async fn prune_deliveries(&self, age: std::time::Duration, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Resolves once everything acknowledged so far is committed.
    pub async fn flush(&self) -> Result<(), StoreError>;
    /// Commits what is queued and closes every connection; later writes fail with
    /// [`StoreError::Closed`].
    pub async fn close(&self) -> Result<(), StoreError>;
    /// How far the search index is behind (PostgreSQL searches without one: never behind).
    pub async fn search_lag(&self) -> Result<search::Lag, StoreError>;
    /// True when a bin with this id exists: from memory on SQLite, and from a per-node cache
    /// on PostgreSQL that other nodes' deletes keep right.
    pub async fn bin_exists(&self, id: &BinId) -> Result<bool, StoreError>;
    /// A bin's settings (the defaults for a bin without any), from memory.
    pub async fn bin_settings(&self, id: &BinId) -> Result<Arc<BinSettings>, StoreError>;
    /// The bytes the database takes on disk.
    pub async fn database_bytes(&self) -> u64;
    /// The row key below which every capture there will ever be is committed, where commits
    /// can land out of key order (several PostgreSQL nodes); `None` where they cannot
    /// (SQLite's one writer). A follower that moves a cursor by id waits until what it hands
    /// out is below it, or it could skip a capture that commits later with a smaller id.
    pub async fn settled_below(&self) -> Result<Option<RequestId>, StoreError>;
}

impl Store {
    /// Opens the database `db` names, migrating it: a PostgreSQL URL connects to that server
    /// (see [`is_postgres`]); anything else opens (creating if needed) a SQLite file.
    pub async fn open(db: &Path) -> Result<Store, StoreError> {
        let metrics = Arc::new(Metrics::new());
        let engine = if is_postgres(db) {
            Engine::Pg(pg::PgStore::connect(&db.to_string_lossy(), metrics.clone()).await?)
        } else {
            Engine::Sqlite(sqlite::Sqlite::open(db, metrics.clone())?)
        };
        Ok(Store { engine, metrics })
    }

    /// The figures this store and its users report (see [`crate::metrics`]).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Stores a capture; resolves with it and its id once the transaction holding it has
    /// committed. A bin past `max_requests` (0 = no cap) has its oldest requests evicted in the
    /// same transaction.
    pub async fn insert_capture(
        &self,
        capture: NewCapture,
        max_requests: u64,
    ) -> Result<(NewCapture, RequestId), StoreError> {
        match &self.engine {
            Engine::Sqlite(s) => s.insert_capture(capture, max_requests).await,
            Engine::Pg(p) => p.insert_capture(capture, max_requests).await,
        }
    }

    /// Captures committed by every node, this one included, as they commit; `None` on SQLite,
    /// whose only writer is this process (its captures reach the feed directly).
    pub fn follow(&self) -> Option<tokio::sync::broadcast::Receiver<Heard>> {
        match &self.engine {
            Engine::Sqlite(_) => None,
            Engine::Pg(p) => Some(p.follow()),
        }
    }

    /// The search indexer to run beside a server; `None` where the engine keeps no index.
    pub fn indexer(&self) -> Option<search::Indexer> {
        match &self.engine {
            Engine::Sqlite(s) => Some(search::Indexer::new(s.clone(), Default::default())),
            Engine::Pg(_) => None,
        }
    }

    /// How far the search indexer has come; `None` where the engine keeps no index.
    pub fn search_progress(&self) -> Option<&search::Progress> {
        match &self.engine {
            Engine::Sqlite(s) => Some(s.search_progress()),
            Engine::Pg(_) => None,
        }
    }

    /// Keeps `bytes` of disk beside a SQLite database for deletes on a full disk (servers
    /// only); PostgreSQL manages its own disk.
    pub fn keep_reserve(&self, bytes: u64) {
        if let Engine::Sqlite(s) = &self.engine {
            s.keep_reserve(bytes);
        }
    }

    /// Caps a SQLite database at about `bytes` (`--max-db-size`); refused on PostgreSQL, whose
    /// size its operator manages.
    pub async fn limit_size(&self, bytes: u64) -> Result<(), StoreError> {
        match &self.engine {
            Engine::Sqlite(s) => s.limit_size(bytes).await,
            Engine::Pg(_) => Err(StoreError::Conflict(
                "--max-db-size applies to SQLite only; on PostgreSQL set quotas in the server"
                    .into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_postgres_url_selects_postgres() {
        use std::path::Path;
        assert!(super::is_postgres(Path::new(
            "postgres://team@127.0.0.1/hookbin"
        )));
        assert!(super::is_postgres(Path::new(
            "postgresql:///hookbin?host=/run/postgresql"
        )));
        assert!(!super::is_postgres(Path::new("hookbin.db")));
        assert!(!super::is_postgres(Path::new("./postgres/hookbin.db")));
    }

    #[test]
    fn a_shown_url_hides_its_password_only() {
        use std::path::Path;
        let shown = |s: &str| super::shown(Path::new(s));
        assert_eq!(
            shown("postgres://team:s3cr:et@db.internal:5432/hookbin?sslmode=disable"),
            "postgres://team:***@db.internal:5432/hookbin?sslmode=disable"
        );
        assert_eq!(
            shown("postgres://team@db/hookbin"),
            "postgres://team@db/hookbin"
        );
        assert_eq!(shown("/var/lib/a:b@c.db"), "/var/lib/a:b@c.db");
    }
}
