//! A small pool of read-only connections, used from blocking threads.
//!
//! WAL lets these read a consistent snapshot while the writer commits. Connections are opened
//! on demand and kept for reuse; the pool never holds more than it has been asked for at once.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Idle read connections to one database file.
pub struct Readers {
    path: PathBuf,
    /// Idle connections; `None` once closed, after which connections are closed after use.
    idle: Mutex<Option<Vec<Connection>>>,
}

impl Readers {
    pub fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Mutex::new(Some(Vec::new())),
        }
    }

    /// The database file these connections read.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Runs `f` on an idle connection (opening one if none is free) and returns it to the pool.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.pool().as_mut().and_then(Vec::pop);
        let conn = match conn {
            Some(c) => c,
            None => self.open()?,
        };
        let result = f(&conn);
        if let Some(idle) = self.pool().as_mut() {
            idle.push(conn);
        }
        result
    }

    /// Closes the idle connections, and each busy one as it comes back: a read-only connection
    /// cannot clean up the WAL, so readers must be gone before the last writer closes.
    pub fn close(&self) {
        self.pool().take();
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Option<Vec<Connection>>> {
        self.idle.lock().expect("reader pool poisoned")
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        crate::store::filter::register_functions(&conn)?;
        Ok(conn)
    }
}
