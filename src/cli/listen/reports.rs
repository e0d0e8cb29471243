//! The outcomes of a listener's forwards, logged on the server's relay logs in batches.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::{Method, StatusCode};
use serde::Serialize;

use crate::cli::remote::{Remote, refused};
use crate::model::Attempt;

/// Longest the outcomes of forwards wait before they are logged on the server.
pub(super) const REPORT_EVERY: Duration = Duration::from_secs(1);
/// Most bytes and entries of reports sent in one `POST /api/relays` (the server takes up to
/// 8 MiB and 1,000).
const REPORT_BYTES: usize = 2 * 1024 * 1024;
const REPORT_ENTRIES: usize = 1000;

/// One `POST /api/relays` entry, as the server reads it.
#[derive(Serialize)]
struct Entry<'a> {
    request_id: &'a str,
    kind: &'static str,
    url: &'a str,
    status: Option<u16>,
    duration_ms: u64,
    error: Option<&'a str>,
    response_headers: &'a [(String, String)],
    response_body_base64: String,
    response_truncated: bool,
}

/// Outcomes of forwards not yet logged on the server, each already JSON text.
#[derive(Default)]
pub(super) struct Reports {
    entries: Vec<Vec<u8>>,
    since: Option<std::time::Instant>,
}

impl Reports {
    pub(super) fn add(&mut self, id: &str, (url, a): (String, Attempt)) {
        self.since.get_or_insert_with(std::time::Instant::now);
        let entry = Entry {
            request_id: id,
            kind: "listen",
            url: &url,
            status: a.status,
            duration_ms: a.duration_ms,
            error: a.error.as_deref().filter(|_| a.status.is_none()),
            response_headers: &a.response_headers,
            response_body_base64: BASE64.encode(&a.response_body),
            response_truncated: a.response_truncated,
        };
        self.entries
            .push(serde_json::to_vec(&entry).expect("an entry is always JSON"));
    }

    /// True when the oldest outcome has waited [`REPORT_EVERY`].
    pub(super) fn due(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= REPORT_EVERY)
    }

    /// Logs everything held on the server, in posts of at most [`REPORT_BYTES`] and
    /// [`REPORT_ENTRIES`], so the team sees the captures reached someone's app; a failure is
    /// said, not fatal.
    pub(super) async fn send(&mut self, remote: &Remote) {
        self.since = None;
        let mut entries = std::mem::take(&mut self.entries).into_iter().peekable();
        while entries.peek().is_some() {
            let mut body = b"{\"relays\":[".to_vec();
            let mut n = 0;
            while let Some(e) = entries
                .next_if(|e| n == 0 || (n < REPORT_ENTRIES && body.len() + e.len() < REPORT_BYTES))
            {
                if n > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&e);
                n += 1;
            }
            body.extend_from_slice(b"]}");
            let said = match remote
                .call_raw(Method::POST, "/api/relays", Some(body.into()))
                .await
            {
                Ok((StatusCode::CREATED, _)) => continue,
                Ok((status, answer)) => match remote.json(status, &answer) {
                    Ok(v) => refused(status, &v),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            eprintln!("hookbin: could not log the forwards on the server: {said}");
        }
    }
}
