//! What callers hand the store and get back, the same for either engine: list queries and
//! their pages, a webhook's fields, what happens to a delivery after an attempt, and which
//! endpoints a claim may take more deliveries for.

use chrono::{DateTime, Utc};

use crate::model::{Bin, BinId, Capture, DeliveryState, RequestId};

/// How a list of bins is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BinOrder {
    /// Most recently active first: by the newest request, or creation for a bin without one.
    #[default]
    Activity,
    /// Newest created first.
    Created,
}

/// Which page of bins to list.
#[derive(Clone, Debug, Default)]
pub struct BinQuery {
    /// Only bins whose id contains this (any case).
    pub q: Option<String>,
    pub order: BinOrder,
    /// Where the page before ended (its `next`, read by [`BinQuery::cursor`]).
    pub after: Option<(i64, String)>,
    pub limit: usize,
}

/// One page of bins, the cursor for the next, and how many bins match in all.
#[derive(Debug)]
pub struct BinPage {
    pub bins: Vec<Bin>,
    pub next: Option<String>,
    pub matched: usize,
}

impl BinQuery {
    /// Reads a page's `next` (`ms:id`: the sort time and id of the last bin it showed).
    pub fn cursor(s: &str) -> Option<(i64, String)> {
        let (ms, id) = s.split_once(':')?;
        Some((ms.parse().ok()?, BinId::parse(id)?.to_string()))
    }
}

/// One page of a bin's requests, newest first, with the id to pass as `before` for the next.
#[derive(Debug)]
pub struct Page {
    pub requests: Vec<Capture>,
    pub next: Option<RequestId>,
}

impl Page {
    /// A page from up to `limit + 1` requests, newest first: the extra one only says that
    /// another page follows.
    pub(crate) fn from_extra(mut requests: Vec<Capture>, limit: usize) -> Page {
        let next = super::cut(&mut requests, limit, |r| r.id);
        Page { requests, next }
    }
}

/// The fields of a webhook a user sets; validated by the caller.
#[derive(Clone, Debug)]
pub struct WebhookFields {
    pub name: String,
    pub url: String,
    pub event: String,
    pub active: bool,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct WebhookPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub event: Option<String>,
    pub active: Option<bool>,
}

/// What happens to a delivery after an attempt.
#[derive(Clone, Copy, Debug)]
pub enum Next {
    Succeeded,
    Failed,
    RetryAt(DateTime<Utc>),
}

impl Next {
    /// The state a delivery moves to, and when it is due again (ms) if it is.
    pub(crate) fn outcome(self) -> (DeliveryState, Option<i64>) {
        match self {
            Next::Succeeded => (DeliveryState::Succeeded, None),
            Next::Failed => (DeliveryState::Failed, None),
            Next::RetryAt(t) => (DeliveryState::Pending, Some(t.timestamp_millis())),
        }
    }
}

/// Decides, per candidate (by its webhook URL), whether the worker can take it now (e.g. its
/// endpoint has room).
pub type Admit = Box<dyn FnMut(&str) -> bool + Send>;
