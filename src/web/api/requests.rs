//! What can be done with a captured request beyond reading it: export it as curl or HAR,
//! replay it to a URL, list its forwards and replays, and check its signatures.

use std::convert::Infallible;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::export::{HAR_END, HAR_START, har_entry};
use crate::inspect::signatures::{self, Check, Outcome};
use crate::model::{BinId, Capture, Relay, RequestId};
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, filter, query_pairs};

/// Most captures one HAR export holds.
pub const HAR_MAX: usize = 10_000;

/// A forward or replay as the API shows it.
#[derive(Serialize)]
pub struct RelayOut {
    pub kind: &'static str,
    pub url: String,
    pub at: String,
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
    pub response_headers: Vec<(String, String)>,
    pub response_body_base64: String,
    pub response_body_text: Option<String>,
    pub response_truncated: bool,
}

impl RelayOut {
    pub fn new(r: &Relay) -> RelayOut {
        RelayOut {
            kind: r.kind.as_str(),
            url: r.url.clone(),
            at: time::format(r.at),
            status: r.status,
            duration_ms: r.duration_ms,
            error: r.error.clone(),
            response_headers: r.response_headers.clone(),
            response_body_base64: BASE64.encode(&r.response_body),
            response_body_text: std::str::from_utf8(&r.response_body)
                .ok()
                .map(str::to_owned),
            response_truncated: r.response_truncated,
        }
    }
}

/// `GET /api/requests/{id}/curl`: the shell command that re-sends the request, as text.
pub async fn curl(
    app: &App,
    req: &Request<Incoming>,
    id: RequestId,
) -> Result<Response<Body>, WebError> {
    let c = app.store.get_request(id, None).await?;
    let cmd = crate::export::curl(&c, &format!("{}{}", app.base_url(req), c.target()));
    Ok(response::with_type(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        response::full(cmd + "\n"),
    ))
}

/// Body bytes read from the store at once while a HAR export streams.
const HAR_BATCH_BYTES: u64 = 8 * 1024 * 1024;
/// Captures read from the store at once while a HAR export streams.
const HAR_BATCH_MAX: usize = 500;

/// The requests a HAR export covers, with their body sizes: those named by `ids`
/// (comma-separated or repeated), or else every one passing the request's filters, newest
/// first, up to [`HAR_MAX`].
async fn har_ids<B>(
    app: &App,
    req: &Request<B>,
    bin: &BinId,
) -> Result<Vec<(RequestId, u64)>, WebError> {
    let named: Vec<String> = query_pairs(req)
        .into_iter()
        .filter(|(k, _)| k == "ids")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .filter(|v| !v.trim().is_empty())
        .collect();
    if !named.is_empty() {
        if named.len() > HAR_MAX {
            return Err(WebError::BadRequest(format!(
                "at most {HAR_MAX} ids per export"
            )));
        }
        let mut ids = Vec::with_capacity(named.len());
        for raw in named {
            let id = RequestId::parse(raw.trim()).ok_or_else(|| {
                WebError::BadRequest(format!("ids must be request ids, not '{raw}'"))
            })?;
            let c = app.store.get_request(id, Some(0)).await?;
            if c.bin_id != *bin {
                return Err(WebError::NotFound(format!("no request {id} in bin {bin}")));
            }
            ids.push((id, c.body_size));
        }
        return Ok(ids);
    }
    let filter = filter(req);
    let mut ids = Vec::new();
    let mut before = None;
    loop {
        let room = (HAR_MAX - ids.len()).min(1000);
        let page = app
            .store
            .list_requests(bin, room, before, Some(0), &filter)
            .await?;
        ids.extend(page.requests.iter().map(|c| (c.id, c.body_size)));
        match page.next {
            Some(n) if ids.len() < HAR_MAX => before = Some(n),
            _ => return Ok(ids),
        }
    }
}

/// `GET /api/bins/{id}/har` (and the page's export link): a HAR 1.2 file download. It is
/// streamed in batches of a few MiB of bodies, so a bin of large bodies never sits in memory
/// whole; a request deleted while the export runs is left out.
pub async fn har<B>(app: &App, req: &Request<B>, bin: BinId) -> Result<Response<Body>, WebError> {
    app.store.get_bin(&bin).await?;
    let ids = har_ids(app, req, &bin).await?;
    let base = app.base_url(req);
    let store = app.store.clone();
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    tokio::spawn(async move {
        let send = |text: String| tx.send(Ok(Frame::data(Bytes::from(text))));
        if send(HAR_START.to_owned()).await.is_err() {
            return;
        }
        let mut first = true;
        // Batches of up to HAR_BATCH_MAX captures and HAR_BATCH_BYTES of bodies (at least one).
        let mut rest = ids.as_slice();
        while !rest.is_empty() {
            let mut bytes = 0;
            let take = rest
                .iter()
                .take(HAR_BATCH_MAX)
                .take_while(|(_, size)| {
                    bytes += size;
                    bytes <= HAR_BATCH_BYTES
                })
                .count()
                .max(1);
            let (batch, more) = rest.split_at(take);
            rest = more;
            let captures = match store
                .get_requests(batch.iter().map(|(id, _)| *id).collect())
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    // The answer is already under way: end it short rather than lie.
                    tracing::warn!(error = %e, "HAR export stopped");
                    return;
                }
            };
            for c in captures {
                let comma = if std::mem::take(&mut first) { "" } else { "," };
                if send(format!("{comma}{}", har_entry(&c, &base)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        let _ = send(HAR_END.to_owned()).await;
    });
    let body: Body = StreamBody::new(ReceiverStream::new(rx)).boxed();
    let mut r = response::with_type(StatusCode::OK, "application/json", body);
    let disposition = format!("attachment; filename=\"hookbin-{bin}.har\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayIn {
    url: String,
}

/// `POST /api/requests/{id}/replay {"url": ...}`: re-sends the request and answers with what
/// the target said (a 200 even when the target failed: the outcome is in the body).
pub async fn replay(
    app: &App,
    req: Request<Incoming>,
    id: RequestId,
) -> Result<Response<Body>, WebError> {
    let input: ReplayIn =
        super::json_body(req, r#"{"url": "http://127.0.0.1:3000/hooks"}"#).await?;
    let relay = replay_to(app, id, &input.url).await?;
    Ok(response::json(StatusCode::OK, &RelayOut::new(&relay)))
}

/// Replays a stored request to `url` after checking the URL.
pub async fn replay_to(app: &App, id: RequestId, url: &str) -> Result<Relay, WebError> {
    let url = url.trim();
    crate::outbound::check_url(url).map_err(WebError::BadRequest)?;
    let c = app.store.get_request(id, None).await?;
    Ok(app.relayer.replay(&c, url).await?)
}

/// `GET /api/requests/{id}/relays`: every forward and replay of the request, newest first.
pub async fn relays(app: &App, id: RequestId) -> Result<Response<Body>, WebError> {
    app.store.get_request(id, Some(0)).await?;
    let relays: Vec<RelayOut> = app
        .store
        .relays(id)
        .await?
        .iter()
        .map(RelayOut::new)
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &serde_json::json!({ "relays": relays }),
    ))
}

/// The secrets a capture in `bin` is checked with: the bin's own, then every webhook's.
pub async fn secrets(app: &App, bin: &BinId) -> Result<Vec<(String, String)>, WebError> {
    let mut out = Vec::new();
    if let Some(s) = &app.store.bin_settings(bin.as_str()).signing_secret {
        out.push(("this bin's signing secret".to_owned(), s.clone()));
    }
    for w in app.store.list_webhooks().await? {
        out.push((
            format!("the secret of webhook \u{201c}{}\u{201d}", w.name),
            w.secret,
        ));
    }
    Ok(out)
}

/// Checks the signatures of `c` (which must hold its whole body) against `secrets`.
pub fn check(c: &Capture, secrets: &[(String, String)]) -> Vec<Check> {
    signatures::check_all(
        |name| c.header(name).map(str::to_owned),
        &c.body,
        c.received_at.timestamp(),
        secrets,
    )
}

#[derive(Serialize)]
struct CheckOut {
    scheme: &'static str,
    header: &'static str,
    valid: bool,
    outcome: &'static str,
    secret: Option<String>,
    skew_secs: Option<i64>,
    summary: String,
    detail: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyIn {
    secret: Option<String>,
}

/// `POST /api/requests/{id}/verify`, optionally `{"secret": ...}`: the verdict of every
/// signature scheme the request carries, against the given secret or else the bin's and the
/// webhooks' secrets.
pub async fn verify(
    app: &App,
    req: Request<Incoming>,
    id: RequestId,
) -> Result<Response<Body>, WebError> {
    let input: VerifyIn = super::optional_json_body(req, r#"{"secret": "..."}"#).await?;
    let c = app.store.get_request(id, None).await?;
    let secrets = match input.secret {
        Some(s) => vec![("the given secret".to_owned(), s)],
        None => secrets(app, &c.bin_id).await?,
    };
    let checks: Vec<CheckOut> = check(&c, &secrets)
        .into_iter()
        .map(|ch| {
            let (outcome, secret, skew_secs) = match &ch.outcome {
                Outcome::Valid { secret, skew_secs } => ("valid", Some(secret.clone()), *skew_secs),
                Outcome::NoMatch { .. } => ("no_match", None, None),
                Outcome::Malformed(_) => ("malformed", None, None),
            };
            CheckOut {
                scheme: ch.scheme,
                header: ch.header,
                valid: ch.passes(),
                outcome,
                secret,
                skew_secs,
                summary: ch.headline(),
                detail: ch.detail(),
            }
        })
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &serde_json::json!({ "checks": checks }),
    ))
}
