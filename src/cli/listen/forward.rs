//! Sending a listener's captures to the local app: pipelined on one connection when the app's
//! URL is plain HTTP, one at a time with the ordinary client otherwise, each capture tried
//! again with backoff until the app settles it.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hyper::Method;
use serde::Deserialize;

use crate::cli::CliError;
use crate::cli::remote::safe;
use crate::model::{Attempt, BinId, Header};
use crate::outbound::{Client, Outgoing, Pipeline};
use crate::relay::{forward_target, travelling};

/// Backoff between attempts at the local app: from the first to the cap, doubling.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// A forward's outcome: the URL it went to and its last attempt.
pub(super) type Done = (String, Attempt);

/// One capture made ready to forward.
pub(super) struct Capture {
    pub(super) id: String,
    method: Method,
    url: String,
    /// The path and query, for the lines printed.
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Bytes,
    /// The request as the pipeline writes it, when it can take it.
    wire: Option<Outgoing>,
}

/// A `next` answer: the captures after the position, oldest first.
#[derive(Deserialize)]
pub(super) struct Next<'a> {
    #[serde(borrow)]
    pub(super) requests: Vec<Wire<'a>>,
}

/// One capture as a `next` answer gives it, read in place where the JSON has no escapes.
#[derive(Deserialize)]
pub(super) struct Wire<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    path: Cow<'a, str>,
    #[serde(borrow)]
    query: Cow<'a, str>,
    #[serde(borrow)]
    headers_base64: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    #[serde(borrow)]
    body_base64: Cow<'a, str>,
}

/// Sends captures to the local app, in order.
pub(super) struct Forwarder {
    local: Client,
    bin: BinId,
    base: String,
    max_attempts: u32,
    /// Most requests on the wire at once; also how many are answered between two saves of
    /// the position, so at most this many can be repeated after a kill.
    window: usize,
    pipe: Option<Pipeline>,
}

impl Forwarder {
    /// A forwarder to `base` (the `--forward-to` URL) for `bin`'s captures, pipelining up to
    /// `window` requests when the URL is plain HTTP and `window` is above 1.
    pub(super) fn new(
        local: Client,
        bin: &BinId,
        base: &str,
        max_attempts: u32,
        window: usize,
    ) -> Forwarder {
        let pipe = (window > 1)
            .then(|| Pipeline::new(base, local.timeout()))
            .flatten();
        Forwarder {
            local,
            bin: bin.clone(),
            base: base.to_owned(),
            max_attempts,
            window,
            pipe,
        }
    }

    /// Reads one capture of a `next` answer and prepares its forward.
    pub(super) fn capture(&self, w: &Wire) -> Result<Capture, CliError> {
        let bad = || CliError::Input("the server sent a request this hookbin cannot read".into());
        let headers = w
            .headers_base64
            .iter()
            .map(|(name, value)| {
                let value = BASE64.decode(value.as_bytes()).map_err(|_| bad())?;
                Ok(Header {
                    name: name.to_string(),
                    value,
                })
            })
            .collect::<Result<Vec<_>, CliError>>()?;
        let method = Method::from_bytes(w.method.as_bytes()).map_err(|_| bad())?;
        let (path, query) = (&*w.path, &*w.query);
        let body = Bytes::from(BASE64.decode(w.body_base64.as_bytes()).map_err(|_| bad())?);
        let url = forward_target(&self.base, &self.bin, path, query);
        let headers = travelling(&headers);
        let wire = self
            .pipe
            .as_ref()
            .and_then(|p| p.request(&method, &url, &headers, body.clone()));
        Ok(Capture {
            id: w.id.to_string(),
            target: if query.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{query}")
            },
            method,
            url,
            headers,
            body,
            wire,
        })
    }

    /// First attempts at the captures at the start of `captures`, in order: up to the window
    /// of them through the pipeline, or the first alone the ordinary way.
    pub(super) async fn first_tries(&mut self, captures: &[Capture]) -> Vec<Attempt> {
        if let Some(pipe) = self.pipe.as_mut() {
            let wire: Vec<&Outgoing> = captures
                .iter()
                .take(self.window)
                .map_while(|c| c.wire.as_ref())
                .collect();
            if !wire.is_empty() {
                return pipe.run(&wire, self.window).await;
            }
        }
        vec![self.send(&captures[0]).await]
    }

    async fn send(&self, c: &Capture) -> Attempt {
        self.local
            .send(c.method.clone(), &c.url, &c.headers, c.body.clone())
            .await
    }

    /// Carries `c` from its first attempt to its outcome: tried again with backoff until the
    /// app answers below 500 (or `--max-attempts` run out). The line for stdout goes to
    /// `lines`; `None` when asked to stop while waiting to try again.
    pub(super) async fn settle(
        &self,
        c: &Capture,
        first: Attempt,
        lines: &mut String,
        stop: &mut Pin<&mut impl Future<Output = ()>>,
    ) -> Option<Done> {
        let mut a = first;
        let mut wait = BACKOFF_FIRST;
        let mut tries = 1u32;
        let target = safe(&c.target);
        loop {
            let settled = matches!(a.status, Some(s) if s < 500);
            let last = self.max_attempts > 0 && tries >= self.max_attempts;
            let outcome = match (a.status, &a.error) {
                (Some(s), _) => s.to_string(),
                (None, Some(e)) => e.clone(),
                (None, None) => "no answer".into(),
            };
            if settled || last {
                lines.push_str(&format!(
                    "{} {target} → {outcome} ({} ms){}\n",
                    c.method,
                    a.duration_ms,
                    if settled {
                        ""
                    } else {
                        "; giving up on it (--max-attempts)"
                    }
                ));
                return Some((c.url.clone(), a));
            }
            print(lines);
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
            tries += 1;
            a = self.send(c).await;
        }
    }
}

/// Writes the lines gathered to stdout in one go; a closed stdout is not a reason to stop
/// forwarding.
pub(super) fn print(lines: &mut String) {
    use std::io::Write;
    if !lines.is_empty() {
        let _ = std::io::stdout().lock().write_all(lines.as_bytes());
        lines.clear();
    }
}
