//! What handlers read from a request: small form and JSON bodies, query parameters, the paging
//! and filters shared by the bin page, the list API and the HAR export, and local redirect
//! targets sent back by forms.

use bytes::Bytes;
use hyper::Request;
use hyper::body::Incoming;

use super::WebError;
use crate::model::RequestId;
use crate::store::Filter;

/// Largest body accepted by the API and the forms (captures have their own, larger limit).
const FORM_LIMIT: usize = 64 * 1024;
/// Time a form or API body gets to arrive; at most 64 KiB, so this is generous.
const FORM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads a small request body (form or JSON), refusing anything over [`FORM_LIMIT`] or slower
/// than [`FORM_TIMEOUT`].
pub(super) async fn read_small_body(req: Request<Incoming>) -> Result<Bytes, WebError> {
    Ok(crate::capture::body::read(req.into_body(), FORM_LIMIT as u64, FORM_TIMEOUT).await?)
}

/// Reads a form post as [`read_small_body`] does, keeping the request's head for what answers
/// it (the page's own URL, its cookies): the head, and the decoded `key=value` pairs.
pub(super) async fn read_form(
    req: Request<Incoming>,
) -> Result<(Request<()>, Vec<(String, String)>), WebError> {
    let (parts, body) = req.into_parts();
    let raw = crate::capture::body::read(body, FORM_LIMIT as u64, FORM_TIMEOUT).await?;
    Ok((Request::from_parts(parts, ()), crate::inspect::pairs(&raw)))
}

/// The decoded `key=value` pairs of the request's query string.
pub(super) fn query_pairs<B>(req: &Request<B>) -> Vec<(String, String)> {
    crate::inspect::pairs(req.uri().query().unwrap_or("").as_bytes())
}

/// The `limit` query parameter (default `default`, 1 to `max`).
pub(super) fn limit<B>(req: &Request<B>, default: usize, max: usize) -> Result<usize, WebError> {
    match query_pairs(req).into_iter().find(|(k, _)| k == "limit") {
        Some((_, v)) => parse_limit(&v, max),
        None => Ok(default),
    }
}

pub(super) fn parse_limit(v: &str, max: usize) -> Result<usize, WebError> {
    v.parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            WebError::BadRequest(format!("limit must be a number from 1 to {max}, not '{v}'"))
        })
}

/// The value of field `name` in decoded form pairs, or "" when absent.
pub(super) fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// `back` as a redirect target if it is a place on this hookbin's own pages (a bin or a
/// request), else `None`: forms send their page back, and nothing else may be sent there.
pub(super) fn local_back(back: &str) -> Option<&str> {
    let safe = back.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'/' | b'#' | b'-' | b'_' | b'?' | b'=' | b'&')
    });
    let place = back.starts_with("/requests/") || back.starts_with("/bins/");
    (safe && place && !back.contains("//")).then_some(back)
}

/// Parses the `limit` and `before` paging parameters shared by the page and the API.
pub(super) fn paging<B>(
    req: &Request<B>,
    default: usize,
    max: usize,
) -> Result<(usize, Option<RequestId>), WebError> {
    let mut limit = default;
    let mut before = None;
    for (k, v) in query_pairs(req) {
        match k.as_str() {
            "limit" => limit = parse_limit(&v, max)?,
            "before" if !v.is_empty() => {
                before = Some(RequestId::parse(&v).ok_or_else(|| {
                    WebError::BadRequest(format!("before must be a request id, not '{v}'"))
                })?)
            }
            _ => {}
        }
    }
    Ok((limit, before))
}

/// Reads the request-list filters `method`, `path`, `header` (`name` or `name:value`), `q` (body
/// text), `since` and `until` shared by the bin page, the list API and the HAR export; empty
/// ones are ignored, and a time that cannot be read or an empty range is a 400 naming it.
pub(super) fn filter<B>(req: &Request<B>) -> Result<Filter, WebError> {
    let (f, problems) = read_filter(req);
    match problems.into_iter().next() {
        Some((_, message)) => Err(WebError::BadRequest(message)),
        None => Ok(f),
    }
}

/// [`filter`] for a page: the filter that could be read, and each problem with its field.
pub(super) fn read_filter<B>(req: &Request<B>) -> (Filter, Vec<(&'static str, String)>) {
    let mut f = Filter::default();
    let mut problems = Vec::new();
    let now = chrono::Utc::now();
    for (k, v) in query_pairs(req) {
        let v = v.trim().to_owned();
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "method" => f.method = Some(v),
            "path" => f.path = Some(v),
            "header" => {
                f.header = Some(match v.split_once(':') {
                    Some((n, val)) if !val.trim().is_empty() => {
                        (n.trim().to_owned(), Some(val.trim().to_owned()))
                    }
                    Some((n, _)) => (n.trim().to_owned(), None),
                    None => (v, None),
                })
            }
            "q" => f.text = Some(v),
            "since" => match time_bound("since", &v, now) {
                Ok(t) => f.since = Some(t),
                Err(e) => problems.push(("since", e)),
            },
            "until" => match time_bound("until", &v, now) {
                Ok(t) => f.until = Some(t),
                Err(e) => problems.push(("until", e)),
            },
            _ => {}
        }
    }
    if let (Some(since), Some(until)) = (f.since, f.until)
        && until < since
    {
        problems.push((
            "until",
            format!(
                "until ({}) is before since ({}): no request can match",
                crate::time::format(until),
                crate::time::format(since)
            ),
        ));
    }
    (f, problems)
}

/// A time filter's value: an RFC 3339 time, or a span back from `now` such as `15m` or `2h`.
fn time_bound(
    name: &str,
    v: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Some(t) = crate::time::parse(v) {
        return Ok(t);
    }
    crate::units::parse_duration(v)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| {
            format!(
                "{name} must be a time like 2026-12-01T10:00:00Z or a span back from now like 15m, not '{v}'"
            )
        })
}

/// The query string that reproduces `f` (for pager and export links), starting with `&` when
/// not empty.
pub(super) fn filter_query(f: &Filter) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(m) = &f.method {
        q.append_pair("method", m);
    }
    if let Some(p) = &f.path {
        q.append_pair("path", p);
    }
    if let Some((n, v)) = &f.header {
        match v {
            Some(v) => q.append_pair("header", &format!("{n}:{v}")),
            None => q.append_pair("header", n),
        };
    }
    if let Some(t) = &f.text {
        q.append_pair("q", t);
    }
    // As absolute times, so that paging through "the last 15 minutes" keeps one range.
    if let Some(t) = f.since {
        q.append_pair("since", &crate::time::format(t));
    }
    if let Some(t) = f.until {
        q.append_pair("until", &crate::time::format(t));
    }
    let q = q.finish();
    if q.is_empty() { q } else { format!("&{q}") }
}

/// Which page of bins a request asks for: `q` (id contains), `sort` (`activity`, the default, or
/// `created`), `after` (a page's `next`) and `limit` (1 to `max`, else `default`).
pub(super) fn bin_query<B>(
    req: &Request<B>,
    default: usize,
    max: usize,
) -> Result<crate::store::BinQuery, WebError> {
    use crate::store::{BinOrder, BinQuery};
    let mut query = BinQuery {
        limit: default,
        ..BinQuery::default()
    };
    for (k, v) in query_pairs(req) {
        let v = v.as_str();
        match k.as_str() {
            "limit" => query.limit = parse_limit(v, max)?,
            "q" if !v.trim().is_empty() => query.q = Some(v.trim().to_owned()),
            "sort" => {
                query.order = match v {
                    "activity" => BinOrder::Activity,
                    "created" => BinOrder::Created,
                    _ => {
                        return Err(WebError::BadRequest(format!(
                            "sort must be activity or created, not '{v}'"
                        )));
                    }
                }
            }
            "after" if !v.is_empty() => {
                query.after = Some(BinQuery::cursor(v).ok_or_else(|| {
                    WebError::BadRequest(format!("after must be a page's next, not '{v}'"))
                })?)
            }
            _ => {}
        }
    }
    Ok(query)
}
