//! The request heads of an HTTP/1 connection, as the bytes arrived.
//!
//! hyper frames messages well but does not keep every header it reads: it drops
//! `Content-Length` when `Transfer-Encoding` is present and folds repeated identical
//! `Content-Length` lines into one. Those are exactly the requests a person debugging framing
//! wants to see as sent, so this tap follows the connection's bytes beside hyper (heads with
//! httparse, bodies by the same framing rules hyper applies) and keeps the header list of each
//! head that hyper would alter. The capture path takes the list in place of hyper's.
//!
//! The tap is a witness, not a parser in charge: the first thing it cannot follow stops it for
//! the rest of the connection, and the service checks each head's request line against the
//! request hyper parsed before using it. Its cost is linear in the bytes read.

use std::collections::VecDeque;

/// A head as sent, when hyper's view of it differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHead {
    /// The method and request target, as on the request line.
    pub method: String,
    pub target: String,
    /// Every header line in order, names lowercased, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Where in the byte stream the tap is.
#[derive(Debug)]
enum At {
    /// Collecting a head.
    Head,
    /// Skipping a body of known length.
    Fixed(u64),
    /// In a chunked body: reading a chunk-size line (its value so far, and whether past `;`).
    ChunkSize(u64, bool),
    /// Skipping chunk data, then its CRLF.
    ChunkData(u64),
    ChunkEnd,
    /// Reading trailer lines after the last chunk; the length of the current line.
    Trailers(usize),
    /// Lost track (something hyper will refuse, or an upgrade): records nothing more.
    Lost,
}

/// The longest request target hyper takes (`u16::MAX - 1`); longer gets its 414.
const MAX_URI: usize = u16::MAX as usize - 1;

/// Follows one connection's bytes.
#[derive(Debug)]
pub struct Tap {
    at: At,
    head: Vec<u8>,
    max_head: usize,
    max_headers: usize,
    /// One entry per complete head: `Some` when hyper's headers would differ from the raw ones.
    pub heads: VecDeque<Option<RawHead>>,
    /// Set when a head came that hyper refuses (over its limits, or not HTTP/1.1): hyper then
    /// answers it by itself (see `answers::own_error`).
    pub refused: bool,
}

impl Tap {
    /// A tap for heads of at most `max_head` bytes and `max_headers` lines (hyper's limits).
    pub fn new(max_head: usize, max_headers: usize) -> Tap {
        Tap {
            at: At::Head,
            head: Vec::new(),
            max_head,
            max_headers,
            heads: VecDeque::new(),
            refused: false,
        }
    }

    /// Feeds the next bytes read from the connection.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            bytes = match self.at {
                At::Lost => return,
                At::Head => self.head_bytes(bytes),
                At::Fixed(left) => self.skip(bytes, left, At::Head, At::Fixed),
                At::ChunkSize(size, ext) => self.chunk_size(bytes, size, ext),
                At::ChunkData(left) => self.skip(bytes, left, At::ChunkEnd, At::ChunkData),
                At::ChunkEnd => match bytes.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.at = At::ChunkSize(0, false);
                        &bytes[i + 1..]
                    }
                    None => &[],
                },
                At::Trailers(line) => self.trailers(bytes, line),
            };
        }
    }

    /// Passes over up to `left` body bytes; then the tap is at `done`, or at `more` of what is
    /// left.
    fn skip<'a>(&mut self, bytes: &'a [u8], left: u64, done: At, more: fn(u64) -> At) -> &'a [u8] {
        let n = left.min(bytes.len() as u64);
        self.at = if n == left { done } else { more(left - n) };
        &bytes[n as usize..]
    }

    fn head_bytes<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        // Only look for the end from where the last search stopped (less 3 bytes of overlap).
        let from = self.head.len().saturating_sub(3);
        self.head.extend_from_slice(bytes);
        let Some(end) = find_end(&self.head[from..]).map(|e| from + e) else {
            if self.head.len() >= self.max_head {
                self.at = At::Lost;
                self.refused = true;
            }
            return &[];
        };
        let rest_from = bytes.len() - (self.head.len() - end);
        let head = std::mem::take(&mut self.head);
        self.take_head(&head[..end]);
        &bytes[rest_from..]
    }

    fn take_head(&mut self, head: &[u8]) {
        let mut lines = vec![httparse::EMPTY_HEADER; self.max_headers];
        let mut req = httparse::Request::new(&mut lines);
        match req.parse(head) {
            // hyper also refuses a target longer than its URI limit (414).
            Ok(httparse::Status::Complete(_)) if req.path.is_some_and(|p| p.len() <= MAX_URI) => {}
            _ => {
                self.at = At::Lost;
                self.refused = true;
                return;
            }
        }
        let is = |h: &httparse::Header<'_>, name: &str| h.name.eq_ignore_ascii_case(name);
        let te: Vec<&[u8]> = req
            .headers
            .iter()
            .filter(|h| is(h, "transfer-encoding"))
            .map(|h| h.value)
            .collect();
        let lengths: Vec<&[u8]> = req
            .headers
            .iter()
            .filter(|h| is(h, "content-length"))
            .map(|h| h.value)
            .collect();
        self.at = if let Some(last) = te.last() {
            let chunked = last
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            if chunked {
                At::ChunkSize(0, false)
            } else {
                At::Lost
            }
        } else {
            match lengths.first().map(|v| parse_len(v)) {
                None => At::Head,
                Some(Some(0)) => At::Head,
                Some(Some(n)) => At::Fixed(n),
                Some(None) => At::Lost,
            }
        };
        if matches!(req.method, Some("CONNECT")) || req.headers.iter().any(|h| is(h, "upgrade")) {
            self.at = At::Lost;
        }
        let differs = (!te.is_empty() && !lengths.is_empty()) || lengths.len() > 1;
        let raw = differs.then(|| RawHead {
            method: req.method.unwrap_or_default().to_owned(),
            target: req.path.unwrap_or_default().to_owned(),
            headers: req
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                .collect(),
        });
        self.heads.push_back(raw);
    }

    fn chunk_size<'a>(&mut self, bytes: &'a [u8], mut size: u64, mut ext: bool) -> &'a [u8] {
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' => {
                    self.at = if size == 0 {
                        At::Trailers(0)
                    } else {
                        At::ChunkData(size)
                    };
                    return &bytes[i + 1..];
                }
                _ if ext || b == b'\r' => {}
                b';' => ext = true,
                _ => match (b as char).to_digit(16) {
                    Some(d) if size <= u64::MAX >> 4 => size = size << 4 | u64::from(d),
                    _ if b == b' ' || b == b'\t' => ext = true,
                    _ => {
                        self.at = At::Lost;
                        return &[];
                    }
                },
            }
        }
        self.at = At::ChunkSize(size, ext);
        &[]
    }

    fn trailers<'a>(&mut self, bytes: &'a [u8], mut line: usize) -> &'a [u8] {
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'\n' if line == 0 => {
                    self.at = At::Head;
                    return &bytes[i + 1..];
                }
                b'\n' => line = 0,
                b'\r' => {}
                _ => line += 1,
            }
        }
        self.at = At::Trailers(line);
        &[]
    }
}

/// The length of a head ending in an empty line (CRLF or bare LF line ends), if it is complete.
fn find_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = buf[i..].iter().position(|&b| b == b'\n') {
        let at = i + nl;
        let next = &buf[at + 1..];
        if next.starts_with(b"\n") {
            return Some(at + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(at + 3);
        }
        i = at + 1;
    }
    None
}

fn parse_len(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(bytes: &[u8], step: usize) -> Tap {
        let mut t = Tap::new(64 * 1024, 100);
        for chunk in bytes.chunks(step) {
            t.feed(chunk);
        }
        t
    }

    #[test]
    fn keeps_what_hyper_would_drop_and_follows_framing_across_requests() {
        let stream = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n\
POST /b HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc\
GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
        for step in [1, 2, 7, stream.len()] {
            let t = tap(stream, step);
            assert_eq!(t.heads.len(), 3, "step {step}");
            let a = t.heads[0].as_ref().unwrap();
            assert_eq!((a.method.as_str(), a.target.as_str()), ("POST", "/a"));
            assert_eq!(a.headers[1], ("content-length".into(), b"5".to_vec()));
            let b = t.heads[1].as_ref().unwrap();
            let lengths = b.headers.iter().filter(|(n, _)| n == "content-length");
            assert_eq!(lengths.count(), 2);
            assert_eq!(t.heads[2], None, "nothing to keep for an ordinary head");
        }
    }

    #[test]
    fn stops_at_what_it_cannot_follow() {
        let t = tap(
            b"POST / HTTP/1.1\r\nContent-Length: zz\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            4,
        );
        assert_eq!(t.heads.len(), 1);
        let t = tap(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
            3,
        );
        assert!(matches!(t.at, At::Lost));
    }
}
