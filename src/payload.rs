//! Event payloads as the bytes they are given in. A payload is a JSON object (nested values
//! allowed); it is sent exactly as written, compacted only by removing the whitespace between
//! tokens. Numbers, string escapes and key order are never re-encoded, so `1.10`, `1e3`, `-0.0`,
//! integers beyond 2^53 and `"\u00e9"` arrive as they were fired.

use bytes::Bytes;

/// A JSON object's text, checked and compacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload(Bytes);

impl Payload {
    /// Checks that `text` is one JSON object and compacts it; the error says what is wrong.
    pub fn parse(text: &[u8]) -> Result<Payload, String> {
        match serde_json::from_slice::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(_)) => Ok(Payload(Bytes::from(compact(text)))),
            Ok(_) => Err("the payload must be a JSON object".into()),
            Err(e) => Err(format!("the payload is not valid JSON: {e}")),
        }
    }

    /// True for `{}` (with or without whitespace), which means "the event's sample".
    pub fn is_empty_object(&self) -> bool {
        &self.0[..] == b"{}"
    }

    /// The bytes that are sent.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// The payload as text (it is valid JSON, so UTF-8).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Valid JSON text without the whitespace between tokens; everything else byte for byte.
fn compact(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            out.push(b);
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(b);
            in_string = b == b'"';
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_exactly_and_only_whitespace_goes() {
        let given = "{ \"amount\": 1.10, \"big\": 12345678901234567890123,\n \"e\": 1e3, \"z\": -0.0,\
                     \"s\": \"caf\\u00e9 \\\" { } \", \"n\": {\"a\": [1, 2]} }";
        let p = Payload::parse(given.as_bytes()).unwrap();
        assert_eq!(
            p.as_str(),
            "{\"amount\":1.10,\"big\":12345678901234567890123,\"e\":1e3,\"z\":-0.0,\
             \"s\":\"caf\\u00e9 \\\" { } \",\"n\":{\"a\":[1,2]}}"
        );
        assert!(Payload::parse(b" {\n} ").unwrap().is_empty_object());
        assert!(Payload::parse(b"[1]").unwrap_err().contains("JSON object"));
        assert!(Payload::parse(b"{").unwrap_err().contains("not valid JSON"));
    }
}
