//! The background checkpointer: copies committed WAL pages back into the database file on a
//! thread of its own, so the writer never stalls on that copy or its fsyncs.
//!
//! It runs a PASSIVE checkpoint (never blocks the writer or readers) four times a second. The log
//! only starts over when a writer begins after a checkpoint that copied every frame, which
//! under non-stop writing a background checkpoint never quite achieves; so once the log passes
//! [`WAL_LIMIT`], the writer finishes the job itself between two batches
//! ([`WalSize::after_commit`]): by then only the last few frames are left to copy.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

const INTERVAL: Duration = Duration::from_millis(250);
/// WAL size beyond which the checkpointer insists on restarting the log; also the size the WAL
/// file is cut back to when the log starts over.
pub const WAL_LIMIT: i64 = 128 << 20;

/// Keeps the checkpointer running; when the last one is dropped, it checkpoints once more and
/// stops.
pub struct Checkpointer {
    running: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl Checkpointer {
    /// Checkpoints once more, stops the thread and closes its connection; blocking.
    pub fn stop(&self) {
        let running = self.running.lock().expect("checkpointer poisoned").take();
        if let Some((tx, handle)) = running {
            drop(tx);
            let _ = handle.join();
        }
    }
}

/// The log size the checkpointer last saw, in bytes, shared with the writer; and whose turn it
/// is to checkpoint. SQLite lets one checkpoint run at a time and refuses (rather than waits
/// for) a second, so under heavy writing the writer's restart would nearly always find the
/// background checkpoint running and be put off while the log grew: the writer waits its turn
/// here instead.
#[derive(Clone)]
pub struct WalSize {
    bytes: Arc<AtomicI64>,
    turn: Arc<Mutex<()>>,
    /// The WAL file. It is cut back to [`WAL_LIMIT`] whenever the log restarts, so a file
    /// larger than that means the log outgrew the limit since; the writer looks at it after
    /// each commit because the checkpointer's figure can be a whole pass out of date.
    file: Arc<PathBuf>,
}

impl WalSize {
    /// The log of the database at `db`.
    pub fn new(db: &std::path::Path) -> WalSize {
        let mut file = db.as_os_str().to_owned();
        file.push("-wal");
        WalSize {
            bytes: Arc::default(),
            turn: Arc::default(),
            file: Arc::new(PathBuf::from(file)),
        }
    }

    /// Called by the writer after each commit: restarts an overgrown log (see the module doc).
    pub fn after_commit(&self, conn: &Connection) {
        let file_len = || std::fs::metadata(&*self.file).map_or(0, |m| m.len());
        if self.bytes.load(Ordering::Relaxed) <= WAL_LIMIT && file_len() <= WAL_LIMIT as u64 {
            return;
        }
        let _turn = self.turn.lock().expect("checkpoint turn poisoned");
        // RESTART waits out readers of older snapshots and the background checkpoint, copies
        // the few frames left, and lets the next write start the log over.
        match conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0)) {
            Ok(0) => {
                tracing::debug!("WAL restarted");
                self.bytes.store(0, Ordering::Relaxed)
            }
            Ok(_) => tracing::debug!("WAL restart deferred: still busy"),
            Err(e) => tracing::warn!(error = %e, "writer checkpoint failed"),
        }
    }
}

/// Starts the checkpointer for the database at `path`, reporting the log size into `wal` and
/// calling `after` after each successful checkpoint.
pub fn spawn(
    path: PathBuf,
    wal: WalSize,
    after: Box<dyn Fn() + Send>,
) -> rusqlite::Result<Checkpointer> {
    let conn = Connection::open(&path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let page: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    let (tx, rx) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("hookbin-checkpoint".into())
        .spawn(move || {
            loop {
                let last = matches!(
                    rx.recv_timeout(INTERVAL),
                    Err(RecvTimeoutError::Disconnected)
                );
                let done = {
                    let _turn = wal.turn.lock().expect("checkpoint turn poisoned");
                    checkpoint(&conn, "PASSIVE")
                };
                match done {
                    Ok(log_pages) => {
                        tracing::debug!(log_pages, "checkpointed");
                        wal.bytes.store(log_pages * page, Ordering::Relaxed);
                        after();
                    }
                    Err(e) => tracing::warn!(error = %e, "checkpoint failed"),
                }
                if last {
                    break;
                }
            }
        })
        .expect("spawn checkpoint thread");
    Ok(Checkpointer {
        running: Mutex::new(Some((tx, handle))),
    })
}

/// Runs one checkpoint; returns the pages in the log.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get(1))
}
