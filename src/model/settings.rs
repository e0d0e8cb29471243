//! What a bin does besides storing: the answer it gives, where it forwards captures, the secret
//! its captures are verified with; and the record of each forward or replay of a capture.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::RequestId;

/// Longest delay a bin may hold its answer for.
pub const MAX_DELAY_MS: u64 = crate::rules::MAX_DELAY_MS;

/// A bin's answer to every capture, replacing the default `200 {"ok":true,...}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinResponse {
    /// 200 to 599.
    pub status: u16,
    /// Sent in this order, after hookbin's own `content-length`.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// How long to wait (after the capture is committed) before answering, up to
    /// [`MAX_DELAY_MS`].
    pub delay_ms: u64,
}

/// Everything configurable about one bin; the default is a plain bin.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BinSettings {
    pub response: Option<BinResponse>,
    /// Tried in order before `response` (see [`crate::rules`]); empty for most bins.
    pub rules: std::sync::Arc<Vec<crate::rules::Rule>>,
    /// Every new capture is re-sent here (with its sub-path and query appended).
    pub forward_url: Option<String>,
    /// Checked against GitHub, Stripe and Standard Webhooks signatures of captures.
    pub signing_secret: Option<String>,
}

impl BinSettings {
    /// True when nothing differs from a plain bin (so no row needs to be kept).
    pub fn is_default(&self) -> bool {
        *self == BinSettings::default()
    }
}

/// Why a capture was re-sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayKind {
    /// Automatically, because its bin forwards.
    Forward,
    /// By hand, to a URL chosen at the time.
    Replay,
    /// By `hookbin listen`, to an app on a developer's machine (reported back by the listener).
    Listen,
}

impl RelayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayKind::Forward => "forward",
            RelayKind::Replay => "replay",
            RelayKind::Listen => "listen",
        }
    }

    pub fn parse(s: &str) -> RelayKind {
        match s {
            "replay" => RelayKind::Replay,
            "listen" => RelayKind::Listen,
            _ => RelayKind::Forward,
        }
    }
}

/// One re-send of a capture and what the target answered.
#[derive(Clone, Debug)]
pub struct Relay {
    pub request_id: RequestId,
    pub kind: RelayKind,
    pub url: String,
    pub at: DateTime<Utc>,
    /// The HTTP status, or `None` when no answer came.
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// Why no answer came, in plain words.
    pub error: Option<String>,
    pub response_headers: Vec<(String, String)>,
    /// The start of the answer's body (see `response_truncated`).
    pub response_body: Bytes,
    pub response_truncated: bool,
}
