//! `hookbin listen BIN --forward-to URL`: brings a remote bin's captures to an app on this
//! machine, byte for byte, and loses none.
//!
//! The listener walks the bin in arrival order through the server's long-poll
//! (`/api/bins/{bin}/wait?after=<id>`), forwards each capture as a server-side forward does
//! (method, the sub-path below the bin and the query appended, headers less hop-by-hop, the body
//! untouched, so signatures still verify), logs the outcome on the capture's relay log, and then
//! records its position in a small state file. Started again, it resumes from that position:
//! what arrived while it was away is forwarded first, in order. A local app that is down or
//! answers 5xx is retried with backoff; the listener moves on only after a 2xx or 4xx (or
//! `--max-attempts`). A capture can be forwarded twice only if the listener was killed between
//! forwarding it and saving its position; a SIGTERM or Ctrl-C lets the current one finish first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::CliError;
use super::remote::{Remote, refused};
use crate::model::{BinId, Header};
use crate::outbound::{self, Client};
use crate::relay::{forward_target, travelling};

/// How long one long-poll waits before asking again.
const POLL: &str = "30s";
/// Backoff between attempts at the local app: from the first to the cap, doubling.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

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
}

/// The state file for `server` and `bin`: one per pair, so two listeners never share one.
fn default_state(server: &str, bin: &BinId) -> Result<PathBuf, CliError> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .ok_or_else(|| CliError::Input("no HOME to keep the position in; pass --state".into()))?;
    let server: String = server
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Ok(base
        .join("hookbin")
        .join(format!("listen-{server}-{bin}.json")))
}

/// The last request forwarded, as saved.
fn load_position(path: &Path) -> Result<Option<String>, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                CliError::Input(format!(
                    "{} is not a listen state file: {e}",
                    path.display()
                ))
            })?;
            Ok(v["last"].as_str().map(str::to_owned))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Input(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Saves the position: written beside and renamed over, so a crash leaves the old or the new.
fn save_position(path: &Path, server: &str, bin: &BinId, last: &str) -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError::Input(format!("cannot save {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("tmp");
    let text = json!({"server": server, "bin": bin.as_str(), "last": last}).to_string();
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// One capture as the wait API gives it, ready to forward.
struct Capture {
    id: String,
    method: Method,
    path: String,
    query: String,
    headers: Vec<Header>,
    body: Bytes,
}

impl Capture {
    fn from_json(v: &Value) -> Result<Capture, CliError> {
        let bad = || CliError::Input("the server sent a request this hookbin cannot read".into());
        let text = |k: &str| v[k].as_str().map(str::to_owned).ok_or_else(bad);
        let headers = v["headers_base64"]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|pair| {
                let name = pair[0].as_str().ok_or_else(bad)?.to_owned();
                let value = BASE64
                    .decode(pair[1].as_str().ok_or_else(bad)?)
                    .map_err(|_| bad())?;
                Ok(Header { name, value })
            })
            .collect::<Result<Vec<_>, CliError>>()?;
        Ok(Capture {
            id: text("id")?,
            method: Method::from_bytes(text("method")?.as_bytes()).map_err(|_| bad())?,
            path: text("path")?,
            query: text("query")?,
            headers,
            body: Bytes::from(BASE64.decode(text("body_base64")?).map_err(|_| bad())?),
        })
    }
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
    loop {
        let path = match &position {
            Some(after) => format!("/api/bins/{bin}/wait?after={after}&timeout={POLL}"),
            None => format!("/api/bins/{bin}/wait?timeout={POLL}"),
        };
        let answer = tokio::select! {
            a = remote.call(Method::GET, &path, None) => a,
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
            _ => return Err(refused(status, &body)),
        }
        let capture = Capture::from_json(&body)?;
        // The forward is finished even when asked to stop meanwhile: stopping never repeats one.
        let Some(done) = forward(
            &local,
            &bin,
            &opts.forward_to,
            &capture,
            opts.max_attempts,
            &mut stop,
        )
        .await
        else {
            return Ok(true);
        };
        report(remote, &capture, done).await;
        save_position(&state, server, &bin, &capture.id)?;
        position = Some(capture.id);
    }
}

/// Sends `c` to the local app until it answers 2xx or 4xx (or `max_attempts` run out); `None`
/// when asked to stop while waiting to try again.
async fn forward(
    local: &Client,
    bin: &BinId,
    base: &str,
    c: &Capture,
    max_attempts: u32,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Option<(String, crate::model::Attempt)> {
    let url = forward_target(base, bin, &c.path, &c.query);
    let headers = travelling(&c.headers);
    let target = if c.query.is_empty() {
        c.path.clone()
    } else {
        format!("{}?{}", c.path, c.query)
    };
    let mut wait = BACKOFF_FIRST;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let a = local
            .send(c.method.clone(), &url, &headers, c.body.clone())
            .await;
        let settled = matches!(a.status, Some(s) if s < 500);
        let last = max_attempts > 0 && tries >= max_attempts;
        let outcome = match (a.status, &a.error) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".into(),
        };
        if settled || last {
            println!(
                "{} {target} → {outcome} ({} ms){}",
                c.method,
                a.duration_ms,
                if settled {
                    ""
                } else {
                    "; giving up on it (--max-attempts)"
                }
            );
            return Some((url, a));
        }
        let said = match a.status {
            Some(s) => format!("answered {s}"),
            None => format!("did not answer: {outcome}"),
        };
        eprintln!(
            "hookbin: {} {target}: the local app {said}; trying again in {} ms",
            c.method,
            wait.as_millis()
        );
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.as_mut() => return None,
        }
        wait = (wait * 2).min(BACKOFF_CAP);
    }
}

/// Logs the forward on the capture's relay log on the server, so the team sees it reached
/// someone's app; a failure to log is said, not fatal.
async fn report(remote: &Remote, c: &Capture, (url, a): (String, crate::model::Attempt)) {
    let body = json!({
        "kind": "listen",
        "url": url,
        "status": a.status,
        "duration_ms": a.duration_ms,
        "error": if a.status.is_some() { None } else { a.error.clone() },
        "response_headers": a.response_headers,
        "response_body_base64": BASE64.encode(&a.response_body),
        "response_truncated": a.response_truncated,
    });
    let path = format!("/api/requests/{}/relays", c.id);
    match remote.call(Method::POST, &path, Some(body)).await {
        Ok((StatusCode::CREATED, _)) => {}
        Ok((status, v)) => eprintln!(
            "hookbin: could not log the forward on the server: {}",
            refused(status, &v)
        ),
        Err(e) => eprintln!("hookbin: could not log the forward on the server: {e}"),
    }
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
