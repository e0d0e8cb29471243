//! Plain data that flows between the layers: typed ids, bins and captured requests.
//!
//! Nothing here knows about HTTP or SQL; every other module may depend on this one.

use std::fmt;

mod webhook;

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

/// Identifies one captured request across all bins (a UUIDv7, so ids sort by arrival).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh time-ordered id.
    pub fn new() -> RequestId {
        RequestId(uuid::Uuid::now_v7().to_string())
    }

    /// Accepts only the canonical hyphenated UUID form that [`RequestId::new`] produces.
    pub fn parse(s: &str) -> Option<RequestId> {
        let u = uuid::Uuid::parse_str(s).ok()?;
        let canonical = u.hyphenated().to_string();
        (canonical == s).then_some(RequestId(canonical))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
    pub id: RequestId,
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
    pub body: bytes::Bytes,
}

impl From<&NewCapture> for CaptureSummary {
    fn from(c: &NewCapture) -> Self {
        CaptureSummary {
            id: c.id.to_string(),
            bin_id: c.bin_id.to_string(),
            received_at: crate::time::format(c.received_at),
            method: c.method.clone(),
            path: c.path.clone(),
            query: c.query.clone(),
            content_type: c.content_type.clone(),
            body_size: c.body.len() as u64,
            remote_addr: c.remote_addr.clone(),
        }
    }
}

/// The short form of a capture used in lists and live updates.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CaptureSummary {
    pub id: String,
    pub bin_id: String,
    pub received_at: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub body_size: u64,
    pub remote_addr: String,
}

impl From<&Capture> for CaptureSummary {
    fn from(c: &Capture) -> Self {
        CaptureSummary {
            id: c.id.to_string(),
            bin_id: c.bin_id.to_string(),
            received_at: crate::time::format(c.received_at),
            method: c.method.clone(),
            path: c.path.clone(),
            query: c.query.clone(),
            content_type: c.content_type().map(str::to_owned),
            body_size: c.body_size,
            remote_addr: c.remote_addr.clone(),
        }
    }
}

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
        let id = RequestId::new();
        assert_eq!(RequestId::parse(id.as_str()), Some(id.clone()));
        assert!(RequestId::parse(&id.as_str().to_uppercase()).is_none());
        assert!(RequestId::parse("nope").is_none());
    }
}
