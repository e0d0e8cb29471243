//! The live feed: each committed capture is announced to whoever follows its bin (bin pages over
//! SSE, `wait` long-polls), and to no one else.
//!
//! Every bin being watched has a broadcast channel of its own, so a capture wakes only the
//! viewers of its bin, costs a map lookup when nobody watches it, and is serialized to JSON once
//! however many watch it. A viewer that falls behind its channel is told it lagged (broadcast
//! semantics), without slowing captures or other viewers.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use crate::model::{BinId, CaptureSummary};

/// How many announcements a viewer may fall behind before it is told it lagged.
const CAPACITY: usize = 1024;

/// A capture as announced: its summary, and that summary as JSON (built once per capture).
#[derive(Debug)]
pub struct Announced {
    pub summary: CaptureSummary,
    pub json: String,
}

/// The per-bin channels; cheap to clone.
#[derive(Clone, Default)]
pub struct Feed(Arc<RwLock<HashMap<BinId, broadcast::Sender<Arc<Announced>>>>>);

impl Feed {
    pub fn new() -> Feed {
        Feed::default()
    }

    /// Follows `bin` from now on.
    pub fn subscribe(&self, bin: &BinId) -> broadcast::Receiver<Arc<Announced>> {
        let mut bins = self.0.write().expect("feed poisoned");
        if let Some(tx) = bins.get(bin) {
            return tx.subscribe();
        }
        // A new channel: a good moment to drop the ones nobody follows any more.
        bins.retain(|_, tx| tx.receiver_count() > 0);
        let (tx, rx) = broadcast::channel(CAPACITY);
        bins.insert(bin.clone(), tx);
        rx
    }

    /// Announces a capture of `bin` to its followers; `summary` is only built (and serialized)
    /// when there are some.
    pub fn publish(&self, bin: &BinId, summary: impl FnOnce() -> CaptureSummary) {
        let watched = {
            let bins = self.0.read().expect("feed poisoned");
            match bins.get(bin) {
                Some(tx) if tx.receiver_count() > 0 => {
                    let summary = summary();
                    let json = serde_json::to_string(&summary).expect("summary serializes");
                    let _ = tx.send(Arc::new(Announced { summary, json }));
                    true
                }
                Some(_) => false,
                None => return,
            }
        };
        if !watched {
            // The last follower left: forget the channel (unless someone just subscribed).
            let mut bins = self.0.write().expect("feed poisoned");
            if bins.get(bin).is_some_and(|tx| tx.receiver_count() == 0) {
                bins.remove(bin);
            }
        }
    }

    /// Followers of all bins together (open bin pages and waiting long-polls).
    pub fn receiver_count(&self) -> usize {
        let bins = self.0.read().expect("feed poisoned");
        bins.values().map(broadcast::Sender::receiver_count).sum()
    }

    /// Bins with a channel, followed or not yet pruned.
    #[cfg(test)]
    fn channels(&self) -> usize {
        self.0.read().expect("feed poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::model::RequestId;

    fn summary(bin: &BinId, seq: i64) -> CaptureSummary {
        CaptureSummary {
            id: RequestId::from_seq(seq),
            bin_id: bin.clone(),
            received_at: chrono::Utc::now(),
            method: "POST".into(),
            path: "/x".into(),
            query: String::new(),
            content_type: None,
            body_size: 0,
            remote_addr: "127.0.0.1:1".into(),
            response_status: 200,
            signed: false,
        }
    }

    #[test]
    fn a_capture_reaches_the_followers_of_its_bin_only_and_is_serialized_once() {
        let feed = Feed::new();
        let (a, b) = (BinId::parse("a").unwrap(), BinId::parse("b").unwrap());
        let mut on_a: Vec<_> = (0..3).map(|_| feed.subscribe(&a)).collect();
        let mut on_b = feed.subscribe(&b);
        let built = Cell::new(0);
        feed.publish(&b, || {
            built.set(built.get() + 1);
            summary(&b, 1)
        });
        assert!(
            on_a.iter_mut().all(|rx| rx.try_recv().is_err()),
            "a heard b"
        );
        assert_eq!(on_b.try_recv().unwrap().summary.id, RequestId::from_seq(1));
        feed.publish(&a, || {
            built.set(built.get() + 1);
            summary(&a, 2)
        });
        let got: Vec<Arc<Announced>> = on_a.iter_mut().map(|rx| rx.try_recv().unwrap()).collect();
        assert!(
            got.iter().all(|g| Arc::ptr_eq(g, &got[0])),
            "one announcement, shared"
        );
        assert!(got[0].json.contains(r#""bin_id":"a""#), "{}", got[0].json);
        assert_eq!(built.get(), 2, "one summary per capture");
        assert_eq!(feed.receiver_count(), 4);
    }

    #[test]
    fn nobody_watching_costs_no_summary_and_channels_go_when_their_followers_do() {
        let feed = Feed::new();
        let a = BinId::parse("a").unwrap();
        feed.publish(&a, || panic!("built a summary nobody follows"));
        let rx = feed.subscribe(&a);
        assert_eq!(feed.channels(), 1);
        drop(rx);
        feed.publish(&a, || panic!("built a summary nobody follows"));
        assert_eq!(feed.channels(), 0, "the unfollowed channel is forgotten");
    }

    #[test]
    fn a_follower_that_falls_behind_is_told_it_lagged() {
        let feed = Feed::new();
        let a = BinId::parse("a").unwrap();
        let mut slow = feed.subscribe(&a);
        for seq in 0..(CAPACITY as i64 + 5) {
            feed.publish(&a, || summary(&a, seq));
        }
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(5))
        ));
    }
}
