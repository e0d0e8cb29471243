//! HAR 1.2 (the HTTP Archive format) for a set of captures. Each entry is one capture; its
//! response is what hookbin answered, of which only the status is recorded. Bodies that are not
//! UTF-8 text are given in base64 and marked with the custom field `_encoding`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::model::Capture;

/// A HAR 1.2 log of `captures`, whose URLs are built on `base` (`http://host:port`).
pub fn har(captures: &[Capture], base: &str) -> Value {
    let entries: Vec<Value> = captures.iter().map(|c| entry(c, base)).collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "hookbin", "version": env!("CARGO_PKG_VERSION") },
            "pages": [],
            "entries": entries,
        }
    })
}

fn entry(c: &Capture, base: &str) -> Value {
    let headers: Vec<Value> = c
        .text_headers()
        .into_iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    let query: Vec<Value> = crate::inspect::pairs(c.query.as_bytes())
        .into_iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    let cookies: Vec<Value> = c
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
        .flat_map(|h| {
            String::from_utf8_lossy(&h.value)
                .split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .map(|(k, v)| json!({ "name": k, "value": v }))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut request = json!({
        "method": c.method,
        "url": format!("{base}{}", c.target()),
        "httpVersion": c.http_version,
        "cookies": cookies,
        "headers": headers,
        "queryString": query,
        "headersSize": -1,
        "bodySize": c.body_size,
    });
    if !c.body.is_empty() {
        let mime = c.content_type().unwrap_or("application/octet-stream");
        request["postData"] = match std::str::from_utf8(&c.body) {
            Ok(text) => json!({ "mimeType": mime, "text": text }),
            Err(_) => json!({
                "mimeType": mime,
                "text": BASE64.encode(&c.body),
                "_encoding": "base64",
            }),
        };
    }
    let status = hyper::StatusCode::from_u16(c.response_status).ok();
    json!({
        "startedDateTime": crate::time::format(c.received_at),
        "time": 0,
        "request": request,
        "response": {
            "status": c.response_status,
            "statusText": status.and_then(|s| s.canonical_reason()).unwrap_or(""),
            "httpVersion": c.http_version,
            "cookies": [],
            "headers": [],
            "content": { "size": 0, "mimeType": "" },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "comment": "hookbin records the status it answered with, not the answer's headers or body",
        },
        "cache": {},
        "timings": { "send": 0, "wait": 0, "receive": 0 },
        "_hookbin_id": c.id.to_string(),
    })
}
