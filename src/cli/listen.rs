//! `hookbin listen BIN --forward-to URL`: brings a remote bin's captures to an app on this
//! machine, byte for byte, and loses none.
//!
//! The listener walks the bin in arrival order through the server's batched long-poll
//! (`/api/bins/{bin}/next?after=<id>`, up to [`BATCH`] captures an answer), forwards each
//! capture as a server-side forward does (method, the sub-path below the bin and the query
//! appended, headers less hop-by-hop, the body untouched, so signatures still verify), one at a
//! time and in order, and records its position after each in a small state file. The outcomes
//! go to the captures' relay logs on the server in batches (`POST /api/relays`), after each
//! answer's captures or every [`REPORT_EVERY`], and before it stops. Started again, it resumes
//! from the saved position: what arrived while it was away is forwarded first, in order. A
//! local app that is down or answers 5xx is retried with backoff; the listener moves on only
//! after a 2xx or 4xx (or `--max-attempts`). A capture can be forwarded twice only if the
//! listener was killed between forwarding it and saving its position; a SIGTERM or Ctrl-C lets
//! the current one finish first. A kill (not a stop) may leave the last moment's forwards
//! unlogged on the server; they were still forwarded exactly once.

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
/// Most captures one long-poll answer brings.
const BATCH: usize = 500;
/// Longest the outcomes of forwards wait before they are logged on the server.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// Most bytes and entries of reports sent in one `POST /api/relays` (the server takes up to
/// 8 MiB and 1,000).
const REPORT_BYTES: usize = 2 * 1024 * 1024;
const REPORT_ENTRIES: usize = 1000;
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

/// The saved position, kept open: every save rewrites the file in place with one write of the
/// same length (ids are fixed-width), which a killed process cannot leave half-done. The file
/// is first made by writing beside it and renaming over, so a crash leaves the old or the new.
struct Position {
    /// Open once the file has been made with the current length, `len`.
    file: Option<std::fs::File>,
    path: PathBuf,
    server: String,
    bin: BinId,
    len: usize,
}

impl Position {
    fn new(path: &Path, server: &str, bin: &BinId) -> Position {
        Position {
            file: None,
            path: path.to_owned(),
            server: server.to_owned(),
            bin: bin.clone(),
            len: 0,
        }
    }

    fn save(&mut self, last: &str) -> Result<(), CliError> {
        use std::os::unix::fs::FileExt;
        let fail = |e: std::io::Error| {
            CliError::Input(format!("cannot save {}: {e}", self.path.display()))
        };
        let text =
            json!({"server": self.server, "bin": self.bin.as_str(), "last": last}).to_string();
        if let Some(file) = self.file.as_ref().filter(|_| self.len == text.len()) {
            return file.write_all_at(text.as_bytes(), 0).map_err(fail);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, &text).map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)?;
        self.file = Some(
            std::fs::OpenOptions::new()
                .write(true)
                .open(&self.path)
                .map_err(fail)?,
        );
        self.len = text.len();
        Ok(())
    }
}

/// One capture as the `next` API gives it, ready to forward.
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
    let mut saved = Position::new(&state, server, &bin);
    let mut reports = Reports::default();
    loop {
        let path = match &position {
            Some(after) => {
                format!("/api/bins/{bin}/next?after={after}&limit={BATCH}&timeout={POLL}")
            }
            None => format!("/api/bins/{bin}/next?limit={BATCH}&timeout={POLL}"),
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
        let captures = body["requests"]
            .as_array()
            .ok_or_else(|| CliError::Input("the server's answer has no requests list".into()))?
            .iter()
            .map(Capture::from_json)
            .collect::<Result<Vec<_>, _>>()?;
        for capture in &captures {
            // The forward is finished even when asked to stop meanwhile: stopping never
            // repeats one.
            let Some(done) = forward(
                &local,
                &bin,
                &opts.forward_to,
                capture,
                opts.max_attempts,
                &mut stop,
            )
            .await
            else {
                reports.send(remote).await;
                return Ok(true);
            };
            saved.save(&capture.id)?;
            position = Some(capture.id.clone());
            reports.add(&capture.id, done);
            if reports.due() {
                reports.send(remote).await;
            }
        }
        reports.send(remote).await;
    }
}

/// Outcomes of forwards not yet logged on the server, as `POST /api/relays` entries.
#[derive(Default)]
struct Reports {
    /// Each entry with the length of its JSON text.
    entries: Vec<(Value, usize)>,
    since: Option<std::time::Instant>,
}

impl Reports {
    fn add(&mut self, id: &str, (url, a): (String, crate::model::Attempt)) {
        self.since.get_or_insert_with(std::time::Instant::now);
        let entry = json!({
            "request_id": id,
            "kind": "listen",
            "url": url,
            "status": a.status,
            "duration_ms": a.duration_ms,
            "error": if a.status.is_some() { None } else { a.error.clone() },
            "response_headers": a.response_headers,
            "response_body_base64": BASE64.encode(&a.response_body),
            "response_truncated": a.response_truncated,
        });
        let len = entry.to_string().len();
        self.entries.push((entry, len));
    }

    /// True when the oldest outcome has waited [`REPORT_EVERY`].
    fn due(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= REPORT_EVERY)
    }

    /// Logs everything held on the server, in posts of at most [`REPORT_BYTES`] and
    /// [`REPORT_ENTRIES`], so the team sees the captures reached someone's app; a failure is
    /// said, not fatal.
    async fn send(&mut self, remote: &Remote) {
        self.since = None;
        let mut entries = std::mem::take(&mut self.entries).into_iter().peekable();
        while entries.peek().is_some() {
            let (mut chunk, mut bytes) = (Vec::new(), 0);
            while let Some((e, len)) = entries.next_if(|(_, len)| {
                chunk.is_empty() || (chunk.len() < REPORT_ENTRIES && bytes + len < REPORT_BYTES)
            }) {
                bytes += len;
                chunk.push(e);
            }
            let body = json!({ "relays": chunk });
            match remote.call(Method::POST, "/api/relays", Some(body)).await {
                Ok((StatusCode::CREATED, _)) => {}
                Ok((status, v)) => eprintln!(
                    "hookbin: could not log the forwards on the server: {}",
                    refused(status, &v)
                ),
                Err(e) => eprintln!("hookbin: could not log the forwards on the server: {e}"),
            }
        }
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
