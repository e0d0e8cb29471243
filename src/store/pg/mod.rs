//! The PostgreSQL engine, for a team instance whose nodes share one database (`--db
//! postgres://…`).
//!
//! tokio-postgres is the maintained async driver the rest of the stack (tokio) speaks natively;
//! deadpool-postgres gives it a small pool with recycling checks, and is what tokio-postgres's
//! own documentation points to. What this engine has so far:
//! - schema migrations, run once however many nodes start together (under an advisory lock);
//! - captures acknowledged only after their transaction commits, many per COPY and per commit
//!   (`writer`, like SQLite's group commit), with each bin's count and eviction kept right
//!   when nodes capture into it at once;
//! - bins, and a bin's requests under every filter SQLite has (`bins`, `requests`);
//! - webhooks and the outbox, claimed with `FOR UPDATE SKIP LOCKED` and leases (`outbox`);
//! - every node hearing of captures as they commit (`follow`), and keeping what it knows of
//!   bins (`known`) right when other nodes change them.
//!
//! Row keys keep SQLite's shape (milliseconds << 16, so ids read as times and sort by arrival),
//! with the low 16 bits from a shared sequence so that nodes never collide.

mod bins;
mod deliveries;
pub mod follow;
mod known;
mod migrate;
mod outbox;
mod requests;
mod settings;
mod webhooks;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_postgres::NoTls;

use super::StoreError;
use crate::metrics::Metrics;
use crate::model::{NewCapture, RequestId};

/// Connections a node keeps open at most.
const POOL_SIZE: usize = 16;
/// The longest a node waits to connect, or for a pooled connection.
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A handle to hookbin's tables in one PostgreSQL database; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    writer: mpsc::Sender<writer::Job>,
    /// Captures handed to the writer and not yet answered (see [`PgStore::flush`]).
    queued: Arc<watch::Sender<usize>>,
    known: Arc<known::Known>,
    heard: broadcast::Sender<follow::Heard>,
    listener: Arc<tokio::task::JoinHandle<()>>,
    closed: Arc<AtomicBool>,
    /// The `application_name` of every node's connections.
    name: Arc<str>,
}

/// How many notifications a follower may fall behind before it is told of a gap.
const HEARD_CAPACITY: usize = 4096;

/// A connection failure as the store reports it: the database is unreachable (503), not a bug.
/// The message names the cause at the bottom of the chain ("Connection refused", a password
/// that failed), which the drivers' own messages leave out.
fn unreachable(e: impl std::error::Error) -> StoreError {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    StoreError::Unreachable(format!("the database is unreachable: {text}"))
}

/// True when `e` says the connection or the server went away (closed, reset, the server
/// shutting down or starting up) rather than that the statement failed.
fn lost(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        }
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// Any other PostgreSQL error: a lost connection is [`unreachable`] (a 503, worth retrying).
fn failed(e: tokio_postgres::Error) -> StoreError {
    if lost(&e) {
        return unreachable(e);
    }
    match e.code() {
        Some(code) if *code == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
            StoreError::Conflict(e.to_string())
        }
        _ => StoreError::Commit(match e.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => e.to_string(),
        }),
    }
}

/// A write that failed, where a foreign key violation means the row it belongs to (`parent`,
/// e.g. "bin x") is gone: that is `NotFound`, anything else as [`failed`].
fn orphaned(e: tokio_postgres::Error, parent: impl FnOnce() -> String) -> StoreError {
    if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
        StoreError::NotFound(parent())
    } else {
        failed(e)
    }
}

/// An id read back from the database, checked with `parse`: one that fails was written
/// behind hookbin's back, and is reported, never trusted.
fn stored<T>(text: &str, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(text)
        .ok_or_else(|| StoreError::Commit(format!("the stored {what} '{text}' is not valid")))
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host/db`), brings its schema up to
    /// date, and starts this node's writer (reporting its batches to `metrics`) and listener.
    pub async fn connect(url: &str, metrics: Arc<Metrics>) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Commit(format!("bad database URL: {e}")))?;
        // Every wait has a bound: a server that does not answer is unreachable, not a hang.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(WAIT);
        }
        // Every node's connections carry one name, which finds their open transactions (see
        // `settled_below`).
        if config.get_application_name().is_none() {
            config.application_name("hookbin");
        }
        let name = config
            .get_application_name()
            .unwrap_or("hookbin")
            .to_owned();
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(WAIT))
            .create_timeout(Some(WAIT))
            .recycle_timeout(Some(WAIT))
            .build()
            .map_err(|e| StoreError::Commit(e.to_string()))?;
        let mut client = pool.get().await.map_err(unreachable)?;
        migrate::migrate(&mut client).await?;
        drop(client);
        let queued = Arc::new(watch::Sender::new(0));
        let writer = writer::spawn(pool.clone(), queued.clone(), metrics);
        let known = Arc::new(known::Known::default());
        let (heard, _) = broadcast::channel(HEARD_CAPACITY);
        let listener = follow::spawn(config, known.clone(), heard.clone());
        Ok(PgStore {
            pool,
            writer,
            queued,
            known,
            heard,
            listener: Arc::new(listener),
            closed: Arc::new(AtomicBool::new(false)),
            name: name.into(),
        })
    }

    /// Captures committed by every node (this one included) from now on; see [`follow`].
    pub fn follow(&self) -> broadcast::Receiver<follow::Heard> {
        self.heard.subscribe()
    }

    /// A pooled connection, or the store's "unreachable" (or "closed") error.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        self.pool.get().await.map_err(unreachable)
    }

    /// Stores a capture; resolves with it and its id once the transaction holding it has
    /// committed. A bin past `max_requests` (0 = no cap) has its oldest requests evicted in
    /// the same transaction.
    pub async fn insert_capture(
        &self,
        capture: NewCapture,
        max_requests: u64,
    ) -> Result<(NewCapture, RequestId), StoreError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        let bin = capture.bin_id.clone();
        let (done, answer) = oneshot::channel();
        self.queued.send_modify(|n| *n += 1);
        let job = writer::Job {
            capture,
            max_requests,
            done,
        };
        if self.writer.send(job).await.is_err() {
            self.queued.send_modify(|n| *n -= 1);
            return Err(StoreError::Closed);
        }
        let result = answer.await.map_err(|_| StoreError::Closed)?;
        if let Err(StoreError::NotFound(_)) = &result {
            // Deleted through another node: this node learns it now, if not yet told.
            self.known.forget(bin.as_str());
        }
        result
    }

    /// Resolves once every capture handed to the writer has been answered.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let mut queued = self.queued.subscribe();
        let _ = queued.wait_for(|n| *n == 0).await;
        Ok(())
    }

    /// Answers what is queued, then stops listening and closes the pool; later calls fail
    /// with [`StoreError::Closed`].
    pub async fn close(&self) -> Result<(), StoreError> {
        let flushed = self.flush().await;
        self.closed.store(true, Ordering::Relaxed);
        self.listener.abort();
        self.pool.close();
        flushed
    }

    /// The lowest row key a capture not yet committed could still get: below it, every
    /// capture there will ever be is committed. A writer takes its keys from the clock after
    /// its transaction began, so the oldest transaction any node has open bounds them (or,
    /// with none open, now).
    pub async fn settled_below(&self) -> Result<Option<RequestId>, StoreError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT floor(extract(epoch FROM least(clock_timestamp(), min(xact_start))) * 1000)::bigint
                 FROM pg_stat_activity
                 WHERE application_name = $1 AND datname = current_database()
                   AND xact_start IS NOT NULL AND pid <> pg_backend_pid()",
                &[&&*self.name],
            )
            .await
            .map_err(failed)?;
        Ok(Some(RequestId::from_seq(row.get::<_, i64>(0) << 16)))
    }

    /// The bytes the database takes on the server (0 when it cannot be asked).
    pub async fn database_bytes(&self) -> u64 {
        let Ok(client) = self.client().await else {
            return 0;
        };
        client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .map_or(0, |r| r.get::<_, i64>(0).max(0) as u64)
    }

    /// PostgreSQL searches by scanning, with no index to fall behind.
    pub async fn search_lag(&self) -> Result<super::search::Lag, StoreError> {
        Ok(Default::default())
    }

    /// Commits `tx`, which deleted `bins` or changed their settings, telling every node: the
    /// others hear it when it commits, and this one forgets them once it has.
    async fn commit_changed(
        &self,
        tx: deadpool_postgres::Transaction<'_>,
        bins: &[String],
    ) -> Result<(), StoreError> {
        tx.execute(
            "SELECT pg_notify($1, bin) FROM unnest($2::text[]) AS bin",
            &[&known::CHANNEL, &bins],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        for bin in bins {
            self.known.forget(bin);
        }
        Ok(())
    }
}
