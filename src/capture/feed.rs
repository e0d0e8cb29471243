//! The live feed: each committed capture is announced to whoever follows its bin (bin pages over
//! SSE, `wait` long-polls), and to no one else.
//!
//! Every bin being watched has a broadcast channel of its own, so a capture wakes only the
//! viewers of its bin, costs a map lookup when nobody watches it, and is serialized to JSON once
//! however many watch it. A viewer that falls behind its channel is told it lagged (broadcast
//! semantics), without slowing captures or other viewers.
//!
//! A capture may be announced twice when the store also reports commits (PostgreSQL, where
//! `follow` re-reads what every node committed): each channel remembers the ids it announced
//! lately and announces each only once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::broadcast;

use crate::model::{BinId, CaptureSummary, RequestId};

/// How many announcements a viewer may fall behind before it is told it lagged.
const CAPACITY: usize = 1024;
/// How many announced ids a channel remembers, to drop a second announcement of one; several
/// of the largest batches a node commits.
const REMEMBERED: usize = 4096;

/// A capture as announced: its summary, and that summary as JSON (built once per capture).
#[derive(Debug)]
pub struct Announced {
    pub summary: CaptureSummary,
    pub json: String,
}

/// The per-bin channels; cheap to clone.
#[derive(Clone, Default)]
pub struct Feed(Arc<RwLock<HashMap<BinId, Channel>>>);

/// One bin's followers, and the ids announced to them lately.
struct Channel {
    tx: broadcast::Sender<Arc<Announced>>,
    recent: Mutex<Recent>,
    /// The lowest id a capture arriving after the channel opened can have (its time then).
    since: RequestId,
}

/// The last [`REMEMBERED`] ids announced on a channel.
#[derive(Default)]
struct Recent {
    ids: HashSet<RequestId>,
    order: VecDeque<RequestId>,
}

impl Recent {
    /// True the first time `id` is seen (while it is remembered).
    fn first_time(&mut self, id: RequestId) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

impl Feed {
    pub fn new() -> Feed {
        Feed::default()
    }

    /// Follows `bin` from now on.
    pub fn subscribe(&self, bin: &BinId) -> broadcast::Receiver<Arc<Announced>> {
        let mut bins = self.0.write().expect("feed poisoned");
        if let Some(channel) = bins.get(bin) {
            return channel.tx.subscribe();
        }
        // A new channel: a good moment to drop the ones nobody follows any more.
        bins.retain(|_, c| c.tx.receiver_count() > 0);
        let (tx, rx) = broadcast::channel(CAPACITY);
        let recent = Mutex::default();
        let since = RequestId::from_seq(chrono::Utc::now().timestamp_millis() << 16);
        bins.insert(bin.clone(), Channel { tx, recent, since });
        rx
    }

    /// Announces capture `id` of `bin` to its followers, unless it was announced already;
    /// `summary` is only built (and serialized) when there are followers.
    pub fn publish(&self, bin: &BinId, id: RequestId, summary: impl FnOnce() -> CaptureSummary) {
        let watched = {
            let bins = self.0.read().expect("feed poisoned");
            match bins.get(bin) {
                Some(c) if c.tx.receiver_count() > 0 => {
                    if c.recent.lock().expect("feed poisoned").first_time(id) {
                        let summary = summary();
                        let json = serde_json::to_string(&summary).expect("summary serializes");
                        let _ = c.tx.send(Arc::new(Announced { summary, json }));
                    }
                    true
                }
                Some(_) => false,
                None => return,
            }
        };
        if !watched {
            // The last follower left: forget the channel (unless someone just subscribed).
            let mut bins = self.0.write().expect("feed poisoned");
            if bins.get(bin).is_some_and(|c| c.tx.receiver_count() == 0) {
                bins.remove(bin);
            }
        }
    }

    /// Followers of all bins together (open bin pages and waiting long-polls).
    pub fn receiver_count(&self) -> usize {
        let bins = self.0.read().expect("feed poisoned");
        bins.values().map(|c| c.tx.receiver_count()).sum()
    }

    /// The bins someone follows now, each with the lowest id a capture that arrived since
    /// its followers began can have.
    pub fn watched(&self) -> Vec<(BinId, RequestId)> {
        let bins = self.0.read().expect("feed poisoned");
        bins.iter()
            .filter(|(_, c)| c.tx.receiver_count() > 0)
            .map(|(bin, c)| (bin.clone(), c.since))
            .collect()
    }

    /// True when someone follows `bin` now.
    pub fn is_watched(&self, bin: &BinId) -> bool {
        let bins = self.0.read().expect("feed poisoned");
        bins.get(bin).is_some_and(|c| c.tx.receiver_count() > 0)
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
        feed.publish(&b, RequestId::from_seq(1), || {
            built.set(built.get() + 1);
            summary(&b, 1)
        });
        assert!(
            on_a.iter_mut().all(|rx| rx.try_recv().is_err()),
            "a heard b"
        );
        assert_eq!(on_b.try_recv().unwrap().summary.id, RequestId::from_seq(1));
        feed.publish(&a, RequestId::from_seq(2), || {
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
        feed.publish(&a, RequestId::from_seq(1), || {
            panic!("built a summary nobody follows")
        });
        let rx = feed.subscribe(&a);
        assert_eq!(feed.channels(), 1);
        drop(rx);
        feed.publish(&a, RequestId::from_seq(1), || {
            panic!("built a summary nobody follows")
        });
        assert_eq!(feed.channels(), 0, "the unfollowed channel is forgotten");
    }

    #[test]
    fn a_follower_that_falls_behind_is_told_it_lagged() {
        let feed = Feed::new();
        let a = BinId::parse("a").unwrap();
        let mut slow = feed.subscribe(&a);
        for seq in 0..(CAPACITY as i64 + 5) {
            feed.publish(&a, RequestId::from_seq(seq), || summary(&a, seq));
        }
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(5))
        ));
    }

    #[test]
    fn a_capture_announced_twice_reaches_followers_once() {
        let feed = Feed::new();
        let a = BinId::parse("a").unwrap();
        let mut rx = feed.subscribe(&a);
        for seq in [1, 2, 1, 3, 2] {
            feed.publish(&a, RequestId::from_seq(seq), || summary(&a, seq));
        }
        let heard: Vec<i64> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|a| a.summary.id.seq())
            .collect();
        assert_eq!(heard, [1, 2, 3]);
        assert_eq!(feed.watched()[0].0, a);
        assert!(feed.is_watched(&a));
        drop(rx);
        assert!(!feed.is_watched(&a));
    }
}
