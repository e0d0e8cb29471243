//! The accept loop: takes connections within `--max-connections`, completes the TLS handshake
//! when serving HTTPS, wraps each in its bounds ([`super::conn`]) and serves it (HTTP/1.1 or
//! HTTP/2: h2c in plain HTTP, ALPN over TLS) with hyper until shutdown; then gives open
//! connections a grace period to finish.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::{conn, heads};
use crate::config::Limits;
use crate::web::{self, App};

/// How long open connections get to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(5);

/// Accepts and serves connections for one [`App`].
pub struct Listener {
    listener: TcpListener,
    app: Arc<App>,
    limits: Limits,
    builder: auto::Builder<TokioExecutor>,
    /// Connections open now.
    open: Arc<AtomicUsize>,
    graceful: GracefulShutdown,
    /// Set when serving HTTPS.
    tls: Option<TlsAcceptor>,
    /// Set for the plain-HTTP listener beside HTTPS (`--http-redirect`).
    redirect: bool,
}

impl Listener {
    /// A listener serving `app` on `listener` within `app`'s limits, over TLS when `tls` is set.
    pub fn new(listener: TcpListener, app: Arc<App>, tls: Option<TlsAcceptor>) -> Listener {
        let limits = app.config.limits.clone();
        Listener {
            builder: builder(&limits),
            listener,
            app,
            limits,
            open: Arc::default(),
            graceful: GracefulShutdown::new(),
            tls,
            redirect: false,
        }
    }

    /// Makes this the plain-HTTP listener beside HTTPS: it sends the admin side (and, with
    /// `--redirect-bins`, captures too) to https.
    pub fn redirecting(mut self) -> Listener {
        self.redirect = true;
        self
    }

    /// Accepts connections until `shutdown` resolves; then stops listening and waits up to
    /// [`DRAIN`] for the open connections to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let (stream, remote) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            self.serve(stream, remote);
        }
        drop(self.listener);
        if tokio::time::timeout(DRAIN, self.graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after {DRAIN:?}; closing them");
        }
    }

    /// Serves one accepted connection on a task of its own, or refuses it when too many are
    /// open. A TLS handshake gets the header timeout to finish.
    fn serve(&self, stream: TcpStream, remote: std::net::SocketAddr) {
        let _ = stream.set_nodelay(true);
        if self.open.load(Ordering::Relaxed) >= self.limits.max_connections {
            refuse(stream);
            return;
        }
        let slot = Slot::take(&self.open);
        let conn = Conn {
            app: self.app.clone(),
            limits: self.limits.clone(),
            builder: self.builder.clone(),
            graceful: self.graceful.watcher(),
            remote,
            redirect: self.redirect,
        };
        let tls = self.tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => conn.run(stream).await,
                Some(tls) => {
                    let wait = conn.limits.header_timeout;
                    match tokio::time::timeout(wait, tls.accept(stream)).await {
                        Ok(Ok(stream)) => conn.run(stream).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, %remote, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// What serving one connection needs, moved onto its task.
struct Conn {
    app: Arc<App>,
    limits: Limits,
    builder: auto::Builder<TokioExecutor>,
    graceful: hyper_util::server::graceful::Watcher,
    remote: std::net::SocketAddr,
    redirect: bool,
}

impl Conn {
    /// Serves requests on `stream` (plain or decrypted) until it closes.
    async fn run<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + conn::WriteNow + Unpin + Send + 'static,
    {
        let remote = self.remote;
        let tap = heads::Tap::new(self.limits.max_header_bytes, self.limits.max_headers);
        let (stream, tracker) = conn::watch(stream, self.limits.header_timeout, tap);
        let app = self.app;
        let redirect = self.redirect;
        let service = service_fn(move |mut req| {
            let app = app.clone();
            let in_flight = tracker.begin(&mut req);
            async move {
                let resp = match web::to_https(&app, &req, redirect) {
                    Some(moved) => moved,
                    None => web::handle(app, req, remote).await,
                };
                if matches!(resp.status().as_u16(), 408 | 413) {
                    in_flight.answered_early();
                }
                Ok::<_, std::convert::Infallible>(
                    resp.map(|body| conn::Tracked::new(body, in_flight)),
                )
            }
        });
        let conn = self
            .builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        if let Err(e) = self.graceful.watch(conn).await {
            tracing::debug!(error = %e, %remote, "connection ended with an error");
        }
    }
}

/// hyper's HTTP/1.1 and HTTP/2 settings for `limits`. Oversized heads are refused by hyper
/// (431); slow heads and idle connections are closed by `conn::watch`, which counts from the
/// moment a connection is accepted.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    builder
}

/// Counts an open connection for as long as it lives.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Slot {
        open.fetch_add(1, Ordering::Relaxed);
        Slot(open.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answers a connection over the limit with a 503 and closes it at once, without reading a
/// request: the answer fits a fresh socket's buffer, so nothing waits and the descriptor is
/// freed immediately.
fn refuse(stream: TcpStream) {
    let answer = super::answers::closing_answer(
        "503 Service Unavailable",
        "retry-after: 1\r\n",
        "too many open connections; try again shortly",
    );
    let _ = stream.try_write(&answer);
}
