//! Answers hookbin writes itself on a raw connection, beneath hyper: to a connection refused or
//! timed out before a request, and in place of hyper's own bodiless refusals of a head. Each is
//! a complete HTTP/1.1 answer with a JSON `{"error": ...}` body, like every other error.

/// A complete HTTP/1.1 answer with a JSON error body that closes the connection, for the
/// places that answer under hyper (a timed-out head, a refused connection).
pub fn closing_answer(status: &str, extra: &str, error: &str) -> Vec<u8> {
    let body = serde_json::json!({ "error": error }).to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n\
         {extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// hyper answers a request head it cannot take (too large: 431, a target over 64 KiB: 414, not
/// HTTP: 400) by itself, with an empty body, before any request reaches the service. Every other
/// error hookbin gives says what went wrong in `{"error": ...}`, so these do too: `buf` is the
/// start of such an answer (written after the tap saw a refused head, with nothing in flight,
/// and without a body), and this is its replacement.
pub fn own_error(buf: &[u8]) -> Option<Vec<u8>> {
    let line = buf.strip_prefix(b"HTTP/1.1 ")?;
    let end = line.iter().position(|b| *b == b'\r')?;
    let head = String::from_utf8_lossy(&line[end..]).to_ascii_lowercase();
    if head.contains("\ncontent-type:") || !head.contains("\ncontent-length: 0\r") {
        return None;
    }
    let line = &line[..end];
    let line = std::str::from_utf8(line).ok()?;
    let error = match line.get(..3)? {
        "431" => "the request head is over the limit (--max-header-bytes, --max-headers)",
        "414" => "the request target (path and query) is too long",
        "400" => "the request could not be read as HTTP/1.1",
        "505" => "this HTTP version is not supported",
        _ => return None,
    };
    Some(closing_answer(line, "", error))
}
