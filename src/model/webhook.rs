//! Webhooks, the deliveries made to them, and each delivery's attempts.

use bytes::Bytes;
use chrono::{DateTime, Utc};

/// Defines an id type made of a prefix and a UUIDv7 in hex (creation order sorts them), which
/// travels as its text.
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// What every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> $name {
                $name(format!("{}{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Accepts exactly the form [`Self::new`] makes.
            pub fn parse(s: &str) -> Option<$name> {
                s.strip_prefix($prefix)
                    .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| $name(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// Identifies a webhook (`wh_…`).
    WebhookId,
    "wh_"
);
prefixed_id!(
    /// Identifies a delivery (`msg_…`); it is also the `webhook-id` header a receiver sees.
    DeliveryId,
    "msg_"
);
prefixed_id!(
    /// Identifies one fired event (`evt_…`), shared by the deliveries it made.
    EventId,
    "evt_"
);

/// A configured receiver of one event type.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: WebhookId,
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
    /// When the newest attempt was made, and the status it got (`None`: no answer came).
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
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
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event: String,
    /// Shared by all deliveries of one fired event; `None` for test sends.
    pub event_id: Option<EventId>,
    pub is_test: bool,
    /// The exact bytes sent as the body.
    pub payload: Bytes,
    pub state: DeliveryState,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The delivery this one re-sends, when made by hand from the log.
    pub redelivery_of: Option<DeliveryId>,
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
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub url: String,
    pub secret: String,
    pub event: String,
    pub payload: Bytes,
    pub attempts_made: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_ids_parse_back_and_nothing_else_does() {
        let (w, d, e) = (WebhookId::new(), DeliveryId::new(), EventId::new());
        assert_eq!(WebhookId::parse(w.as_str()), Some(w.clone()));
        assert_eq!(DeliveryId::parse(d.as_str()), Some(d.clone()));
        assert_eq!(EventId::parse(e.as_str()), Some(e));
        // The prefix says what an id names: a delivery id is not a webhook id.
        assert_eq!(WebhookId::parse(d.as_str()), None);
        for bad in ["", "wh_", "wh_xyz", "WH_0190", "../wh_1", &format!("{w}0")] {
            assert_eq!(WebhookId::parse(bad), None, "{bad}");
        }
        assert_eq!(serde_json::to_string(&w).unwrap(), format!("\"{w}\""));
    }
}
