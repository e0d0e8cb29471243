//! Reading pipelined answers: one answer at a time out of whatever the connection has
//! delivered so far, framed as RFC 9112 6.3 says, with its head and kept body bounded.

use bytes::{Buf, BytesMut};

use crate::model::Attempt;
use crate::outbound::keep_capped;

/// Longest answer head, and longest chunk-size line or trailer section, read.
const HEAD_MAX: usize = 64 * 1024;
/// Most header lines in an answer head or a trailer section.
const HEADERS_MAX: usize = 128;

/// How the body of the answer being read ends.
#[derive(Default)]
enum Framing {
    /// The head is not in yet.
    #[default]
    Head,
    /// This many bytes are left.
    Length(u64),
    /// Chunked: the next size line is due.
    ChunkSize,
    /// Chunked: this many bytes of the current chunk are left, then its CRLF.
    ChunkData(u64),
    /// Chunked: the trailer section after the last chunk.
    Trailers,
    /// Neither length nor chunks: the body runs to the end of the connection.
    ToEof,
}

/// The answer being read, kept across reads.
#[derive(Default)]
pub(super) struct Answer {
    framing: Framing,
    attempt: Attempt,
    kept: BytesMut,
    close: bool,
}

impl Answer {
    /// Consumes what `input` holds of the current answer; the answer and whether it closes the
    /// connection once complete. `eof`: the connection has ended after `input`.
    pub(super) fn feed(
        &mut self,
        input: &mut BytesMut,
        head_only: bool,
        eof: bool,
    ) -> Result<Option<(Attempt, bool)>, String> {
        loop {
            match self.framing {
                Framing::Head => {
                    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
                    let mut resp = httparse::Response::new(&mut headers);
                    let n = match resp.parse(input) {
                        Ok(httparse::Status::Complete(n)) => n,
                        Ok(httparse::Status::Partial) if input.len() > HEAD_MAX => {
                            return Err("the app's answer head is too long".into());
                        }
                        Ok(httparse::Status::Partial) => return Ok(None),
                        Err(e) => return Err(format!("the app's answer is not HTTP: {e}")),
                    };
                    let status = resp.code.unwrap_or_default();
                    if status == 101 {
                        return Err("the app switched protocols instead of answering".into());
                    }
                    if (100..200).contains(&status) {
                        input.advance(n);
                        continue;
                    }
                    let (framing, close) = framing(&resp, status, head_only)?;
                    self.attempt.status = Some(status);
                    self.attempt.response_headers = resp
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    self.framing = framing;
                    self.close = close;
                    input.advance(n);
                }
                Framing::Length(0) => return Ok(Some(self.finish())),
                Framing::Length(left) => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let take = self.take(input, left);
                    self.framing = Framing::Length(left - take);
                }
                Framing::ChunkData(0) => {
                    if input.len() < 2 {
                        return Ok(None);
                    }
                    if !input.starts_with(b"\r\n") {
                        return Err("the app's chunked answer is malformed".into());
                    }
                    input.advance(2);
                    self.framing = Framing::ChunkSize;
                }
                Framing::ChunkData(left) => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let take = self.take(input, left);
                    self.framing = Framing::ChunkData(left - take);
                }
                Framing::ChunkSize => match httparse::parse_chunk_size(input) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        input.advance(n);
                        self.framing = if size == 0 {
                            Framing::Trailers
                        } else {
                            Framing::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if input.len() <= HEAD_MAX => return Ok(None),
                    _ => return Err("the app's chunked answer is malformed".into()),
                },
                Framing::Trailers => {
                    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
                    match httparse::parse_headers(input, &mut headers) {
                        Ok(httparse::Status::Complete((n, _))) => {
                            input.advance(n);
                            return Ok(Some(self.finish()));
                        }
                        Ok(httparse::Status::Partial) if input.len() <= HEAD_MAX => {
                            return Ok(None);
                        }
                        _ => return Err("the app's chunked answer is malformed".into()),
                    }
                }
                Framing::ToEof => {
                    let all = input.split();
                    self.keep(&all);
                    return Ok(eof.then(|| self.finish()));
                }
            }
        }
    }

    /// Moves up to `left` bytes of body from `input`; how many.
    fn take(&mut self, input: &mut BytesMut, left: u64) -> u64 {
        let n = left.min(input.len() as u64) as usize;
        let data = input.split_to(n);
        self.keep(&data);
        n as u64
    }

    fn keep(&mut self, data: &[u8]) {
        if keep_capped(&mut self.kept, data) {
            self.attempt.response_truncated = true;
        }
    }

    fn finish(&mut self) -> (Attempt, bool) {
        let mut done = std::mem::take(self);
        done.attempt.response_body = done.kept.freeze();
        (done.attempt, done.close)
    }
}

/// How an answer's body is framed (RFC 9112 6.3) and whether the connection ends after it.
fn framing(
    resp: &httparse::Response,
    status: u16,
    head_only: bool,
) -> Result<(Framing, bool), String> {
    let values = |name: &str| -> Vec<String> {
        resp.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
            .collect()
    };
    let tokens = |name: &str| {
        values(name)
            .iter()
            .flat_map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let connection = tokens("connection");
    let mut close = connection.iter().any(|t| t == "close");
    if resp.version == Some(0) && !connection.iter().any(|t| t == "keep-alive") {
        close = true;
    }
    if head_only || status == 204 || status == 304 {
        return Ok((Framing::Length(0), close));
    }
    let codings = tokens("transfer-encoding");
    if let Some(last) = codings.last() {
        if last == "chunked" {
            return Ok((Framing::ChunkSize, close));
        }
        return Ok((Framing::ToEof, true));
    }
    let lengths = values("content-length");
    match lengths.first() {
        None => Ok((Framing::ToEof, true)),
        Some(first) => {
            let n: u64 = first
                .trim()
                .parse()
                .map_err(|_| "the app's answer has an invalid content-length".to_owned())?;
            if lengths.iter().any(|l| l.trim() != first.trim()) {
                return Err("the app's answer has conflicting content-lengths".into());
            }
            Ok((Framing::Length(n), close))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::RESPONSE_CAP;

    /// Feeds `wire` to a fresh reader `step` bytes at a time; the answers read.
    fn read_all(wire: &[u8], step: usize, head_only: bool) -> Result<Vec<(Attempt, bool)>, String> {
        let mut answer = Answer::default();
        let mut input = BytesMut::new();
        let mut got = Vec::new();
        let mut chunks = wire.chunks(step).peekable();
        while let Some(c) = chunks.next() {
            input.extend_from_slice(c);
            let eof = chunks.peek().is_none();
            while let Some(a) = answer.feed(&mut input, head_only, eof)? {
                got.push(a);
            }
        }
        Ok(got)
    }

    #[test]
    fn pipelined_answers_are_split_by_length_and_chunks_at_any_read_boundary() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\n\
            HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello\
            HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n\
            HTTP/1.1 204 No Content\r\n\r\n\
            HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n";
        for step in [1, 2, 3, 7, 64, wire.len()] {
            let got = read_all(wire, step, false).unwrap();
            let summary: Vec<(Option<u16>, &[u8])> = got
                .iter()
                .map(|(a, _)| (a.status, a.response_body.as_ref()))
                .collect();
            assert_eq!(
                summary,
                vec![
                    (Some(200), &b"hello"[..]),
                    (Some(503), b"abcde"),
                    (Some(204), b""),
                    (Some(201), b""),
                ],
                "read {step} bytes at a time"
            );
            assert_eq!(got[0].0.response_headers[1], ("x-a".into(), "1".into()));
            assert!(got.iter().all(|(_, close)| !close));
        }
    }

    #[test]
    fn an_answer_without_length_runs_to_the_end_and_closes() {
        let wire = b"HTTP/1.0 200 OK\r\n\r\nall of it";
        let got = read_all(wire, 4, false).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(&got[0].0.response_body[..], b"all of it");
        assert!(got[0].1, "the connection ends with it");
        let close =
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n";
        assert!(read_all(close, 100, false).unwrap()[0].1);
    }

    #[test]
    fn a_head_request_answer_has_no_body_whatever_it_says() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
        let got = read_all(wire, 100, true).unwrap();
        assert_eq!(got[0].0.status, Some(200));
        assert!(got[0].0.response_body.is_empty());
    }

    #[test]
    fn a_long_body_is_kept_up_to_the_cap_and_still_framed() {
        let mut wire = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            RESPONSE_CAP + 10
        )
        .into_bytes();
        wire.extend(std::iter::repeat_n(b'x', RESPONSE_CAP + 10));
        wire.extend_from_slice(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok");
        let got = read_all(&wire, 1000, false).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.response_body.len(), RESPONSE_CAP);
        assert!(got[0].0.response_truncated);
        assert_eq!(&got[1].0.response_body[..], b"ok");
    }

    #[test]
    fn malformed_answers_are_errors_not_guesses() {
        for wire in [
            &b"SMTP ready\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ] {
            assert!(
                read_all(wire, 100, false).is_err(),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
        let endless = [b"HTTP/1.1 200 OK\r\n".as_slice(), &[b'x'; HEAD_MAX + 1]].concat();
        assert!(read_all(&endless, 4096, false).is_err());
    }
}
