//! HAR 1.2 (the HTTP Archive format) for a set of captures. Each entry is one capture; its
//! response is what hookbin answered, of which only the status is recorded. Bodies that are not
//! UTF-8 text are given in base64 and marked with the custom field `_encoding`; a header value
//! that is not UTF-8 keeps a readable `value` and its exact bytes in `_valueBase64`, with a
//! comment saying so. Form and multipart bodies also carry `params` (HAR's parsed view, which
//! tools such as httpsnippet build requests from) beside the exact `text`.
//!
//! A log is written in three parts ([`HAR_START`], entries joined by commas, [`HAR_END`]) so
//! that an export can stream one capture at a time instead of holding them all.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use std::future::Future;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::model::{Capture, RequestId};

/// Everything of a HAR log before its first entry.
pub const HAR_START: &str = concat!(
    r#"{"log":{"version":"1.2","creator":{"name":"hookbin","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""},"pages":[],"entries":["#
);

/// Everything of a HAR log after its last entry.
pub const HAR_END: &str = "]}}";

/// The HAR entry of one capture.
pub fn har_entry(c: &Capture, base: &str) -> Value {
    let headers: Vec<Value> = c
        .headers
        .iter()
        .map(|h| match std::str::from_utf8(&h.value) {
            Ok(value) => json!({ "name": h.name, "value": value }),
            Err(_) => json!({
                "name": h.name,
                "value": String::from_utf8_lossy(&h.value),
                "_valueBase64": BASE64.encode(&h.value),
                "comment": "the value is not UTF-8: its exact bytes are in _valueBase64",
            }),
        })
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
        let mut post = match std::str::from_utf8(&c.body) {
            Ok(text) => json!({ "mimeType": mime, "text": text }),
            Err(_) => json!({
                "mimeType": mime,
                "text": BASE64.encode(&c.body),
                "_encoding": "base64",
            }),
        };
        if let Some(params) = params(mime, &c.body) {
            post["params"] = Value::Array(params);
        }
        request["postData"] = post;
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

/// HAR's `params` for a URL-encoded form or a multipart body: each field's name and value (a
/// file part gives its file name and type instead, as HAR has no room for binary values).
fn params(mime: &str, body: &[u8]) -> Option<Vec<Value>> {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Some(
            crate::inspect::pairs(body)
                .into_iter()
                .map(|(name, value)| json!({ "name": name, "value": value }))
                .collect(),
        ),
        "multipart/form-data" => {
            let parts = crate::inspect::multipart::parse(mime, body)?;
            Some(
                parts
                    .into_iter()
                    .map(|p| {
                        let mut v = json!({ "name": p.name.unwrap_or_default() });
                        match p.filename {
                            Some(file) => {
                                v["fileName"] = json!(file);
                                if let Some(t) = p.content_type {
                                    v["contentType"] = json!(t);
                                }
                            }
                            None => v["value"] = json!(p.text.unwrap_or_default()),
                        }
                        v
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// Body bytes read from the store at once while a HAR export streams.
const BATCH_BYTES: u64 = 8 * 1024 * 1024;
/// Captures read at once while a HAR export streams.
const BATCH_MAX: usize = 500;

/// Streams the HAR file of the captures `ids` (each with its body size), fetched with `fetch`
/// in batches of at most `BATCH_MAX` captures and `BATCH_BYTES` of bodies (at least one
/// capture), so a bin of large bodies never sits in memory whole. A capture `fetch` no longer
/// finds is left out; if `fetch` fails, the stream ends short (the answer is already under
/// way, so it cannot turn into an error).
pub fn stream<F, Fut, E>(
    ids: Vec<(RequestId, u64)>,
    base: String,
    fetch: F,
) -> mpsc::Receiver<Bytes>
where
    F: Fn(Vec<RequestId>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<Capture>, E>> + Send,
    E: std::fmt::Display,
{
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let send = |text: String| tx.send(Bytes::from(text));
        if send(HAR_START.to_owned()).await.is_err() {
            return;
        }
        let mut first = true;
        let mut rest = ids.as_slice();
        while !rest.is_empty() {
            let mut bytes = 0;
            let take = rest
                .iter()
                .take(BATCH_MAX)
                .take_while(|(_, size)| {
                    bytes += size;
                    bytes <= BATCH_BYTES
                })
                .count()
                .max(1);
            let (batch, more) = rest.split_at(take);
            rest = more;
            let captures = match fetch(batch.iter().map(|(id, _)| *id).collect()).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "HAR export stopped");
                    return;
                }
            };
            for c in captures {
                let comma = if std::mem::take(&mut first) { "" } else { "," };
                if send(format!("{comma}{}", har_entry(&c, &base)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        let _ = send(HAR_END.to_owned()).await;
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BinId, Header, RequestId};

    /// A whole log, joined as the streaming export joins it.
    fn har(captures: &[Capture], base: &str) -> String {
        let entries: Vec<String> = captures
            .iter()
            .map(|c| har_entry(c, base).to_string())
            .collect();
        format!("{HAR_START}{}{HAR_END}", entries.join(","))
    }

    #[test]
    fn streamed_parts_make_valid_har_json() {
        let empty: Value = serde_json::from_str(&har(&[], "http://h")).unwrap();
        assert_eq!(empty["log"]["version"], "1.2");
        assert_eq!(
            empty["log"]["creator"]["version"],
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(empty["log"]["entries"], json!([]));
        let c = Capture {
            id: RequestId::from_seq(7),
            bin_id: BinId::parse("b").unwrap(),
            received_at: chrono::Utc::now(),
            method: "POST".into(),
            path: "/b/b/x".into(),
            query: "a=1".into(),
            http_version: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1:1".into(),
            headers: vec![Header {
                name: "content-type".into(),
                value: b"text/plain".to_vec(),
            }],
            body_size: 2,
            body: bytes::Bytes::from_static(b"hi"),
            response_status: 202,
            response_rule: None,
        };
        let two: Value = serde_json::from_str(&har(&[c.clone(), c], "http://h")).unwrap();
        let e = &two["log"]["entries"][1];
        assert_eq!(e["request"]["url"], "http://h/b/b/x?a=1");
        assert_eq!(e["request"]["postData"]["text"], "hi");
        assert_eq!(e["response"]["status"], 202);
        assert_eq!(e["response"]["statusText"], "Accepted");
    }
}
