//! Checks what a user asks a bin to do (its answer, its forward URL, its signing secret),
//! for the API and the bin page alike, so both refuse the same things with the same words.

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};

use super::WebError;
use crate::model::{BinId, BinResponse, MAX_DELAY_MS};

/// Headers a custom answer may not set: hookbin frames the answer itself.
const FRAMING: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
];

/// A custom answer from its parts, or a 400 that says what is wrong (the first problem).
pub fn response(
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
    delay_ms: u64,
) -> Result<BinResponse, WebError> {
    check_status(status, body.is_empty())?;
    check_delay(delay_ms)?;
    check_headers(&headers)?;
    Ok(BinResponse {
        status,
        headers,
        body,
        delay_ms,
    })
}

/// The answer's status: 200 to 599, and no body on a 204 or 304.
pub fn check_status(status: u16, body_empty: bool) -> Result<(), WebError> {
    if !(200..=599).contains(&status) {
        return bad(format!("status must be from 200 to 599, not {status}"));
    }
    if matches!(status, 204 | 304) && !body_empty {
        return bad(format!("a {status} answer cannot have a body"));
    }
    Ok(())
}

/// The delay before answering: at most [`MAX_DELAY_MS`].
pub fn check_delay(delay_ms: u64) -> Result<(), WebError> {
    if delay_ms > MAX_DELAY_MS {
        return bad(format!(
            "delay must be at most {MAX_DELAY_MS} ms (30 s), not {delay_ms}"
        ));
    }
    Ok(())
}

/// The answer's headers: valid names and values, none that frame the message.
pub fn check_headers(headers: &[(String, String)]) -> Result<(), WebError> {
    for (name, value) in headers {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return bad(format!("'{name}' is not a valid header name"));
        }
        if FRAMING.contains(&name.to_ascii_lowercase().as_str()) {
            return bad(format!(
                "{name} is set by hookbin itself and cannot be changed"
            ));
        }
        if HeaderValue::from_str(value).is_err() {
            return bad(format!(
                "the value of {name} has characters a header cannot carry"
            ));
        }
    }
    Ok(())
}

fn bad(message: String) -> Result<(), WebError> {
    Err(WebError::BadRequest(message))
}

/// `Name: value` lines (blank lines skipped) as header pairs.
pub fn header_lines(text: &str) -> Result<Vec<(String, String)>, WebError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| {
                    WebError::BadRequest(format!("header line '{l}' must look like Name: value"))
                })
        })
        .collect()
}

/// A forward URL for `bin`, or a 400.
pub fn forward_url(url: &str, bin: &BinId, local_port: u16) -> Result<String, WebError> {
    let url = url.trim();
    crate::relay::check_forward_url(url, bin, local_port).map_err(WebError::BadRequest)?;
    Ok(url.to_owned())
}

/// A signing secret, or a 400 when it is blank.
pub fn signing_secret(secret: &str) -> Result<String, WebError> {
    let s = secret.trim();
    if s.is_empty() || s.len() > 1024 {
        return Err(WebError::BadRequest(
            "the signing secret must be 1 to 1024 characters".into(),
        ));
    }
    Ok(s.to_owned())
}
