//! Disk space held back so that deletes still work on a full disk.
//!
//! In WAL mode every write, a delete included, appends to the log, and on a full disk the log
//! cannot grow: without help, nothing could be deleted to make room. A serving hookbin therefore
//! keeps a reserve file beside the database (`<db>.reserve`, `--disk-reserve` bytes). When a delete
//! fails for lack of space, the reserve is given back to the file system and the delete is tried
//! again; the reserve is laid down again, in the background, once the disk has room for it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a missing reserve is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// The reserve file, when this store keeps one.
#[derive(Default)]
pub struct Reserve {
    state: Mutex<Option<State>>,
}

struct State {
    path: PathBuf,
    size: u64,
    present: bool,
    last_try: Instant,
}

impl Reserve {
    /// Starts keeping a reserve of `size` bytes at `path`, laying it down now if there is room.
    pub fn keep(&self, path: PathBuf, size: u64) {
        let present = lay_down(&path, size);
        if !present {
            tracing::warn!(path = %path.display(), "no room for the disk space reserve yet");
        }
        *self.state.lock().expect("reserve poisoned") = Some(State {
            path,
            size,
            present,
            last_try: Instant::now(),
        });
    }

    /// Gives the reserve back to the file system; true if there was one to give.
    pub fn release(&self) -> bool {
        let mut state = self.state.lock().expect("reserve poisoned");
        let Some(s) = state.as_mut().filter(|s| s.present) else {
            return false;
        };
        s.present = false;
        s.last_try = Instant::now();
        let freed = std::fs::remove_file(&s.path).is_ok();
        tracing::warn!(
            freed,
            "disk full: released the space reserve so deletes can proceed"
        );
        freed
    }

    /// Stops keeping the reserve and removes its file, so a stopped server leaves only its
    /// database (and lock file) behind.
    pub fn drop_file(&self) {
        if let Some(s) = self.state.lock().expect("reserve poisoned").take()
            && s.present
        {
            let _ = std::fs::remove_file(&s.path);
        }
    }

    /// Lays the reserve down again if it is missing and the last try is a while ago.
    pub fn restore(&self) {
        let mut state = self.state.lock().expect("reserve poisoned");
        let Some(s) = state.as_mut() else { return };
        if s.present || s.last_try.elapsed() < RETRY {
            return;
        }
        s.last_try = Instant::now();
        s.present = lay_down(&s.path, s.size);
        if s.present {
            tracing::info!("disk space reserve restored");
        }
    }
}

/// Writes the reserve file with real blocks (a sparse file would reserve nothing), or keeps the
/// one a previous run left if it is whole; on failure removes what was written, so a failed try
/// takes no space.
fn lay_down(path: &Path, size: u64) -> bool {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size && m.blocks() * 512 >= size) {
        return true;
    }
    let result = (|| {
        let mut f = std::fs::File::create(path)?;
        let chunk = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        f.flush()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result.is_ok()
}
