//! The bounds on one accepted connection that hyper does not enforce by itself.
//!
//! A connection may sit without a request in flight (before its first request head is complete,
//! between keep-alive requests, or as an HTTP/2 connection with no open stream) for at most the
//! idle limit, counted from the moment it was accepted or its last answer ended. The limit is
//! enforced on the socket's read side, under everything hyper does (including the HTTP/1 or
//! HTTP/2 sniffing that happens before hyper sees a byte), so a client that connects and sends
//! nothing, or sends one byte, or only answers HTTP/2 pings, is closed on time. An HTTP/1 client
//! that had begun a request (or never got an answer) is told so with a 408 first.
//!
//! The read side also feeds an HTTP/1 connection's bytes to a [`Tap`], so that each request
//! can carry its headers exactly as they arrived where hyper would have altered them.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::answers::{closing_answer, own_error};
use super::heads::Tap;
use crate::capture::Arrived;

/// State shared between a connection's socket and the requests served on it.
struct State {
    opened: Instant,
    /// Requests whose answer has not finished.
    in_flight: AtomicUsize,
    /// Requests begun on this connection.
    served: AtomicU64,
    /// Milliseconds after `opened` when the connection last became idle.
    idle_since_ms: AtomicU64,
    /// Bytes read from the socket, in all, and at the moment it last became idle.
    read: AtomicU64,
    read_at_idle: AtomicU64,
    /// The reader parked while a request was in flight, woken when the connection turns idle
    /// so that the idle limit is armed.
    reader: Mutex<Option<Waker>>,
    /// Follows the heads of an HTTP/1 connection; `None` once it is known to be HTTP/2.
    tap: Mutex<Option<Tap>>,
    /// Set when a request was answered before its body arrived (413, 408): the connection
    /// lingers when it closes (see [`Linger`]).
    answered_early: std::sync::atomic::AtomicBool,
}

/// A connection's shared state, as the service sees it: [`Tracker::begin`] per request.
#[derive(Clone)]
pub struct Tracker(Arc<State>);

/// Writes what fits at once, without waiting: the last words to a connection being closed.
pub trait WriteNow {
    fn write_now(&self, buf: &[u8]);
}

impl WriteNow for TcpStream {
    fn write_now(&self, buf: &[u8]) {
        let _ = self.try_write(buf);
    }
}

impl WriteNow for tokio_rustls::server::TlsStream<TcpStream> {
    /// Nothing: bytes must go through the TLS session, which cannot be driven from here, so an
    /// idle TLS connection is simply closed.
    fn write_now(&self, _buf: &[u8]) {}
}

/// A connection (plain TCP or TLS) that enforces the idle limit on reads.
pub struct Watched<S> {
    inner: S,
    state: Arc<State>,
    idle_limit: Duration,
    sleep: Pin<Box<Sleep>>,
    /// The first bytes of the connection, to tell HTTP/2's preface from an HTTP/1 request.
    first: [u8; 3],
    first_len: usize,
    /// Set once the connection is closing with request bytes still arriving.
    linger: Option<Linger>,
    /// hyper's own answer to a head it could not take, rewritten with a JSON error body (see
    /// [`own_error`]): what is left to write of it, and whether it was replaced.
    rewrite: Option<(Vec<u8>, usize)>,
    rewritten: bool,
}

/// A lingering close (as nginx calls it): after answering early (413, 408, 431) while the
/// client is still sending, the rest is read and thrown away for a while before the socket
/// closes, so that the client gets to read the answer instead of a reset. Bounded in time, in
/// silence, and in bytes.
struct Linger {
    /// When lingering ends in any case.
    until: Instant,
    /// When it ends if nothing more arrives.
    quiet: Pin<Box<Sleep>>,
    drained: u64,
}

/// The longest a closing connection is drained.
const LINGER_TIME: Duration = Duration::from_secs(10);
/// How long it may go without a byte while draining.
const LINGER_QUIET: Duration = Duration::from_secs(2);
/// The most bytes drained.
const LINGER_BYTES: u64 = 64 * 1024 * 1024;

/// Wraps an accepted socket; the tracker goes to the service that answers on it. `tap` follows
/// the heads the connection will carry, with hyper's own head limits.
pub fn watch<S>(inner: S, idle_limit: Duration, tap: Tap) -> (Watched<S>, Tracker) {
    let opened = Instant::now();
    let state = Arc::new(State {
        opened,
        in_flight: AtomicUsize::new(0),
        served: AtomicU64::new(0),
        idle_since_ms: AtomicU64::new(0),
        read: AtomicU64::new(0),
        read_at_idle: AtomicU64::new(0),
        reader: Mutex::new(None),
        tap: Mutex::new(Some(tap)),
        answered_early: std::sync::atomic::AtomicBool::new(false),
    });
    let watched = Watched {
        inner,
        state: state.clone(),
        idle_limit,
        sleep: Box::pin(tokio::time::sleep_until(opened + idle_limit)),
        first: [0; 3],
        first_len: 0,
        linger: None,
        rewrite: None,
        rewritten: false,
    };
    (watched, Tracker(state))
}

impl Tracker {
    /// Marks a request as in flight until the returned guard (kept with its answer) drops, and
    /// attaches the headers as they arrived when hyper's differ from them.
    pub fn begin<B>(&self, req: &mut hyper::Request<B>) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::AcqRel);
        self.0.served.fetch_add(1, Ordering::Relaxed);
        if req.version() <= hyper::Version::HTTP_11 {
            let head = self
                .0
                .tap
                .lock()
                .expect("tap poisoned")
                .as_mut()
                .and_then(|t| t.heads.pop_front());
            if let Some(Some(head)) = head {
                let target = req.uri().path_and_query().map_or("", |p| p.as_str());
                let same_line = head.method == req.method().as_str()
                    && (head.target == target || head.target == req.uri().to_string());
                if same_line {
                    req.extensions_mut().insert(Arrived(head.headers));
                }
            }
        }
        InFlight(self.0.clone())
    }
}

/// One request in flight on a connection.
pub struct InFlight(Arc<State>);

impl InFlight {
    /// Notes that this request is answered before its body has all arrived, so the client may
    /// still be sending when the connection closes.
    pub fn answered_early(&self) {
        self.0.answered_early.store(true, Ordering::Relaxed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let s = &self.0;
        if s.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let ms = s.opened.elapsed().as_millis() as u64;
            s.idle_since_ms.store(ms, Ordering::Relaxed);
            s.read_at_idle
                .store(s.read.load(Ordering::Relaxed), Ordering::Relaxed);
            if let Some(w) = s.reader.lock().expect("reader poisoned").take() {
                w.wake();
            }
        }
    }
}

impl<S> Watched<S> {
    /// True once the connection is known to speak HTTP/2 (its preface starts with `PRI`).
    fn is_h2(&self) -> bool {
        self.first_len == 3 && &self.first == b"PRI"
    }

    /// Whether the tap saw a head hyper refuses, so that hyper's next words are its own answer.
    fn head_refused(&self) -> bool {
        let tap = self.state.tap.lock().expect("tap poisoned");
        tap.as_ref().is_some_and(|t| t.refused)
    }
}

impl<S: WriteNow> Watched<S> {
    /// Ends an idle connection: an HTTP/1 client that had started a request, or never had
    /// one answered, hears 408 (a best-effort write; the socket's buffer is empty then).
    fn expire(&self) -> io::Error {
        let s = &self.state;
        let started = s.read.load(Ordering::Relaxed) > s.read_at_idle.load(Ordering::Relaxed);
        if !self.is_h2() && (started || s.served.load(Ordering::Relaxed) == 0) {
            let answer = closing_answer(
                "408 Request Timeout",
                "",
                "the request head did not arrive in time",
            );
            self.inner.write_now(&answer);
        }
        io::Error::new(io::ErrorKind::TimedOut, "connection idle past the limit")
    }
}

impl<S: AsyncRead + WriteNow + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.state.in_flight.load(Ordering::Acquire) == 0 {
            let since = this.state.idle_since_ms.load(Ordering::Relaxed);
            let deadline = this.state.opened + Duration::from_millis(since) + this.idle_limit;
            if this.sleep.deadline() != deadline {
                this.sleep.as_mut().reset(deadline);
            }
            if this.sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(this.expire()));
            }
        } else {
            let mut reader = this.state.reader.lock().expect("reader poisoned");
            if !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *reader = Some(cx.waker().clone());
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let got = &buf.filled()[before..];
        for &b in got.iter().take(3 - this.first_len) {
            this.first[this.first_len] = b;
            this.first_len += 1;
        }
        if !got.is_empty() {
            let mut tap = this.state.tap.lock().expect("tap poisoned");
            if this.is_h2() {
                *tap = None;
            } else if let Some(tap) = tap.as_mut() {
                tap.feed(got);
            }
        }
        this.state
            .read
            .fetch_add(got.len() as u64, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> Watched<S> {
    /// Writes hyper's bytes, except that its own error answer (see [`own_error`]) goes out as
    /// hookbin's JSON one, reported to hyper as written once the replacement is.
    fn write_or_rewrite(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Option<Poll<io::Result<usize>>> {
        if self.rewritten {
            return Some(Poll::Ready(Ok(buf.len())));
        }
        if self.rewrite.is_none() {
            let idle = self.state.in_flight.load(Ordering::Acquire) == 0;
            let answer = if idle && self.head_refused() {
                own_error(buf)
            } else {
                None
            }?;
            self.state.answered_early.store(true, Ordering::Relaxed);
            self.rewrite = Some((answer, 0));
        }
        let (answer, done) = self.rewrite.as_mut()?;
        while *done < answer.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &answer[*done..]) {
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Some(Poll::Ready(Err(e))),
                Poll::Pending => return Some(Poll::Pending),
            }
        }
        self.rewritten = true;
        Some(Poll::Ready(Ok(buf.len())))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(done) = self.write_or_rewrite(cx, buf) {
            return done;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(done) = self.write_or_rewrite(cx, first)
        {
            return done;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Sends the end of the answer, then, if the client is still sending, lingers (see
    /// [`Linger`]) before reporting the connection closed.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
        }
        // After an early answer, linger even if the client's next bytes are not here yet.
        if this.linger.is_none() && this.state.answered_early.load(Ordering::Relaxed) {
            let now = Instant::now();
            this.linger = Some(Linger {
                until: now + LINGER_TIME,
                quiet: Box::pin(tokio::time::sleep_until(now + LINGER_QUIET)),
                drained: 0,
            });
        }
        let mut scratch = [0u8; 16 * 1024];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    let now = Instant::now();
                    let linger = this.linger.get_or_insert_with(|| Linger {
                        until: now + LINGER_TIME,
                        quiet: Box::pin(tokio::time::sleep_until(now + LINGER_QUIET)),
                        drained: 0,
                    });
                    linger.drained += buf.filled().len() as u64;
                    if linger.drained > LINGER_BYTES || now >= linger.until {
                        return Poll::Ready(Ok(()));
                    }
                    let quiet_end = (now + LINGER_QUIET).min(linger.until);
                    linger.quiet.as_mut().reset(quiet_end);
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    // Nothing was arriving: close at once. Otherwise wait for more, or quiet.
                    let Some(linger) = this.linger.as_mut() else {
                        return Poll::Ready(Ok(()));
                    };
                    ready!(linger.quiet.as_mut().poll(cx));
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

/// A response body that keeps its request counted as in flight until hyper is done with it.
pub struct Tracked<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, in_flight: InFlight) -> Self {
        Tracked {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
