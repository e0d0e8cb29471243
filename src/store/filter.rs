//! Which requests a list shows: the filter, the SQL conditions it becomes, and the SQL
//! functions those conditions call (registered on every connection).

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rusqlite::types::Value;

use super::headers;
use crate::time;

/// Which of a bin's requests to list; every field that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// The method, exactly (compared case-insensitively).
    pub method: Option<String>,
    /// Text the path contains.
    pub path: Option<String>,
    /// A header name, and optionally text its value contains (case-insensitively).
    pub header: Option<(String, Option<String>)>,
    /// Text the body contains (ASCII case-insensitively, on the raw bytes).
    pub text: Option<String>,
    /// Received at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Received at or before this time.
    pub until: Option<DateTime<Utc>>,
}

/// How long after its arrival a request may at most be stored (its body arriving, the writer's
/// queue): row keys of requests received before a time stay below that time plus this, so the
/// key index bounds an `until` scan.
const STORE_LAG_MS: i64 = 3_600_000;

impl Filter {
    /// True when the filter lets every request through.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The trigram keys every match must hold in the search index; `None` when no part of the
    /// filter can narrow a search that way.
    pub(super) fn needle_keys(&self) -> Option<Vec<u64>> {
        super::sqlite::search::bloom::needle_keys(
            self.path.as_deref(),
            self.header
                .as_ref()
                .map(|(name, value)| (name.as_str(), value.as_deref())),
            self.text.as_deref(),
        )
    }

    /// The lowest row key a match can have: a row key is its storing time in ms << 16, never
    /// before its arrival.
    pub(super) fn seq_floor(&self) -> i64 {
        self.since
            .map_or(i64::MIN, |s| s.timestamp_millis().max(0) << 16)
    }

    /// One past the highest row key a match can have: stored at most [`STORE_LAG_MS`] after
    /// `until`.
    pub(super) fn seq_ceiling(&self) -> i64 {
        self.until.map_or(i64::MAX, |u| {
            let ms = u.timestamp_millis().max(0).saturating_add(STORE_LAG_MS);
            ms.min(i64::MAX >> 16) << 16
        })
    }

    /// SQL conditions (each starting with ` AND`) and their parameters, numbered from `first`.
    pub(super) fn sql(&self, first: usize) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut args: Vec<Value> = Vec::new();
        let next = |args: &mut Vec<Value>, v: Value| {
            args.push(v);
            first + args.len() - 1
        };
        if let Some(m) = &self.method {
            let n = next(&mut args, Value::Text(m.to_ascii_uppercase()));
            sql += &format!(" AND upper(method) = ?{n}");
        }
        if let Some(p) = &self.path {
            let n = next(&mut args, Value::Text(p.clone()));
            sql += &format!(" AND instr(path, ?{n}) > 0");
        }
        if let Some((name, value)) = &self.header {
            let a = next(&mut args, Value::Text(name.to_ascii_lowercase()));
            let b = next(&mut args, value.clone().map_or(Value::Null, Value::Text));
            sql += &format!(" AND hb_has_header(headers, ?{a}, ?{b})");
        }
        if let Some(t) = &self.text {
            let n = next(&mut args, Value::Text(t.clone()));
            sql += &format!(" AND hb_icontains(body, ?{n})");
        }
        // The row key bounds (`seq_floor`, `seq_ceiling`) come from the index; `received_at`
        // (fixed-width RFC 3339) decides exactly.
        if let Some(since) = self.since {
            let t = next(&mut args, Value::Text(time::format(since)));
            sql += &format!(" AND received_at >= ?{t}");
        }
        if let Some(until) = self.until {
            let t = next(&mut args, Value::Text(time::format(until)));
            sql += &format!(" AND received_at <= ?{t}");
        }
        (sql, args)
    }
}

/// Registers the SQL functions [`Filter`] uses on a connection.
pub(super) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("hb_icontains", 2, flags, |ctx| {
        let hay = ctx
            .get_raw(0)
            .as_bytes_or_null()
            .ok()
            .flatten()
            .unwrap_or(b"");
        let needle: String = ctx.get(1)?;
        Ok(icontains(hay, needle.as_bytes()))
    })?;
    conn.create_scalar_function("hb_has_header", 3, flags, |ctx| {
        let raw = ctx
            .get_raw(0)
            .as_bytes_or_null()
            .ok()
            .flatten()
            .unwrap_or(b"");
        let name: String = ctx.get(1)?;
        let value: Option<String> = ctx.get(2)?;
        Ok(headers::decode(raw).unwrap_or_default().iter().any(|h| {
            h.name.eq_ignore_ascii_case(&name)
                && value
                    .as_ref()
                    .is_none_or(|v| icontains(&h.value, v.as_bytes()))
        }))
    })?;
    Ok(())
}

/// True when `needle` occurs in `hay`, ignoring ASCII case.
fn icontains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}
