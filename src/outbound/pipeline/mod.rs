//! HTTP/1.1 pipelining to one plain-HTTP origin, for `hookbin listen`: requests are written
//! back to back on one connection and the answers read in the order sent (RFC 9112 9.3.2), so
//! an app on this machine is kept busy without ever seeing captures out of order. hyper's
//! client sends a connection's next request only once the previous answer is in, which caps a
//! lone connection at one round trip per request.
//!
//! A run stops taking new requests at the first answer of 500 or more, at an answer that closes
//! the connection, and at any failure; it returns the answers in hand and the caller carries on
//! from the first request without one. Every wait is bounded by the client's timeout.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use chrono::{DateTime, Utc};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::not_delivered;
use crate::model::Attempt;

mod answer;

use answer::Answer;

/// Request bytes gathered into one write.
const WRITE_GATHER: usize = 64 * 1024;

/// One request ready for the wire: its head (request line and headers, framing included) and
/// its body.
pub struct Outgoing {
    head: Vec<u8>,
    body: Bytes,
    /// A HEAD request's answer has no body whatever its headers say.
    head_only: bool,
}

/// A connection to one `http://` origin that pipelines requests to it.
pub struct Pipeline {
    host: String,
    port: u16,
    /// `host:port`, to connect to and name in errors.
    authority: String,
    timeout: Duration,
    conn: Option<TcpStream>,
    /// The last answer closed its connection: until one keeps it open, a run sends one request
    /// per connection, so an app that reads one request and hangs up never gets more.
    closing: bool,
}

impl Pipeline {
    /// A pipeline to the origin of `url`; `None` for anything but plain `http://` (TLS goes the
    /// ordinary way, one request at a time). `timeout` bounds the connect and each answer.
    pub fn new(url: &str, timeout: Duration) -> Option<Pipeline> {
        let uri: Uri = url.parse().ok()?;
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let host = uri.host()?.to_owned();
        let port = uri.port_u16().unwrap_or(80);
        Some(Pipeline {
            authority: format!("{host}:{port}"),
            host,
            port,
            timeout,
            conn: None,
            closing: false,
        })
    }

    /// Encodes a request to `url` on this pipeline's origin with exactly these headers (`host`
    /// and `content-length` are added); `None` when it cannot go on the wire as it is (another
    /// origin, a target or header that is not valid HTTP), for the caller to send it the
    /// ordinary way.
    pub fn request(
        &self,
        method: &Method,
        url: &str,
        headers: &[(String, Vec<u8>)],
        body: Bytes,
    ) -> Option<Outgoing> {
        let uri: Uri = url.parse().ok()?;
        let same_origin = uri.scheme_str() == Some("http")
            && uri.host() == Some(self.host.as_str())
            && uri.port_u16().unwrap_or(80) == self.port;
        if !same_origin {
            return None;
        }
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(target.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        head.extend_from_slice(uri.authority()?.as_str().as_bytes());
        head.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            // The same rules hyper's request builder applies: no CR, LF or NUL gets through.
            HeaderName::from_bytes(name.as_bytes()).ok()?;
            HeaderValue::from_bytes(value).ok()?;
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || !matches!(*method, Method::GET | Method::HEAD) {
            head.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        Some(Outgoing {
            head,
            body,
            head_only: *method == Method::HEAD,
        })
    }

    /// Sends `reqs` in order, at most `window` unanswered at a time, and returns the answers to
    /// a prefix of them in the same order: all of them, or fewer when an answer was 500 or more,
    /// closed the connection, or the connection failed. When not even the first was answered,
    /// the one attempt returned says why.
    pub async fn run(&mut self, reqs: &[&Outgoing], window: usize) -> Vec<Attempt> {
        let mut answers = Vec::new();
        if reqs.is_empty() {
            return answers;
        }
        let reused = self.conn.is_some();
        let started = (Utc::now(), Instant::now());
        let window = if self.closing { 1 } else { window.max(1) };
        let mut failed = self.exchange(reqs, window, &mut answers).await.err();
        // A kept connection the app closed while idle: one fresh try before calling it a failure.
        if failed.is_some() && answers.is_empty() && reused {
            failed = self.exchange(reqs, window, &mut answers).await.err();
        }
        if let Some(why) = failed {
            self.conn = None;
            if answers.is_empty() {
                answers.push(Attempt {
                    at: started.0,
                    duration_ms: started.1.elapsed().as_millis() as u64,
                    error: Some(why),
                    ..Attempt::default()
                });
            }
        }
        answers
    }

    async fn exchange(
        &mut self,
        reqs: &[&Outgoing],
        window: usize,
        answers: &mut Vec<Attempt>,
    ) -> Result<(), String> {
        let mut stream = match self.conn.take() {
            Some(s) => s,
            None => self.connect().await?,
        };
        let (mut rd, mut wr) = stream.split();
        let mut next = 0;
        let mut sent: VecDeque<(DateTime<Utc>, Instant, bool)> = VecDeque::new();
        let mut out = BytesMut::new();
        let mut input = BytesMut::with_capacity(16 * 1024);
        let mut answer = Answer::default();
        let mut taking = true;
        let mut keep = true;
        // Each answer is due within the timeout of its request being sent or of the answer
        // before it, whichever is later.
        let mut due = tokio::time::Instant::now() + self.timeout;
        loop {
            while taking && next < reqs.len() && sent.len() < window && out.len() < WRITE_GATHER {
                let r = &reqs[next];
                out.extend_from_slice(&r.head);
                out.extend_from_slice(&r.body);
                sent.push_back((Utc::now(), Instant::now(), r.head_only));
                next += 1;
            }
            if sent.is_empty() {
                break;
            }
            tokio::select! {
                w = wr.write(&out), if !out.is_empty() => {
                    let n = w.map_err(|e| format!("could not send to the app: {e}"))?;
                    out.advance(n);
                }
                r = rd.read_buf(&mut input) => {
                    let n = r.map_err(|e| format!("the answer broke off: {e}"))?;
                    let eof = n == 0;
                    while let Some(&(at, began, head_only)) = sent.front() {
                        let Some((mut a, close)) = answer.feed(&mut input, head_only, eof)? else {
                            break;
                        };
                        a.at = at;
                        a.duration_ms = began.elapsed().as_millis() as u64;
                        not_delivered(&mut a);
                        taking &= a.status.is_some_and(|s| s < 500) && !close;
                        keep &= !close;
                        self.closing = close;
                        answers.push(a);
                        sent.pop_front();
                        due = tokio::time::Instant::now() + self.timeout;
                        if !keep {
                            break;
                        }
                    }
                    if !keep {
                        return Ok(());
                    }
                    if eof && !sent.is_empty() {
                        return Err("the app closed the connection before answering".into());
                    }
                }
                () = tokio::time::sleep_until(due) => {
                    return Err(format!(
                        "gave up waiting for an answer after {} s",
                        self.timeout.as_secs_f64()
                    ));
                }
            }
        }
        if keep && input.is_empty() {
            self.conn = Some(stream);
        }
        Ok(())
    }

    async fn connect(&self) -> Result<TcpStream, String> {
        let failed = |e: std::io::Error| format!("could not connect to {}: {e}", self.authority);
        let stream = tokio::time::timeout(self.timeout, TcpStream::connect(&self.authority))
            .await
            .map_err(|_| format!("could not connect to {}: timed out", self.authority))?
            .map_err(failed)?;
        stream.set_nodelay(true).map_err(failed)?;
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_their_headers_exactly_and_refuse_what_would_split_them() {
        let p = Pipeline::new("http://127.0.0.1:9/app", Duration::from_secs(1)).unwrap();
        let headers = vec![("X-Sig".to_owned(), b"v1,abc".to_vec())];
        let r = p
            .request(
                &Method::POST,
                "http://127.0.0.1:9/app/x?y=1",
                &headers,
                Bytes::from_static(b"{}"),
            )
            .unwrap();
        assert_eq!(
            String::from_utf8(r.head).unwrap(),
            "POST /app/x?y=1 HTTP/1.1\r\nhost: 127.0.0.1:9\r\nX-Sig: v1,abc\r\n\
             content-length: 2\r\n\r\n"
        );
        let split = vec![("x".to_owned(), b"a\r\nevil: 1".to_vec())];
        assert!(
            p.request(&Method::POST, "http://127.0.0.1:9/", &split, Bytes::new())
                .is_none()
        );
        assert!(
            p.request(&Method::GET, "http://127.0.0.2:9/", &[], Bytes::new())
                .is_none()
        );
        assert!(Pipeline::new("https://127.0.0.1/", Duration::from_secs(1)).is_none());
    }
}
