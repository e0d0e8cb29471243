//! The single writer thread and its group commit.
//!
//! Jobs arrive on a channel. The thread takes every job already waiting (up to a cap), runs them
//! in one transaction, each in its own savepoint so one failing job cannot undo the others, then
//! commits once and only then answers every caller. Under load this turns N fsync-bound commits
//! into one, which is what lets captures run near the speed of the HTTP server itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Most jobs committed together; bounds the latency a single large batch adds.
const MAX_BATCH: usize = 512;
/// Jobs that may wait for the writer before senders are slowed down.
const QUEUE: usize = 8192;

/// Called after the batch's COMMIT (or its failure) to answer the caller.
type Done = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;
/// A unit of work for the writer: runs against the open transaction (or is skipped, given
/// `None`, when the transaction could not begin) and reports back.
pub type Job = Box<dyn FnOnce(Option<&Connection>) -> Ran + Send>;

/// What a job hands back: how to answer its caller, and the SQLite result code of a storage
/// failure it hit (disk full, read-only), which may have rolled back the whole transaction.
pub struct Ran {
    done: Done,
    code: Option<std::ffi::c_int>,
}

/// Wraps `f` so it runs in a savepoint and answers on `tx` once the outcome is durable. If `f`
/// fails or panics, its writes are rolled back and the rest of the batch goes on.
pub fn job<T, F>(f: F, tx: oneshot::Sender<Result<T, StoreError>>) -> Job
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    job_with(move |conn| in_savepoint(conn, f), tx)
}

/// Like [`job`] without the savepoint: `f` must leave nothing half-done when it fails. If it
/// panics, which may leave anything half-done, the whole transaction is rolled back and the
/// batch's earlier jobs hear that they failed.
pub fn job_unguarded<T, F>(f: F, tx: oneshot::Sender<Result<T, StoreError>>) -> Job
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    job_with(
        move |conn| {
            let result = caught(|| f(conn));
            if matches!(result, Err(StoreError::Panicked)) {
                let _ = conn.execute_batch("ROLLBACK");
            }
            result
        },
        tx,
    )
}

/// Runs `f`, turning a panic into [`StoreError::Panicked`]: a bug in one job must not take the
/// writer (and with it all storage) down.
fn caught<T>(f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!("a write job panicked; its writes were rolled back");
        Err(StoreError::Panicked)
    })
}

fn job_with<T, F>(f: F, tx: oneshot::Sender<Result<T, StoreError>>) -> Job
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    Box::new(move |conn: Option<&Connection>| -> Ran {
        let result = match conn {
            Some(conn) => f(conn),
            // The transaction failed to begin; the error passed to `done` is what the caller sees.
            None => Err(StoreError::Closed),
        };
        let code = match &result {
            Err(StoreError::Full(_)) => Some(rusqlite::ffi::SQLITE_FULL),
            Err(StoreError::ReadOnly(_)) => Some(rusqlite::ffi::SQLITE_READONLY),
            Err(StoreError::Panicked) => Some(rusqlite::ffi::SQLITE_ABORT),
            _ => None,
        };
        let done: Done = Box::new(move |commit_error: Option<&rusqlite::Error>| {
            let answer = match commit_error {
                Some(e) => Err(commit_failure(e)),
                None => result,
            };
            let _ = tx.send(answer);
        });
        Ran { done, code }
    })
}

fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let result = caught(|| f(conn));
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
    }
    conn.prepare_cached("RELEASE job")?.execute([])?;
    result
}

/// The last work of a batch's transaction (see [`Hooks::before_commit`]).
pub type BeforeCommit = dyn Fn(&Connection) -> rusqlite::Result<()> + Send;

/// What the writer runs between batches.
pub struct Hooks {
    /// Last work of a batch's transaction, just before COMMIT; if it fails, the batch is rolled
    /// back and its callers hear so.
    pub before_commit: Box<BeforeCommit>,
    /// After a batch committed (and its callers were answered).
    pub after_commit: Box<dyn Fn(&Connection) + Send>,
    /// After each batch: how many jobs it held, how many more were queued when it began, and
    /// how long it took from BEGIN to COMMIT.
    pub observe: Box<dyn Fn(usize, usize, std::time::Duration) + Send>,
    /// After a batch failed to commit, to resync state kept beside the tables.
    pub on_rollback: Box<dyn Fn(&Connection) + Send>,
}

/// What a caller hears when the batch holding its job failed to commit.
fn commit_failure(e: &rusqlite::Error) -> StoreError {
    StoreError::actionable(e.sqlite_error_code())
        .unwrap_or_else(|| StoreError::Commit(e.to_string()))
}

/// The writer thread, so that it can be stopped and its connection closed before exit.
pub struct Thread {
    stop: Arc<AtomicBool>,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl Thread {
    /// Asks the thread to take no new jobs after the batch it runs next (send it a job to wake
    /// it), finish those already queued, and end.
    pub fn stop_after_next_batch(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Waits for the thread to end (its connection closed); blocking.
    pub fn join(&self) {
        if let Some(handle) = self.join.lock().expect("writer handle poisoned").take() {
            let _ = handle.join();
        }
    }
}

/// Starts the writer thread; it stops once every sender is dropped and the queue is drained,
/// or when asked through the returned [`Thread`].
pub fn spawn(conn: Connection, hooks: Hooks) -> (mpsc::Sender<Job>, Thread) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let handle = std::thread::Builder::new()
        .name("hookbin-writer".into())
        .spawn(move || run(conn, rx, hooks, &stopping))
        .expect("spawn writer thread");
    let thread = Thread {
        stop,
        join: Mutex::new(Some(handle)),
    };
    (tx, thread)
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Job>, hooks: Hooks, stop: &AtomicBool) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (jobs, queued, began) = (batch.len(), rx.len(), std::time::Instant::now());
        run_batch(&conn, &mut batch, &hooks);
        (hooks.observe)(jobs, queued, began.elapsed());
        if stop.load(Ordering::Acquire) {
            rx.close();
        }
    }
    tracing::debug!("writer stopped");
}

/// Runs the jobs in one transaction and answers their callers after COMMIT. If a job's
/// storage failure makes SQLite roll the whole transaction back (as a full disk may), the jobs
/// that ran in it hear of the failure and the rest go on in a fresh transaction.
fn run_batch(conn: &Connection, batch: &mut Vec<Job>, hooks: &Hooks) {
    let mut waiting: Vec<Done> = Vec::with_capacity(batch.len());
    let mut in_txn = false;
    for job in batch.drain(..) {
        if !in_txn {
            if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                tracing::error!(error = %e, "cannot begin a write transaction");
                (job(None).done)(Some(&e));
                continue;
            }
            in_txn = true;
        }
        // Jobs catch their own panics (see `caught`); this only guards the answering code, and
        // rolls back whatever such a job may have left half-done.
        let ran = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Some(conn)))) {
            Ok(ran) => ran,
            Err(_) => {
                tracing::error!("a write job panicked outside its guard; rolling back the batch");
                let _ = conn.execute_batch("ROLLBACK");
                Ran {
                    done: Box::new(|_| {}),
                    code: Some(rusqlite::ffi::SQLITE_ABORT),
                }
            }
        };
        waiting.push(ran.done);
        if conn.is_autocommit() {
            let code = ran.code.unwrap_or(rusqlite::ffi::SQLITE_ABORT);
            let e = rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                Some(
                    "the write transaction was rolled back (a storage error or a failed job)"
                        .into(),
                ),
            );
            tracing::error!(error = %e, "write transaction rolled back");
            (hooks.on_rollback)(conn);
            for done in waiting.drain(..) {
                done(Some(&e));
            }
            in_txn = false;
        }
    }
    if !in_txn {
        return;
    }
    match (hooks.before_commit)(conn).and_then(|()| conn.execute_batch("COMMIT")) {
        Ok(()) => {
            for done in waiting.drain(..) {
                done(None);
            }
            (hooks.after_commit)(conn);
        }
        Err(e) => {
            tracing::error!(error = %e, "write batch failed to commit");
            let _ = conn.execute_batch("ROLLBACK");
            (hooks.on_rollback)(conn);
            for done in waiting.drain(..) {
                done(Some(&e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_hooks() -> Hooks {
        Hooks {
            before_commit: Box::new(|_| Ok(())),
            after_commit: Box::new(|_| {}),
            observe: Box::new(|_, _, _| {}),
            on_rollback: Box::new(|_| {}),
        }
    }

    fn table() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        (dir, conn)
    }

    fn stored(conn: &Connection) -> Vec<i64> {
        let mut st = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    type Answer = oneshot::Receiver<Result<(), StoreError>>;

    /// A job that inserts `x`, then panics if asked to.
    fn insert(x: i64, panics: bool, guarded: bool) -> (Job, Answer) {
        let (tx, rx) = oneshot::channel();
        let f = move |c: &Connection| {
            c.execute("INSERT INTO t VALUES (?1)", [x])?;
            if panics {
                panic!("job {x} fails after writing");
            }
            Ok(())
        };
        let job = if guarded {
            job(f, tx)
        } else {
            job_unguarded(f, tx)
        };
        (job, rx)
    }

    #[test]
    fn a_job_that_panics_after_writing_leaves_nothing_and_the_batch_commits() {
        let (_dir, conn) = table();
        let (a, mut ra) = insert(1, false, true);
        let (b, mut rb) = insert(2, true, true);
        let (c, mut rc) = insert(3, false, false);
        run_batch(&conn, &mut vec![a, b, c], &no_hooks());
        assert_eq!(stored(&conn), [1, 3]);
        assert!(ra.try_recv().unwrap().is_ok());
        assert!(matches!(rb.try_recv().unwrap(), Err(StoreError::Panicked)));
        assert!(rc.try_recv().unwrap().is_ok());
    }

    #[test]
    fn an_unguarded_job_that_panics_rolls_back_its_batch_and_the_rest_goes_on() {
        let (_dir, conn) = table();
        let (a, mut ra) = insert(1, false, true);
        let (b, mut rb) = insert(2, true, false);
        let (c, mut rc) = insert(3, false, true);
        run_batch(&conn, &mut vec![a, b, c], &no_hooks());
        assert_eq!(
            stored(&conn),
            [3],
            "nothing of the rolled-back transaction is kept"
        );
        assert!(ra.try_recv().unwrap().is_err(), "told its write was undone");
        assert!(rb.try_recv().unwrap().is_err());
        assert!(rc.try_recv().unwrap().is_ok());
        assert!(conn.is_autocommit());
    }
}
