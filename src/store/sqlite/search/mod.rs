//! The search index: Bloom filters of trigrams over blocks of each bin's requests, so a body,
//! path or header search reads only the blocks that may hold its needle.
//!
//! Why this shape: a capture must be acknowledged once its row commits, at the full speed of
//! the writer, and an index of every trigram (FTS5's trigram tokenizer) indexed about 5,000
//! 1 KiB requests a second here, a tenth of the capture rate. A filter per block costs a few
//! microseconds of hashing per request and one small blob write per batch, and is the same
//! idea as a column store's n-gram skip index.
//!
//! Layout, all in the database so a restart keeps it:
//! - `search_blocks`: a bin's newest blocks, one filter each; the last one is open (still
//!   taking rows). A block is sealed at [`Shape::block_rows`] rows or when its filter is half
//!   full.
//! - `search_groups`: every [`Shape::group_blocks`] sealed blocks of one filter size are
//!   transposed into one row (per bit position, one word with a bit per block), so a search
//!   reads one word per needle trigram per group instead of every filter.
//! - `search_state.indexed_upto`: every request with a row key up to it is in a block. The
//!   indexer (`index`) moves it forward in batches, off the capture path; a search scans the
//!   requests above it directly (`query`), so it never misses what the index has not reached.
//!
//! Filters only narrow where to look: every candidate row is still checked by the exact SQL
//! filter, so results equal a full scan's (a property test compares them).

pub mod bloom;
mod index;
mod query;
mod tables;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicI64, Ordering};

pub use index::{Indexer, Shape};
pub(super) use query::page;

/// What the indexer shares with searches and status displays.
///
/// Requests pending = stored − accounted for. The writer counts every request it stores and,
/// after each commit, how many were stored as of that commit; the indexer accounts for the
/// rows it indexes, and when it finds nothing left to index it accounts for everything
/// committed before it looked (rows deleted before they were indexed included), so the count
/// cannot drift.
#[derive(Debug, Default)]
pub struct Progress {
    stored: AtomicI64,
    committed: AtomicI64,
    accounted: AtomicI64,
    /// Requests the indexer has added since it started.
    indexed: AtomicI64,
    /// Woken after each commit, so the indexer follows captures without polling.
    wake: tokio::sync::Notify,
}

impl Progress {
    /// Counts requests just stored (in the writer, inside their job).
    pub(super) fn stored(&self, n: i64) {
        self.stored.fetch_add(n, Ordering::Relaxed);
    }

    /// Notes a commit and wakes the indexer; called by the writer after every commit.
    pub(super) fn committed(&self) {
        self.committed
            .store(self.stored.load(Ordering::Relaxed), Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Requests not yet in the index.
    pub fn pending(&self) -> u64 {
        let stored = self.stored.load(Ordering::Relaxed);
        (stored - self.accounted.load(Ordering::Relaxed)).max(0) as u64
    }

    /// Requests indexed since this process started.
    pub fn indexed(&self) -> u64 {
        self.indexed.load(Ordering::Relaxed).max(0) as u64
    }
}

/// How far the index is behind, as a search reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lag {
    /// Requests in the whole database not yet indexed (they are searched by scanning).
    pub pending: u64,
    /// How long ago the oldest of them was stored, in milliseconds (0 when none).
    pub behind_ms: u64,
}

/// A stored blob (or text) column as bytes; empty for NULL or a number.
fn bytes(value: rusqlite::types::ValueRef<'_>) -> &[u8] {
    value.as_bytes_or_null().ok().flatten().unwrap_or_default()
}
