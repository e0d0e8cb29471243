//! What this node knows about bins without asking the database: which exist, and their
//! settings. The capture path asks on every request, so a round trip each time would cost a
//! PostgreSQL node a third of its captures.
//!
//! Only bins found to exist are remembered; a bin unknown here is looked up every time, so a
//! bin made on another node is usable at once. Changes reach every node through the
//! `hookbin_bins` notification (a deleted bin, changed settings), and everything is forgotten
//! whenever the listener (re)connects, since notifications sent meanwhile are lost. A lookup
//! that raced a change is not kept: each forget moves a generation on, and a lookup keeps its
//! answer only if the generation it started in is still current.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::BinSettings;

/// The notification channel that says a bin was deleted or its settings changed.
pub const CHANNEL: &str = "hookbin_bins";

/// Existing bins and their settings, as last read.
#[derive(Default)]
pub struct Known(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    bins: HashMap<String, Arc<BinSettings>>,
    generation: u64,
}

impl Known {
    /// The settings of a bin known to exist.
    pub fn get(&self, bin: &str) -> Option<Arc<BinSettings>> {
        self.0
            .lock()
            .expect("known bins poisoned")
            .bins
            .get(bin)
            .cloned()
    }

    /// The generation a lookup starts in (see [`Known::keep`]).
    pub fn generation(&self) -> u64 {
        self.0.lock().expect("known bins poisoned").generation
    }

    /// Remembers what a lookup started in `generation` read, unless something was forgotten
    /// since (its answer may be stale).
    pub fn keep(&self, generation: u64, bin: &str, settings: Arc<BinSettings>) {
        let mut inner = self.0.lock().expect("known bins poisoned");
        if inner.generation == generation {
            inner.bins.insert(bin.to_owned(), settings);
        }
    }

    /// Forgets one bin (deleted, or its settings changed).
    pub fn forget(&self, bin: &str) {
        let mut inner = self.0.lock().expect("known bins poisoned");
        inner.generation += 1;
        inner.bins.remove(bin);
    }

    /// Forgets every bin (after a gap in notifications).
    pub fn forget_all(&self) {
        let mut inner = self.0.lock().expect("known bins poisoned");
        inner.generation += 1;
        inner.bins.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_that_raced_a_change_is_not_kept() {
        let known = Known::default();
        let started = known.generation();
        known.forget("other");
        known.keep(started, "bin", Arc::default());
        assert!(known.get("bin").is_none(), "stale answer kept");
        let again = known.generation();
        known.keep(again, "bin", Arc::default());
        assert!(known.get("bin").is_some());
        known.forget_all();
        assert!(known.get("bin").is_none());
    }
}
