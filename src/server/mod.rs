//! The accept loop: wires store, capturer and web handlers together, serves HTTP/1.1 and h2c
//! connections within their bounds ([`conn`]), and stops gracefully when the shutdown future
//! resolves.

mod conn;
pub mod fds;
mod heads;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::capture::Capturer;
use crate::config::Config;
use crate::outbound::Client;
use crate::relay::Relayer;
use crate::retention;
use crate::sender::{Sender, worker};
use crate::store::{Store, StoreError};
use crate::web::{self, App};

/// How long open connections get to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves hookbin on `listener` until `shutdown` resolves, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    store.keep_reserve(config.disk_reserve);
    let (feed, _) = broadcast::channel(1024);
    let (stop_tx, stop_rx) = watch::channel(false);
    let sender = Sender::new(
        store.clone(),
        config.catalog.clone(),
        config.retry.clone(),
        config.timeout,
        config.deny_private_targets,
    );
    let worker = worker::spawn(sender.clone(), config.endpoint_concurrency, stop_rx.clone());
    let relayer = Relayer::new(
        Client::new(config.timeout, config.deny_private_targets),
        store.clone(),
        config.endpoint_concurrency,
    );
    let app = Arc::new(App {
        capturer: Capturer::new(
            store.clone(),
            (config.max_body, config.limits.body_timeout),
            config.max_requests,
            feed.clone(),
            relayer.clone(),
        ),
        relayer,
        sender,
        store,
        config,
        feed,
        local_addr: listener.local_addr()?,
        shutdown: stop_rx,
    });
    for name in &app.config.bins {
        match app.store.create_bin(Some(name.clone())).await {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => tracing::error!(error = %e, bin = %name, "cannot create bin"),
        }
    }
    if let Some(bytes) = app.config.max_db_size
        && let Err(e) = app.store.limit_size(bytes).await
    {
        tracing::error!(error = %e, "cannot set the database size limit");
    }
    let sweeper = retention::spawn(
        app.store.clone(),
        app.config.bin_ttl,
        app.config.delivery_retention,
        app.shutdown.clone(),
    );
    let limits = app.config.limits.clone();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Oversized heads are refused by hyper (431); slow heads and idle connections are closed by
    // `conn::watch`, which counts from the moment a connection is accepted.
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
    let open = Arc::new(AtomicUsize::new(0));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
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
        let _ = stream.set_nodelay(true);
        if open.load(Ordering::Relaxed) >= limits.max_connections {
            refuse(stream);
            continue;
        }
        let slot = Slot::take(&open);
        let tap = heads::Tap::new(limits.max_header_bytes, limits.max_headers);
        let (stream, tracker) = conn::watch(stream, limits.header_timeout, tap);
        let app = app.clone();
        let service = service_fn(move |mut req| {
            let app = app.clone();
            let in_flight = tracker.begin(&mut req);
            async move {
                let resp = web::handle(app, req, remote).await;
                Ok::<_, std::convert::Infallible>(
                    resp.map(|body| conn::Tracked::new(body, in_flight)),
                )
            }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
        });
    }
    let _ = stop_tx.send(true);
    drop(listener);
    let _ = worker.await;
    let _ = sweeper.await;
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN:?}; closing them");
    }
    // Everything acknowledged is already committed; this also commits what is still queued.
    if let Err(e) = app.store.close().await {
        tracing::error!(error = %e, "final commit failed");
    }
    Ok(())
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
fn refuse(stream: tokio::net::TcpStream) {
    let answer = conn::closing_answer(
        "503 Service Unavailable",
        "retry-after: 1\r\n",
        "too many open connections; try again shortly",
    );
    let _ = stream.try_write(&answer);
}
