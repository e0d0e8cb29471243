//! Webhooks, the deliveries made to them, and each delivery's attempts.

use bytes::Bytes;
use chrono::{DateTime, Utc};

/// Makes a prefixed random id such as `wh_01a2…`; UUIDv7 keeps ids in creation order.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// True for ids that [`new_id`] could have made with this prefix.
pub fn is_id(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Prefix of webhook ids.
pub const WEBHOOK_PREFIX: &str = "wh_";
/// Prefix of delivery ids, which are also the `webhook-id` header a receiver sees.
pub const DELIVERY_PREFIX: &str = "msg_";
/// Prefix of fired-event ids.
pub const EVENT_PREFIX: &str = "evt_";

/// A configured receiver of one event type.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: String,
    pub name: String,
    pub url: String,
    pub event: String,
    pub active: bool,
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stats: DeliveryStats,
}

/// How a webhook's deliveries have gone so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryStats {
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub pending: u64,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> DeliveryState {
        match s {
            "succeeded" => DeliveryState::Succeeded,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }
}

/// One payload to be sent to one webhook, with every attempt made so far.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    /// Shared by all deliveries of one fired event; `None` for test sends.
    pub event_id: Option<String>,
    pub is_test: bool,
    /// The exact bytes sent as the body.
    pub payload: Bytes,
    pub state: DeliveryState,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The delivery this one re-sends, when made by hand from the log.
    pub redelivery_of: Option<String>,
    pub attempts: Vec<Attempt>,
}

/// One try at sending a delivery and what came back.
#[derive(Clone, Debug, Default)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The HTTP status, or `None` when no answer came.
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// Why no acceptable answer came, in plain words.
    pub error: Option<String>,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    /// The start of the response body (see `response_truncated`).
    pub response_body: Bytes,
    pub response_truncated: bool,
}

impl Attempt {
    /// Only a 2xx answer counts as delivered.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A delivery handed to the worker to send now: everything needed, no further lookups.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub id: String,
    pub webhook_id: String,
    pub url: String,
    pub secret: String,
    pub event: String,
    pub payload: Bytes,
    pub attempts_made: u32,
}
