//! Turns an incoming HTTP request on `/b/{bin}/…` into a stored capture.
//!
//! The body limit is enforced while the body streams in: a request announcing more than the
//! limit is refused before a byte of its body is read, and one that sends more is cut off at the
//! limit, and one that does not arrive in full within the body timeout is abandoned. Nothing
//! is stored unless the whole request was accepted, and the caller hears of
//! success only once the capture is committed. Each committed capture is then announced on the
//! live feed that the bin pages follow.

pub mod answer;
pub mod body;
mod feed;
pub mod follow;

pub use feed::{Announced, Feed};

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hyper::body::Incoming;
use hyper::{Request, Version};

use crate::inspect::signatures::SIGNATURE_HEADERS;
use crate::model::{BinId, BinSettings, NewCapture, RequestId};
use crate::relay::Relayer;
use crate::store::{Store, StoreError, encode_headers};

/// Why a request could not be captured.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("no bin with id {0}")]
    UnknownBin(BinId),
    #[error(transparent)]
    Body(#[from] body::BodyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request's header lines exactly as they arrived (names lowercased), attached by the server
/// where hyper's parsed headers would differ: hyper drops `Content-Length` beside
/// `Transfer-Encoding` and folds repeated identical `Content-Length` lines, and the stored record
/// keeps what the sender sent.
#[derive(Debug, Clone)]
pub struct Arrived(pub Vec<(String, Vec<u8>)>);

/// Stores requests for bins under the configured limits.
#[derive(Clone)]
pub struct Capturer {
    store: Store,
    max_body: u64,
    body_timeout: Duration,
    max_requests: u64,
    feed: Feed,
    relayer: Relayer,
}

/// A committed capture: its id, and the settings of its bin at the time (which say how to
/// answer).
pub struct Captured {
    pub id: RequestId,
    pub settings: Arc<BinSettings>,
    /// The answer rule's answer, when one of the bin's rules took the request.
    pub rule_answer: Option<answer::RuleAnswer>,
}

impl Capturer {
    /// A capturer writing to `store`, announcing on `feed`, forwarding through `relayer`;
    /// bodies are bounded by `max_body` bytes and `body_timeout`.
    pub fn new(
        store: Store,
        (max_body, body_timeout): (u64, Duration),
        max_requests: u64,
        feed: Feed,
        relayer: Relayer,
    ) -> Capturer {
        Capturer {
            store,
            max_body,
            body_timeout,
            max_requests,
            feed,
            relayer,
        }
    }

    /// Reads the request (body within the limit), stores it and returns its id once committed;
    /// then queues it for forwarding if its bin forwards.
    pub async fn capture(
        &self,
        bin: BinId,
        req: Request<Incoming>,
        remote: String,
    ) -> Result<Captured, CaptureError> {
        if !self.store.bin_exists(&bin).await? {
            return Err(CaptureError::UnknownBin(bin));
        }
        let settings = self.store.bin_settings(&bin).await?;
        let (parts, body) = req.into_parts();
        let body = body::read(body, self.max_body, self.body_timeout).await?;
        let sub_path = answer::sub_path(parts.uri.path(), &bin);
        let view = || {
            crate::rules::RequestView::new(
                parts.method.as_str(),
                sub_path,
                parts.uri.query().unwrap_or(""),
                &parts.headers,
                &body,
            )
        };
        let choice = match settings.rules.is_empty() {
            true => None,
            false => answer::choose(&self.store, &bin, &settings, &view(), false).await?,
        };
        let kept_body = choice.as_ref().map(|_| body.clone());
        // HTTP/2 names the host in its `:authority` pseudo-header, which hyper turns into the
        // URI and drops from the header list: it is kept as the first header line, as sent.
        let authority = (parts.version == Version::HTTP_2)
            .then(|| parts.uri.authority())
            .flatten()
            .map(|a| (":authority", a.as_str().as_bytes()));
        let capture = NewCapture {
            bin_id: bin.clone(),
            received_at: Utc::now(),
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or("").to_owned(),
            http_version: version_text(parts.version),
            remote_addr: remote,
            headers: match parts.extensions.get::<Arrived>() {
                Some(Arrived(lines)) => {
                    encode_headers(lines.iter().map(|(n, v)| (n.as_str(), v.as_slice())))
                }
                None => encode_headers(
                    authority.into_iter().chain(
                        parts
                            .headers
                            .iter()
                            .map(|(n, v)| (n.as_str(), v.as_bytes())),
                    ),
                ),
            },
            content_type: parts
                .headers
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            signed: SIGNATURE_HEADERS
                .iter()
                .any(|h| parts.headers.contains_key(*h)),
            body,
            response_status: match &choice {
                Some(c) => c.answer.status,
                None => settings.response.as_ref().map_or(200, |r| r.status),
            },
            response_rule: choice.as_ref().map(|c| c.rule.clone()),
        };
        let (capture, id) = self
            .store
            .insert_capture(capture, self.max_requests)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => CaptureError::UnknownBin(bin),
                e => CaptureError::Store(e),
            })?;
        self.store.metrics().stored(capture.body.len() as u64);
        self.feed
            .publish(&capture.bin_id, id, || capture.summary(id));
        if let Some(url) = &settings.forward_url {
            self.relayer.forward(id, capture, url);
        }
        let rule_answer = choice.zip(kept_body).map(|(c, body)| {
            let view = crate::rules::RequestView::new(
                parts.method.as_str(),
                sub_path,
                parts.uri.query().unwrap_or(""),
                &parts.headers,
                &body,
            );
            answer::render(c, &view, &id.to_string())
        });
        Ok(Captured {
            id,
            settings,
            rule_answer,
        })
    }
}

fn version_text(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}
