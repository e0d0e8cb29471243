//! The PostgreSQL engine, for a team instance whose nodes share one database (work in
//! progress: `--db` does not select it yet, and refuses a PostgreSQL URL with a message).
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
//! - every node hearing of captures as they commit (`follow`).
//!
//! Row keys keep SQLite's shape (milliseconds << 16, so ids read as times and sort by arrival),
//! with the low 16 bits from a shared sequence so that nodes never collide.

mod bins;
mod deliveries;
pub mod follow;
mod migrate;
mod outbox;
mod requests;
mod settings;
mod webhooks;
mod writer;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;

use super::StoreError;
use crate::model::{NewCapture, RequestId};

/// Connections a node keeps open at most.
const POOL_SIZE: usize = 16;

/// A handle to hookbin's tables in one PostgreSQL database; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
    writer: mpsc::Sender<writer::Job>,
}

/// A connection failure as the store reports it: the database is unreachable (503), not a bug.
fn unreachable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unreachable(format!("the database is unreachable: {e}"))
}

/// Any other PostgreSQL error.
fn failed(e: tokio_postgres::Error) -> StoreError {
    if e.is_closed() {
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
    /// date and starts this node's writer.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Commit(format!("bad database URL: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Commit(e.to_string()))?;
        let mut client = pool.get().await.map_err(unreachable)?;
        migrate::migrate(&mut client).await?;
        drop(client);
        let writer = writer::spawn(pool.clone());
        Ok(PgStore {
            pool,
            config,
            writer,
        })
    }

    /// Captures committed by every node (this one included) from now on; see [`follow`].
    pub fn follow(&self) -> tokio::sync::mpsc::Receiver<follow::Heard> {
        follow::spawn(self.config.clone())
    }

    /// A pooled connection, or the store's "unreachable" error.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(unreachable)
    }

    /// Stores a capture; resolves with its id once the transaction holding it has committed.
    /// A bin past `max_requests` (0 = no cap) has its oldest requests evicted in the same
    /// transaction.
    pub async fn insert_capture(
        &self,
        capture: NewCapture,
        max_requests: u64,
    ) -> Result<RequestId, StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer
            .send(writer::Job {
                capture,
                max_requests,
                done,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}
