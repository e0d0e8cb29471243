//! The SQLite engine: hookbin's embedded default, one process owning one database file.
//!
//! One writer thread owns the write connection and commits many operations per transaction
//! (group commit, see `writer`); each caller is acknowledged only after its COMMIT. Reads run on
//! a small pool of their own connections on tokio's blocking threads, so no SQLite call ever runs
//! on an async worker. The store never sees HTTP types: callers hand it plain `model` data.

mod bins;
mod checkpoint;
mod claims;
mod deliveries;
pub(super) mod lock;
mod readers;
mod requests;
mod reserve;
pub(super) mod schema;
pub mod search;
mod settings;
mod webhooks;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use crate::model::{BinId, RequestId};
use tokio::sync::{mpsc, oneshot};

use super::{Filter, StoreError, cut, headers};

/// A bin id read back from column `column` of a row. Ids are checked before they are stored, so
/// an invalid one means the file was changed behind hookbin's back: that row is reported as
/// bad data, never trusted and never a panic.
fn stored_bin_id(id: &str, column: usize) -> rusqlite::Result<BinId> {
    stored_id(id, column, BinId::parse)
}

/// Any id read back from column `column`, checked with `parse` in the same way.
fn stored_id<T>(id: &str, column: usize, parse: impl Fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    parse(id).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            format!("the stored id '{}' is not valid", id.escape_debug()).into(),
        )
    })
}

impl StoreError {
    /// The failures a user can act on (a full disk or size limit, a read-only file), by
    /// SQLite's error code; `None` for any other.
    fn actionable(code: Option<rusqlite::ErrorCode>) -> Option<StoreError> {
        match code? {
            rusqlite::ErrorCode::DiskFull => Some(StoreError::Full(
                "the database is full (disk full or --max-db-size reached): delete bins or requests to make room".into(),
            )),
            rusqlite::ErrorCode::ReadOnly => Some(StoreError::ReadOnly(
                "the database is read-only: nothing can be stored until it is writable again".into(),
            )),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::actionable(e.sqlite_error_code()).unwrap_or(StoreError::Sqlite(e))
    }
}

/// A cheap-to-clone handle to the database: a queue to the writer thread plus read connections.
#[derive(Clone)]
pub struct Sqlite {
    writer: mpsc::Sender<writer::Job>,
    readers: Arc<readers::Readers>,
    /// Existing bins, how many requests each holds and when it last caught one. Answers "does this bin exist" before a
    /// body is read, and keeps counts without an UPDATE per capture. Changed only by the writer
    /// thread (inside its jobs); reloaded from the tables if a commit fails.
    counts: Counts,
    /// Bins the current batch took past their cap (see `requests::OverCap`).
    over_cap: requests::OverCap,
    /// Settings of the bins that have any; like `counts`, changed only inside writer jobs.
    settings: settings::Settings,
    /// The last request row key handed out; only the writer thread advances it.
    last_seq: Arc<AtomicI64>,
    /// Disk space held back for deletes on a full disk (servers only, see [`Sqlite::keep_reserve`]).
    reserve: Arc<reserve::Reserve>,
    checkpointer: Arc<checkpoint::Checkpointer>,
    writer_thread: Arc<writer::Thread>,
    /// The search indexer's progress, shared with searches (see [`search`]).
    search: Arc<search::Progress>,
}

/// What the store keeps in memory about each bin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Held {
    /// Requests it holds.
    pub count: u64,
    /// Row key of the newest request it caught (0: none yet); it says when the bin last caught
    /// something, which orders the bin lists.
    pub last: i64,
}

/// What is held per bin id.
type Counts = Arc<Mutex<HashMap<String, Held>>>;

impl Sqlite {
    /// Opens (creating if needed) the database at `path`, migrates it, and starts the writer,
    /// which reports its batches to `metrics`.
    pub fn open(path: &Path, metrics: Arc<crate::metrics::Metrics>) -> Result<Sqlite, StoreError> {
        let open_err = |cause| StoreError::Open {
            path: path.to_owned(),
            cause,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        schema::configure(&conn).map_err(open_err)?;
        schema::migrate(&mut conn, path)?;
        let counts: Counts = Arc::new(Mutex::new(bins::count_all(&conn)?));
        let settings: settings::Settings =
            Arc::new(std::sync::RwLock::new(settings::load_all(&conn)?));
        let last_seq = Arc::new(AtomicI64::new(requests::max_seq(&conn)?));
        let readers = Arc::new(readers::Readers::new(path.to_owned()));
        let wal = checkpoint::WalSize::new(path);
        let reserve = Arc::new(reserve::Reserve::default());
        let restore = reserve.clone();
        let checkpointer = checkpoint::spawn(
            path.to_owned(),
            wal.clone(),
            Box::new(move || restore.restore()),
        )
        .map_err(open_err)?;
        let reload = counts.clone();
        let reload_settings = settings.clone();
        let over_cap = requests::OverCap::default();
        let (evict, evict_counts) = (over_cap.clone(), counts.clone());
        let forget = over_cap.clone();
        let observed = metrics.clone();
        let search = Arc::new(search::Progress::default());
        let woken = search.clone();
        let hooks = writer::Hooks {
            before_commit: Box::new(move |conn| {
                requests::evict_over_cap(conn, &evict, &evict_counts)
            }),
            after_commit: Box::new(move |conn| {
                wal.after_commit(conn);
                woken.committed();
            }),
            observe: Box::new(move |jobs, queued, took| observed.batch(jobs, queued, took)),
            // A failed commit undid counted work: count again from what is really stored.
            on_rollback: Box::new(move |conn| {
                forget.lock().expect("over-cap list poisoned").clear();
                match bins::count_all(conn) {
                    Ok(fresh) => *reload.lock().expect("counts poisoned") = fresh,
                    Err(e) => tracing::error!(error = %e, "cannot recount requests"),
                }
                match settings::load_all(conn) {
                    Ok(fresh) => *reload_settings.write().expect("settings poisoned") = fresh,
                    Err(e) => tracing::error!(error = %e, "cannot reload bin settings"),
                }
            }),
        };
        let (writer, writer_thread) = writer::spawn(conn, hooks);
        Ok(Sqlite {
            writer,
            readers,
            counts,
            over_cap,
            settings,
            last_seq,
            reserve,
            checkpointer: Arc::new(checkpointer),
            writer_thread: Arc::new(writer_thread),
            search,
        })
    }

    /// How many deliveries are in each state, for the metrics.
    pub async fn delivery_states(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT state, count(*) FROM delivery_state GROUP BY state")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The bytes the database file and its WAL take on disk.
    pub async fn database_bytes(&self) -> u64 {
        let db = self.readers.path();
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        size(db) + size(Path::new(&wal))
    }

    /// Runs `f` inside the writer's current transaction (in a savepoint of its own) and resolves
    /// once the transaction holding it has committed.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(|tx| writer::job(f, tx)).await
    }

    /// Like [`Sqlite::write`] for jobs that free space: if the disk is too full even for them,
    /// the space reserve is released and the job tried once more.
    async fn write_freeing<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Clone + Send + 'static,
    {
        match self.write(f.clone()).await {
            Err(StoreError::Full(_)) if self.reserve.release() => self.write(f).await,
            result => result,
        }
    }

    /// Keeps `bytes` of disk beside the database (`<db>.reserve`) for deletes on a full disk;
    /// for servers, which own their database (CLI commands do not call this). 0 keeps none.
    pub fn keep_reserve(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let mut name = self.readers.path().as_os_str().to_owned();
        name.push(".reserve");
        self.reserve.keep(PathBuf::from(name), bytes);
    }

    /// Like [`Sqlite::write`] but without the per-job savepoint, for a job that is atomic by
    /// itself (a single statement, or one that takes its own savepoint where it needs one).
    async fn write_unguarded<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(|tx| writer::job_unguarded(f, tx)).await
    }

    /// Queues the job `make` builds around the answer channel, and waits for the answer.
    async fn submit<T: Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> writer::Job,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(make(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Resolves once everything queued before it is committed; used at shutdown.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.write_unguarded(|_| Ok(())).await
    }

    /// Commits what is queued and closes every connection, readers first and the writer last:
    /// the last connection to close copies the WAL into the database and removes it, so a
    /// stopped hookbin leaves one file (beside its lock file); the disk reserve goes too. Later writes fail with [`StoreError::Closed`]; the
    /// result is the final commit's.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.reserve.drop_file();
        self.readers.close();
        let checkpointer = self.checkpointer.clone();
        let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        self.writer_thread.stop_after_next_batch();
        let committed = self.flush().await;
        let writer = self.writer_thread.clone();
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        committed
    }

    /// Caps the database file at about `bytes`; beyond it writes fail with [`StoreError::Full`].
    pub async fn limit_size(&self, bytes: u64) -> Result<(), StoreError> {
        self.write_unguarded(move |conn| {
            let page: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
            let pages = (bytes as i64 / page).max(1);
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// Runs `f` on a read connection on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Nothing: one writer assigns row keys in commit order, so whatever is committed is
    /// settled.
    pub async fn settled_below(&self) -> Result<Option<RequestId>, StoreError> {
        Ok(None)
    }

    /// True when a bin with this id exists (answered from memory, without a query).
    pub async fn bin_exists(&self, id: &BinId) -> Result<bool, StoreError> {
        Ok(self
            .counts
            .lock()
            .expect("counts poisoned")
            .contains_key(id.as_str()))
    }
}
