//! The accept loop: wires store, capturer and web handlers together, serves HTTP/1.1 and h2c
//! connections, and stops gracefully when the shutdown future resolves.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::capture::Capturer;
use crate::config::Config;
use crate::sender::{LEASE_MARGIN, Sender, worker};
use crate::store::Store;
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
    let (feed, _) = broadcast::channel(1024);
    let (stop_tx, stop_rx) = watch::channel(false);
    let sender = Sender::new(
        store.clone(),
        config.catalog.clone(),
        config.retry.clone(),
        config.timeout,
    );
    let lease = config.timeout + LEASE_MARGIN;
    let worker = worker::spawn(
        sender.clone(),
        config.endpoint_concurrency,
        lease,
        stop_rx.clone(),
    );
    let app = Arc::new(App {
        capturer: Capturer::new(
            store.clone(),
            config.max_body,
            config.max_requests,
            feed.clone(),
        ),
        sender,
        store,
        config,
        feed,
        local_addr: listener.local_addr()?,
        shutdown: stop_rx,
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
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
        let app = app.clone();
        let service = service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, std::convert::Infallible>(web::handle(app, req, remote).await) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
        });
    }
    let _ = stop_tx.send(true);
    drop(listener);
    let _ = worker.await;
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN:?}; closing them");
    }
    Ok(())
}
