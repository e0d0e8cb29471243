//! Runs hookbin: wires store, capturer, sender and web handlers into one [`App`], starts the
//! background tasks (delivery worker, forwards, retention sweeps), serves connections with
//! `listener::Listener` until the shutdown future resolves, then stops everything in order:
//! no new connections, open ones drained, background tasks ended, the store closed.

pub mod acme;
mod answers;
mod conn;
pub mod fds;
mod heads;
mod listener;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::capture::Capturer;
use crate::config::Config;
use crate::outbound::Client;
use crate::relay::Relayer;
use crate::retention;
use crate::sender::{Sender, worker};
use crate::store::{Store, StoreError};
use crate::web::App;

/// Serves hookbin on `listener` until `shutdown` resolves, then drains open connections, stops
/// the background tasks and closes the store.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    store.keep_reserve(config.disk_reserve);
    let mut config = config;
    let local_addr = listener.local_addr()?;
    let (stop, stopping) = watch::channel(false);
    let invalid = |e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
    };
    // ACME certificates are served from their cache, like --tls-cert files.
    if let Some(acme) = &config.acme {
        config.tls = Some(acme::files(acme));
    }
    let redirect = match config.http_redirect {
        Some(addr) if config.tls.is_some() => Some(TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {addr} (--http-redirect): {e}"),
            )
        })?),
        _ => None,
    };
    let (app, mut tasks) = wire(store, config, local_addr, stopping.clone());
    prepare(&app).await;
    // The plain-HTTP listener beside HTTPS: redirects, ACME challenges, and (unless asked not
    // to) captures.
    let plain = redirect.map(|l| {
        let mut stopping = stopping.clone();
        let server = listener::Listener::new(l, app.clone(), None).redirecting();
        tokio::spawn(server.run(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }))
    });
    let tls = match ready_tls(&app, &stopping, &mut tasks).await {
        Ok(tls) => tls,
        Err(e) => {
            // A certificate that cannot be had stops startup; what started stops with it.
            wind_down(&app, &stop, tasks, plain).await;
            return Err(invalid(&e));
        }
    };
    listener::Listener::new(listener, app.clone(), tls)
        .run(async {
            shutdown.await;
            // Live streams and background tasks stop now; connections get their grace period.
            let _ = stop.send(true);
        })
        .await;
    wind_down(&app, &stop, tasks, plain).await;
    Ok(())
}

/// The TLS acceptor when serving HTTPS: with ACME, after making sure a certificate is cached
/// (and with the renewal task added to `tasks`).
async fn ready_tls(
    app: &App,
    stopping: &watch::Receiver<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Option<tokio_rustls::TlsAcceptor>, Box<dyn std::error::Error + Send + Sync>> {
    if let Some(acme) = app.config.acme.clone() {
        let trust = app.config.trust.clone();
        acme::ensure(&acme, &trust, &app.challenges).await?;
        tasks.push(tokio::spawn(acme::renew(
            acme,
            trust,
            app.challenges.clone(),
            stopping.clone(),
        )));
    }
    Ok(match &app.config.tls {
        Some(files) => Some(tls::acceptor(files)?),
        None => None,
    })
}

/// Stops what `serve` started beside the main listener: the plain listener, the background
/// tasks, then the store (its final commit).
async fn wind_down(
    app: &App,
    stop: &watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    plain: Option<JoinHandle<()>>,
) {
    let _ = stop.send(true);
    if let Some(plain) = plain {
        let _ = plain.await;
    }
    for task in tasks {
        let _ = task.await;
    }
    if let Err(e) = app.store.close().await {
        tracing::error!(error = %e, "final commit failed");
    }
}

/// Builds the [`App`] and starts the tasks that run beside the connections; each ends once
/// `stopping` turns true.
fn wire(
    store: Store,
    config: Config,
    local_addr: std::net::SocketAddr,
    stopping: watch::Receiver<bool>,
) -> (Arc<App>, Vec<JoinHandle<()>>) {
    let feed = crate::capture::Feed::new();
    let client = Client::new(config.timeout, config.deny_private_targets, &config.trust);
    let sender = Sender::new(
        store.clone(),
        config.catalog.clone(),
        config.retry.clone(),
        client.clone(),
    );
    let worker = worker::spawn(
        sender.clone(),
        config.endpoint_concurrency,
        stopping.clone(),
    );
    let (relayer, forwards) = Relayer::new(
        client,
        store.clone(),
        config.endpoint_concurrency,
        stopping.clone(),
    );
    let sweeper = retention::spawn(
        store.clone(),
        config.bin_ttl,
        config.delivery_retention,
        stopping.clone(),
    );
    let indexer = tokio::spawn(index_search(store.clone(), stopping.clone()));
    let follower = tokio::spawn(crate::capture::follow::run(
        store.clone(),
        feed.clone(),
        stopping.clone(),
    ));
    let limits = crate::web::limits::RateLimits::new(config.capture_rate, config.bin_rate);
    let app = Arc::new(App {
        limits,
        challenges: acme::Challenges::default(),
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
        local_addr,
        shutdown: stopping.clone(),
    });
    let forgetter = tokio::spawn(forget_idle_clients(app.clone(), stopping));
    (
        app,
        vec![worker, forwards, sweeper, forgetter, indexer, follower],
    )
}

/// Keeps the search index up with captures (and builds it for an older database) until
/// `stopping` turns true; at once where the engine keeps no index.
async fn index_search(store: Store, mut stopping: watch::Receiver<bool>) {
    let Some(indexer) = store.indexer() else {
        return;
    };
    tokio::select! {
        _ = indexer.run() => {}
        _ = stopping.wait_for(|stop| *stop) => {}
    }
}

/// Once a minute, drops the rate-limit state of clients that have gone quiet, so it holds only
/// the active ones.
async fn forget_idle_clients(app: Arc<App>, mut stopping: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => app.limits.sweep(),
            _ = stopping.wait_for(|stop| *stop) => return,
        }
    }
}

/// Start-up work on the store: the bins named with `--bin`, and the `--max-db-size` cap.
async fn prepare(app: &App) {
    for name in &app.config.bins {
        match app.store.create_bin(Some(name.clone()), 0).await {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => tracing::error!(error = %e, bin = %name, "cannot create bin"),
        }
    }
    if let Some(bytes) = app.config.max_db_size
        && let Err(e) = app.store.limit_size(bytes).await
    {
        tracing::error!(error = %e, "cannot set the database size limit");
    }
}
