//! Plain data that flows between the layers: typed ids, bins and captured requests.
//!
//! Nothing here knows about HTTP or SQL; every other module may depend on this one.

use std::fmt;

mod settings;
mod webhook;

pub use settings::*;
pub use webhook::*;

use chrono::{DateTime, Utc};

/// Longest id a bin may have; long enough for descriptive CI names, short enough for a URL.
pub const MAX_BIN_ID_LEN: usize = 64;

/// Identifies a bin; it is also the path segment of its capture URL (`/b/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BinId(String);

impl BinId {
    /// Accepts 1–64 ASCII letters, digits, `-` or `_`, so that every id is a clean URL segment.
    pub fn parse(s: &str) -> Option<BinId> {
        let ok = !s.is_empty()
            && s.len() <= MAX_BIN_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| BinId(s.to_owned()))
    }

    /// A bin name a person asked for (`--bin`, the API, the bin page), trimmed, or the reason it
    /// cannot be one.
    pub fn parse_name(name: &str) -> Result<BinId, String> {
        BinId::parse_exact_name(name.trim()).map_err(|_| Self::invalid(name))
    }

    /// A bin name exactly as an API client gave it (not trimmed), or the reason it cannot be one.
    pub fn parse_exact_name(name: &str) -> Result<BinId, String> {
        BinId::parse(name).ok_or_else(|| Self::invalid(name))
    }

    fn invalid(name: &str) -> String {
        format!("bin name '{name}' is not valid: use 1-64 letters, digits, '-' or '_'")
    }

    /// A fresh random id: 12 lowercase base-36 characters (about 62 bits of randomness).
    pub fn random() -> BinId {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut n = u128::from_le_bytes(*uuid::Uuid::new_v4().as_bytes());
        let id = (0..12)
            .map(|_| {
                let c = ALPHABET[(n % 36) as usize] as char;
                n /= 36;
                c
            })
            .collect();
        BinId(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BinId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies one captured request across all bins. The store assigns it when the request is
/// committed: it is the row's key, so ids sort by arrival and a lookup needs no extra index.
/// Shown as 16 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(i64);

impl RequestId {
    /// The id of the stored row `seq`.
    pub fn from_seq(seq: i64) -> RequestId {
        RequestId(seq)
    }

    /// The stored row this id names.
    pub fn seq(self) -> i64 {
        self.0
    }

    /// Accepts exactly the 16-hex-digit form that `Display` writes.
    pub fn parse(s: &str) -> Option<RequestId> {
        let ok = s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| i64::from_str_radix(s, 16).ok())
            .flatten()
            .map(RequestId)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A bin as stored: where captures go and how many it holds now.
#[derive(Clone, Debug)]
pub struct Bin {
    pub id: BinId,
    /// The name asked for at creation, if any (it is then also the id).
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub request_count: u64,
    /// When its newest request arrived (`None` before the first).
    pub last_request_at: Option<DateTime<Utc>>,
}

/// One header exactly as received: the (lowercased) name and the raw value bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

/// Everything about one received request, as it is stored and read back.
#[derive(Clone, Debug)]
pub struct Capture {
    pub id: RequestId,
    pub bin_id: BinId,
    pub received_at: DateTime<Utc>,
    pub method: String,
    /// The path as received, starting with `/b/{bin}`.
    pub path: String,
    /// The raw query string without the leading `?` (empty when there was none).
    pub query: String,
    pub http_version: String,
    pub remote_addr: String,
    /// Headers in arrival order, duplicates kept.
    pub headers: Vec<Header>,
    pub body_size: u64,
    /// The body bytes, or only a leading part of them when read for display (see `body_size`).
    pub body: bytes::Bytes,
    /// The status hookbin answered with.
    pub response_status: u16,
    /// The answer rule that chose it, if one did.
    pub response_rule: Option<String>,
}

impl Capture {
    /// The first value of a header, compared case-insensitively, as text when it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(&h.value).ok())
    }

    /// Headers as text pairs; bytes that are not UTF-8 become replacement characters.
    pub fn text_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|h| {
                (
                    h.name.clone(),
                    String::from_utf8_lossy(&h.value).into_owned(),
                )
            })
            .collect()
    }

    /// Path plus `?query`, as the request named it.
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// The Content-Type header, if the request had a readable one.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }
}

/// A request as the capture path hands it to the store: headers already in their stored
/// encoding, so the hot path makes no per-header allocations.
#[derive(Clone, Debug)]
pub struct NewCapture {
    pub bin_id: BinId,
    pub received_at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub query: String,
    pub http_version: &'static str,
    pub remote_addr: String,
    /// Headers in the store's encoding (see `store::encode_headers`).
    pub headers: Vec<u8>,
    pub content_type: Option<String>,
    /// Whether it carries a signature header of a scheme hookbin checks.
    pub signed: bool,
    pub body: bytes::Bytes,
    /// The status hookbin answers with (the bin's custom response, or 200).
    pub response_status: u16,
    /// The answer rule that chose that status, if one did.
    pub response_rule: Option<String>,
}

impl NewCapture {
    /// The live-feed summary of this capture, once stored as `id`.
    pub fn summary(&self, id: RequestId) -> CaptureSummary {
        let c = self;
        CaptureSummary {
            id,
            bin_id: c.bin_id.clone(),
            received_at: c.received_at,
            method: c.method.clone(),
            path: c.path.clone(),
            query: c.query.clone(),
            content_type: c.content_type.clone(),
            body_size: c.body.len() as u64,
            remote_addr: c.remote_addr.clone(),
            response_status: c.response_status,
            signed: c.signed,
        }
    }
}

/// The short form of a capture used in lists and live updates.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CaptureSummary {
    pub id: RequestId,
    pub bin_id: BinId,
    #[serde(serialize_with = "crate::time::serialize")]
    pub received_at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub body_size: u64,
    pub remote_addr: String,
    pub response_status: u16,
    /// Whether it carries a signature header (Standard Webhooks, GitHub or Stripe).
    pub signed: bool,
}

/// Ids travel in JSON as the text they print as.
macro_rules! serialize_as_text {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_text!(BinId, RequestId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_ids_are_url_safe_slugs() {
        assert!(BinId::parse("ci-orders_2").is_some());
        assert!(BinId::parse("").is_none());
        assert!(BinId::parse("a/b").is_none());
        assert!(BinId::parse("<script>").is_none());
        assert!(BinId::parse(&"a".repeat(65)).is_none());
        let r = BinId::random();
        assert_eq!(r.as_str().len(), 12);
        assert!(BinId::parse(r.as_str()).is_some());
        assert_ne!(r, BinId::random());
    }

    #[test]
    fn request_ids_round_trip_and_reject_other_forms() {
        let id = RequestId::from_seq(0x0197_f3a2_b4c5_d6e7);
        assert_eq!(id.to_string(), "0197f3a2b4c5d6e7");
        assert_eq!(RequestId::parse("0197f3a2b4c5d6e7"), Some(id));
        assert_eq!(RequestId::from_seq(1).to_string(), "0000000000000001");
        assert!(RequestId::parse("0197F3A2B4C5D6E7").is_none());
        assert!(RequestId::parse("ffffffffffffffff").is_none(), "beyond i64");
        assert!(RequestId::parse("+197f3a2b4c5d6e7").is_none());
        assert!(RequestId::parse("nope").is_none());
    }
}
