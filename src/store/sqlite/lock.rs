//! One server per database: the lock a serving hookbin holds for as long as it runs.
//!
//! Two servers on one file would each keep their own counts and row keys in memory and trip over
//! each other's writes, so the second must refuse to start. The lock is an advisory `flock` on a
//! file beside the database (`<db>.lock`), not on the database itself: SQLite's own POSIX locks
//! on the database would be dropped by any other handle to it closing in this process. The CLI
//! commands that open the database directly take no lock and keep working beside a server. The
//! kernel releases the lock when the process ends, however it ends, so a stale file is harmless.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Held while a server runs on a database; released on drop.
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another hookbin is already serving {db} (lock {lock} held{holder}); stop it, or give this one another --db"
    )]
    Held {
        db: PathBuf,
        lock: PathBuf,
        holder: String,
    },
    #[error("cannot open database {}: cannot lock {}: {cause}", db.display(), lock.display())]
    Io {
        db: PathBuf,
        lock: PathBuf,
        cause: std::io::Error,
    },
}

impl ServerLock {
    /// Takes the server lock for the database at `db`, or says who holds it.
    pub fn acquire(db: &Path) -> Result<ServerLock, LockError> {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        let lock = PathBuf::from(name);
        let io = |cause| LockError::Io {
            db: db.to_owned(),
            lock: lock.clone(),
            cause,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&lock)
                    .ok()
                    .map(|pid| pid.trim().to_owned())
                    .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
                    .map(|pid| format!(" by process {pid}"))
                    .unwrap_or_default();
                return Err(LockError::Held {
                    db: db.to_owned(),
                    lock,
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // Say who holds it, for the message a second server prints.
        file.set_len(0).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(ServerLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_server_lock_on_one_database_is_refused_until_the_first_goes() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("h.db");
        let first = ServerLock::acquire(&db).unwrap();
        let err = ServerLock::acquire(&db).unwrap_err().to_string();
        assert!(err.contains("already serving"), "{err}");
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        drop(first);
        ServerLock::acquire(&db).unwrap();
    }
}
