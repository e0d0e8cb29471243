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
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
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
        let conn = self.idle.lock().expect("reader pool poisoned").pop();
        let conn = match conn {
            Some(c) => c,
            None => self.open()?,
        };
        let result = f(&conn);
        self.idle.lock().expect("reader pool poisoned").push(conn);
        result
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        super::requests::register_functions(&conn)?;
        Ok(conn)
    }
}
