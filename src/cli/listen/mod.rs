//! `hookbin listen BIN --forward-to URL`: brings a remote bin's captures to an app on this
//! machine, byte for byte, and loses none.
//!
//! The listener walks the bin in arrival order through the server's batched long-poll
//! (`/api/bins/{bin}/next?after=<id>`, up to [`BATCH`] captures an answer) and forwards each
//! capture as a server-side forward does (method, the sub-path below the bin and the query
//! appended, headers less hop-by-hop, the body untouched, so signatures still verify), in
//! order. To a plain-HTTP app the forwards are pipelined: up to `--pipeline` requests on one
//! connection before their answers, which the app takes and answers in the order sent
//! (HTTPS apps, and `--pipeline 1`, get one request at a time). The position is saved in a
//! small state file after each window's answers. The outcomes go to the captures' relay logs
//! on the server in batches (`POST /api/relays`), after each answer's captures or every
//! second, and before it stops. Started again, it resumes from the saved position: what
//! arrived while it was away is forwarded first, in order.
//!
//! A local app that is down or answers 5xx is retried with backoff; the listener moves on
//! only after a 2xx or 4xx (or `--max-attempts`). A capture the app refuses in the middle of
//! a window comes again after the rest of that window, which the app already has. A capture
//! can be forwarded twice only if the listener was killed between forwarding it and saving its
//! position: at most one window's worth. A SIGTERM or Ctrl-C lets the forwards on the wire
//! finish first. A kill (not a stop) may leave the last moment's forwards unlogged on the
//! server.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hyper::{Method, StatusCode};

use super::CliError;
use super::remote::{Remote, refused};
use crate::model::BinId;
use crate::outbound::{self, Client};

mod forward;
mod reports;
mod state;

use forward::{Forwarder, Next, print};
use reports::Reports;
use state::{Position, default_state, load_position};

/// How long one long-poll waits before asking again.
const POLL: &str = "30s";
/// Most captures one long-poll answer brings.
const BATCH: usize = 500;

/// Where to start forwarding from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum From {
    /// Where the last run stopped (from now on when there was none).
    Saved,
    /// Only what arrives from now on; the backlog is skipped.
    Now,
    /// Everything the bin holds, oldest first.
    Oldest,
}

/// The options of `hookbin listen`.
#[derive(Debug, Clone, Args)]
pub struct ListenOptions {
    /// The bin on the remote hookbin to follow.
    pub bin: String,
    /// The local URL each capture is sent to (its sub-path and query are appended).
    #[arg(long, value_name = "URL")]
    pub forward_to: String,
    /// Where to start.
    #[arg(long, value_name = "WHERE", value_enum, default_value = "saved")]
    pub from: From,
    /// Attempts at the local app per capture before moving on (0: never give up).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_attempts: u32,
    /// The file that keeps the position (default: one per server and bin under
    /// $XDG_STATE_HOME/hookbin, or ~/.local/state/hookbin).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Requests on the wire to a plain-HTTP app at once, on one connection and in order
    /// (HTTP/1.1 pipelining); also the most a kill can make repeat. 1: wait for each answer
    /// before sending the next.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub pipeline: u16,
}

/// Follows `bin` on `remote` and forwards each capture to the local URL until `stop` resolves.
pub async fn listen(
    remote: &Remote,
    server: &str,
    local: Client,
    opts: &ListenOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<bool, CliError> {
    let bin = BinId::parse(&opts.bin)
        .ok_or_else(|| CliError::Input(format!("'{}' is not a bin id", opts.bin)))?;
    outbound::check_url(&opts.forward_to).map_err(CliError::Input)?;
    remote
        .expect(
            Method::GET,
            &format!("/api/bins/{bin}"),
            None,
            StatusCode::OK,
        )
        .await?;
    let state = match &opts.state {
        Some(p) => p.clone(),
        None => default_state(server, &bin)?,
    };
    let mut position = match opts.from {
        From::Saved => load_position(&state)?,
        From::Now => None,
        // Request ids sort by arrival and are never 0: after the zero id comes the oldest.
        From::Oldest => Some("0000000000000000".to_owned()),
    };
    eprintln!(
        "hookbin: forwarding bin {bin} on {server} to {} ({}); Ctrl-C to stop",
        opts.forward_to,
        match &position {
            Some(p) if opts.from == From::Saved => format!("resuming after {p}"),
            Some(_) => "from the oldest request".into(),
            None => "from now on".into(),
        }
    );
    tokio::pin!(stop);
    let mut saved = Position::new(&state, server, &bin);
    let mut fwd = Forwarder::new(
        local,
        &bin,
        &opts.forward_to,
        opts.max_attempts,
        usize::from(opts.pipeline),
    );
    let mut reports = Reports::default();
    loop {
        let path = match &position {
            Some(after) => {
                format!("/api/bins/{bin}/next?after={after}&limit={BATCH}&timeout={POLL}")
            }
            None => format!("/api/bins/{bin}/next?limit={BATCH}&timeout={POLL}"),
        };
        let answer = tokio::select! {
            a = remote.call_raw(Method::GET, &path, None) => a,
            () = &mut stop => return Ok(true),
        };
        let (status, body) = match answer {
            Ok(a) => a,
            Err(CliError::Unreachable(why)) => {
                eprintln!("hookbin: {why}; trying again in 2 s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    () = &mut stop => return Ok(true),
                }
            }
            Err(e) => return Err(e),
        };
        match status {
            StatusCode::NO_CONTENT => continue,
            StatusCode::OK => {}
            _ => return Err(refused(status, &remote.json(status, &body)?)),
        }
        let next: Next = serde_json::from_slice(&body).map_err(|_| remote.not_hookbin(status))?;
        let captures = next
            .requests
            .iter()
            .map(|w| fwd.capture(w))
            .collect::<Result<Vec<_>, _>>()?;
        let mut lines = String::new();
        let mut done = 0;
        while done < captures.len() {
            let firsts = fwd.first_tries(&captures[done..]).await;
            let answered = firsts.len();
            for (k, first) in firsts.into_iter().enumerate() {
                let c = &captures[done + k];
                // A forward is finished even when asked to stop meanwhile: stopping never
                // repeats one.
                let Some(outcome) = fwd.settle(c, first, &mut lines, &mut stop).await else {
                    if k > 0 {
                        saved.save(&captures[done + k - 1].id)?;
                    }
                    reports.send(remote).await;
                    return Ok(true);
                };
                reports.add(&c.id, outcome);
            }
            done += answered;
            let last = &captures[done - 1].id;
            saved.save(last)?;
            position = Some(last.clone());
            print(&mut lines);
            if reports.due() {
                reports.send(remote).await;
            }
            if asked_to_stop(&mut stop) {
                reports.send(remote).await;
                return Ok(true);
            }
        }
        reports.send(remote).await;
    }
}

/// Whether `stop` has resolved, without waiting for it.
fn asked_to_stop(stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    stop.as_mut().poll(&mut cx).is_ready()
}

/// Resolves on Ctrl-C or SIGTERM; installed at once, so a signal that comes early still stops
/// the listener cleanly.
pub fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("hookbin: stopping");
    })
}
