//! Re-sending captures: a bin's automatic forward of every new capture, and the replay of one
//! capture by hand. Both send the stored method, headers (less the hop-by-hop ones) and body
//! bytes untouched, so a signature made for the original still verifies at the target, and
//! both log what the target answered beside the capture.
//!
//! Forwards are best effort: tried once, in the background, at most `concurrency` at a time;
//! a failure is logged (and can be replayed), not retried. At shutdown the forwards in flight
//! get up to `FINISH` to end (and be logged), and those still queued are logged as not sent.
//!
//! Like any proxy, a relay adds a `Via` header naming this hookbin process (RFC 9110 7.6.3).
//! A capture that already carries it came from one of our own relays, so it is not forwarded
//! again: two bins forwarding to each other cannot loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use hyper::Method;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::model::{Attempt, BinId, Header, NewCapture, Relay, RelayKind, RequestId};
use crate::outbound::{Client, check_url};
use crate::store::{Store, StoreError, decode_headers};

/// Forwards waiting for a free slot; beyond this a forward is logged as dropped.
const QUEUE: usize = 1024;
/// Body bytes of the forwards waiting or in flight; beyond this a forward is logged as dropped,
/// so a slow target cannot make hookbin hold an unbounded backlog of bodies.
const BACKLOG_BYTES: usize = 64 * 1024 * 1024;

/// How long forwards in flight at shutdown get to finish (and be logged).
const FINISH: std::time::Duration = std::time::Duration::from_secs(5);
/// Why a forward queued at shutdown was not sent.
const SHUTTING_DOWN: &str = "not forwarded: hookbin was shutting down";

/// Headers that describe one connection, not the message, and never travel on (RFC 9110
/// 7.6.1), plus the two that the new request's own framing and target decide.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// What a relay sends: the parts of a capture that travel.
struct Outgoing {
    id: RequestId,
    method: String,
    headers: Vec<Header>,
    body: Bytes,
}

/// Why a replay could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    BadUrl(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The log entry of a forward that was not sent, saying why.
fn unsent(id: RequestId, url: &str, why: String) -> Relay {
    let attempt = Attempt {
        at: chrono::Utc::now(),
        error: Some(why),
        ..Attempt::default()
    };
    to_relay(id, RelayKind::Forward, url, attempt)
}

/// Sends captures on, and logs each answer.
#[derive(Clone)]
pub struct Relayer {
    client: Client,
    store: Store,
    queue: mpsc::Sender<(Outgoing, String)>,
    /// This process's `Via` value, e.g. `1.1 hookbin-3fa2c1d0`.
    via: Arc<str>,
    /// Body bytes of the forwards queued or in flight.
    backlog: Arc<AtomicUsize>,
}

impl Relayer {
    /// A relayer sending through `client`, with at most `concurrency` forwards in flight, and
    /// the task that sends its forwards; the task ends once `shutdown` turns true and the
    /// forwards in flight are done.
    pub fn new(
        client: Client,
        store: Store,
        concurrency: usize,
        shutdown: watch::Receiver<bool>,
    ) -> (Relayer, JoinHandle<()>) {
        let (queue, rx) = mpsc::channel::<(Outgoing, String)>(QUEUE);
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let relayer = Relayer {
            client,
            store,
            queue,
            via: format!("1.1 hookbin-{tag}").into(),
            backlog: Arc::default(),
        };
        let task = tokio::spawn(relayer.clone().run(rx, concurrency.max(1), shutdown));
        (relayer, task)
    }

    /// Sends queued forwards until shutdown, then waits for those in flight and logs the
    /// rest as not sent.
    async fn run(
        self,
        mut rx: mpsc::Receiver<(Outgoing, String)>,
        concurrency: usize,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let slots = Arc::new(Semaphore::new(concurrency));
        loop {
            let next = tokio::select! {
                next = rx.recv() => next,
                _ = shutdown.wait_for(|stop| *stop) => None,
            };
            let Some((out, url)) = next else { break };
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot.ok(),
                _ = shutdown.wait_for(|stop| *stop) => None,
            };
            let Some(slot) = slot else {
                self.unsent_at_shutdown(out, &url).await;
                break;
            };
            let worker = self.clone();
            tokio::spawn(async move {
                worker.relay(RelayKind::Forward, &out, &url).await;
                worker.backlog.fetch_sub(out.body.len(), Ordering::Relaxed);
                drop(slot);
            });
        }
        rx.close();
        while let Ok((out, url)) = rx.try_recv() {
            self.unsent_at_shutdown(out, &url).await;
        }
        let finished = slots.acquire_many(concurrency as u32);
        if tokio::time::timeout(FINISH, finished).await.is_err() {
            tracing::warn!("forwards still in flight after {FINISH:?}; leaving them");
        }
    }

    /// Queues a just-committed capture for forwarding to `base` (its sub-path below the bin
    /// and its query are appended). Never waits: a full queue logs the forward as dropped.
    pub fn forward(&self, id: RequestId, capture: NewCapture, base: &str) {
        let url = forward_target(base, &capture.bin_id, &capture.path, &capture.query);
        let headers = decode_headers(&capture.headers).unwrap_or_default();
        let looped = headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("via")
                && String::from_utf8_lossy(&h.value).contains(&*self.via)
        });
        if looped {
            let why = format!(
                "not forwarded: it came from a forward or replay of this hookbin (Via: {}), so forwarding it could loop",
                self.via
            );
            self.log_unsent(id, url, why);
            return;
        }
        let size = capture.body.len();
        let held = self.backlog.fetch_add(size, Ordering::Relaxed);
        // One body alone may exceed the cap (it is within --max-body); it goes if nothing waits.
        if held > 0 && held + size > BACKLOG_BYTES {
            self.backlog.fetch_sub(size, Ordering::Relaxed);
            let why = format!(
                "not forwarded: {} MiB of forwards were already waiting for the target",
                held / (1024 * 1024)
            );
            self.log_unsent(id, url, why);
            return;
        }
        let out = Outgoing {
            id,
            method: capture.method,
            headers,
            body: capture.body,
        };
        let (url, why) = match self.queue.try_send((out, url)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full((_, url))) => (
                url,
                format!("not forwarded: {QUEUE} forwards were already waiting for the target"),
            ),
            Err(mpsc::error::TrySendError::Closed((_, url))) => (url, SHUTTING_DOWN.to_owned()),
        };
        self.backlog.fetch_sub(size, Ordering::Relaxed);
        self.log_unsent(id, url, why);
    }

    /// Logs a queued forward as not sent because hookbin is stopping.
    async fn unsent_at_shutdown(&self, out: Outgoing, url: &str) {
        self.backlog.fetch_sub(out.body.len(), Ordering::Relaxed);
        let why = SHUTTING_DOWN.to_owned();
        let _ = self.store.record_relay(unsent(out.id, url, why)).await;
    }

    /// Logs, in the background, a forward that was not sent and why.
    fn log_unsent(&self, id: RequestId, url: String, why: String) {
        let store = self.store.clone();
        tokio::spawn(async move {
            let _ = store.record_relay(unsent(id, &url, why)).await;
        });
    }

    /// Sends the stored capture `id` (with its whole body) to `url` as it is, logs and returns
    /// the answer; the pages and the API both replay through here.
    pub async fn replay(&self, id: RequestId, url: &str) -> Result<Relay, ReplayError> {
        let url = url.trim();
        check_url(url).map_err(ReplayError::BadUrl)?;
        let c = self.store.get_request(id, None).await?;
        let out = Outgoing {
            id: c.id,
            method: c.method.clone(),
            headers: c.headers.clone(),
            body: c.body.clone(),
        };
        Ok(self.relay(RelayKind::Replay, &out, url).await)
    }

    async fn relay(&self, kind: RelayKind, out: &Outgoing, url: &str) -> Relay {
        let attempt = match Method::from_bytes(out.method.as_bytes()) {
            Ok(method) => {
                let mut headers = travelling(&out.headers);
                headers.push(("via".into(), self.via.as_bytes().to_vec()));
                self.client
                    .send(method, url, &headers, out.body.clone())
                    .await
            }
            Err(_) => Attempt {
                at: chrono::Utc::now(),
                error: Some(format!("'{}' cannot be sent as a method", out.method)),
                ..Attempt::default()
            },
        };
        let relay = to_relay(out.id, kind, url, attempt);
        self.store.metrics().forward(relay.status);
        match self.store.record_relay(relay.clone()).await {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => tracing::warn!(error = %e, "cannot log a relay"),
        }
        relay
    }
}

fn to_relay(id: RequestId, kind: RelayKind, url: &str, a: Attempt) -> Relay {
    Relay {
        request_id: id,
        kind,
        url: url.to_owned(),
        at: a.at,
        // An answer that is not 2xx is still the target's answer, not a failure to relay.
        error: if a.status.is_some() { None } else { a.error },
        status: a.status,
        duration_ms: a.duration_ms,
        response_headers: a.response_headers,
        response_body: a.response_body,
        response_truncated: a.response_truncated,
    }
}

/// The headers a relay sends: all of the capture's, in order and byte for byte, except the
/// hop-by-hop ones and any that `connection` names.
pub fn travelling(headers: &[Header]) -> Vec<(String, Vec<u8>)> {
    let named: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| {
            String::from_utf8_lossy(&h.value)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    headers
        .iter()
        .filter(|h| {
            let name = h.name.to_ascii_lowercase();
            // HTTP/2 pseudo-headers (`:authority`) describe the original request, not a header
            // to send on.
            !name.starts_with(':') && !HOP_BY_HOP.contains(&name.as_str()) && !named.contains(&name)
        })
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect()
}

/// Where a capture at `path?query` in bin `bin` is forwarded, given the bin's forward URL:
/// the part of the path below `/b/{bin}` is appended, then the query.
pub fn forward_target(base: &str, bin: &BinId, path: &str, query: &str) -> String {
    let rest = path.strip_prefix(&format!("/b/{bin}")).unwrap_or_default();
    let (base, base_query) = base.split_once('?').unwrap_or((base, ""));
    let mut url = format!("{}{rest}", base.trim_end_matches('/'));
    if rest.is_empty() && base.ends_with('/') {
        url.push('/');
    }
    let q: Vec<&str> = [base_query, query]
        .into_iter()
        .filter(|q| !q.is_empty())
        .collect();
    if !q.is_empty() {
        url.push('?');
        url.push_str(&q.join("&"));
    }
    url
}

/// Checks a forward URL for `bin`: absolute http(s), and not the bin's own capture URL on
/// this server (which would forward each capture to itself, forever).
pub fn check_forward_url(url: &str, bin: &BinId, local_port: u16) -> Result<(), String> {
    let uri = check_url(url)?;
    let own = format!("/b/{bin}");
    let to_self = (uri.path() == own || uri.path().starts_with(&format!("{own}/")))
        && uri.port_u16().unwrap_or(80) == local_port;
    if to_self {
        return Err(format!(
            "'{url}' is this bin's own URL: every capture would be forwarded to itself"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, value: &str) -> Header {
        Header {
            name: name.into(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_stay_behind() {
        let headers = vec![
            h("host", "127.0.0.1:8080"),
            h("x-sig", "abc"),
            h("connection", "keep-alive, X-Trace"),
            h("x-trace", "1"),
            h("transfer-encoding", "chunked"),
            h("x-sig", "def"),
            h("content-length", "3"),
        ];
        let kept: Vec<(String, String)> = travelling(&headers)
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
            .collect();
        assert_eq!(
            kept,
            vec![
                ("x-sig".to_owned(), "abc".to_owned()),
                ("x-sig".to_owned(), "def".to_owned())
            ]
        );
    }

    #[test]
    fn forward_targets_append_the_sub_path_and_query() {
        let bin = BinId::parse("ci").unwrap();
        let t = |base, path, query| forward_target(base, &bin, path, query);
        assert_eq!(
            t("http://127.0.0.1:3000/hooks", "/b/ci", ""),
            "http://127.0.0.1:3000/hooks"
        );
        assert_eq!(
            t("http://127.0.0.1:3000/hooks/", "/b/ci/stripe", "a=1"),
            "http://127.0.0.1:3000/hooks/stripe?a=1"
        );
        assert_eq!(
            t("http://127.0.0.1:3000/hooks?k=v", "/b/ci", "a=1"),
            "http://127.0.0.1:3000/hooks?k=v&a=1"
        );
        assert_eq!(
            t("http://127.0.0.1:3000/", "/b/ci", ""),
            "http://127.0.0.1:3000/"
        );
    }

    #[test]
    fn a_bin_cannot_forward_to_itself() {
        let bin = BinId::parse("ci").unwrap();
        assert!(check_forward_url("http://127.0.0.1:8080/b/ci", &bin, 8080).is_err());
        assert!(check_forward_url("http://localhost:8080/b/ci/x", &bin, 8080).is_err());
        assert!(check_forward_url("http://127.0.0.1:8080/b/other", &bin, 8080).is_ok());
        assert!(check_forward_url("http://127.0.0.1:3000/b/ci", &bin, 8080).is_ok());
        assert!(check_forward_url("ftp://x", &bin, 8080).is_err());
    }
}
