//! The `hookbin` binary: parse flags, open the database, bind, print the URL, serve.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use hookbin::cli::Args;
use hookbin::store::{ServerLock, Store};

/// mimalloc handles the many small, short-lived, cross-thread allocations of request handling
/// markedly better than glibc's allocator (measured by bench/run.sh).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "hookbin=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // `listen` forwards one capture at a time, each a round trip whose every step would wake
    // another worker thread on the multi-threaded runtime: on one thread, the wakes stay in
    // the thread (measured by bench/ as several times the forwards per second).
    let runtime = match &args.command {
        Some(hookbin::cli::Command::Listen { .. }) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build();
    let result = runtime
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hookbin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = args.config()?;
    if let Some(cmd) = args.command.clone() {
        let ok = hookbin::cli::run(cmd, config).await?;
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let stop = shutdown_signal()?;
    // The port first: a server that cannot listen must not leave database files behind.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // Before anything touches the database: a second server on a SQLite file must not start
    // at all. PostgreSQL is shared by design: nodes coordinate through the database.
    let _lock = match hookbin::store::is_postgres(&config.db) {
        true => None,
        false => Some(ServerLock::acquire(&config.db)?),
    };
    let store = Store::open(&config.db).await?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let shown = if addr.ip().is_unspecified() {
        format!(
            "{scheme}://127.0.0.1:{}/ (listening on all interfaces, {addr})",
            addr.port()
        )
    } else {
        format!("{scheme}://{addr}/")
    };
    // A closed stdout must not stop the server, so write errors are ignored.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "hookbin is running at {shown}");
    let _ = writeln!(out, "database: {}", hookbin::store::shown(&config.db));
    if let Some(token) = &config.token {
        if args.token.is_none() {
            let _ = writeln!(
                out,
                "access token (pages and API; /b/ captures need none): {token}"
            );
        } else {
            let _ = writeln!(
                out,
                "pages and API need the access token given with --token"
            );
        }
    }
    let (fit, lowered) = hookbin::server::fds::fit(
        config.limits.max_connections,
        hookbin::server::fds::connection_room(),
    );
    config.limits.max_connections = fit;
    if let Some(why) = lowered {
        let _ = writeln!(out, "{why}");
    }
    let _ = out.flush();
    hookbin::server::serve(listener, store, config, stop).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled, so a signal sent right after the URL is printed still stops
/// hookbin gracefully instead of killing it.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let stop = {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        }
    };
    #[cfg(not(unix))]
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        stop.await;
        tracing::info!("shutting down");
    })
}
