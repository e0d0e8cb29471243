//! One format for every timestamp hookbin writes: RFC 3339 UTC with millisecond precision.
//!
//! Fixed width and a `Z` suffix, so stored text sorts the same way as time does.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a time the way the API and the database carry it.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads back a time written by [`format()`] (or any RFC 3339 time).
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Serializes a time as [`format()`] writes it, for `#[serde(serialize_with)]`.
pub fn serialize<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_with_millis_and_z() {
        let t = super::parse("2026-11-24T07:17:17.123Z").unwrap();
        assert_eq!(super::format(t), "2026-11-24T07:17:17.123Z");
    }
}
