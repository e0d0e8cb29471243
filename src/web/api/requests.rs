//! What can be done with a captured request beyond reading it: export it as curl or HAR,
//! replay it to a URL, list its forwards and replays, and check its signatures.

use std::convert::Infallible;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::inspect::signatures::Outcome;
use crate::model::{BinId, Relay, RequestId};
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, filter, query_pairs, verify};

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

/// The requests a HAR export covers, with their body sizes: those named by `ids`
/// (comma-separated or repeated), or else every one passing the request's filters, newest
/// first, up to [`HAR_MAX`].
async fn har_ids<B>(
    app: &App,
    req: &Request<B>,
    bin: &BinId,
) -> Result<Vec<(RequestId, u64)>, WebError> {
    let mut named: Vec<String> = query_pairs(req)
        .into_iter()
        .filter(|(k, _)| k == "ids")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    // The limit counts what was sent, blank entries too, as the API document states it.
    if named.len() > HAR_MAX {
        return Err(WebError::BadRequest(format!(
            "at most {HAR_MAX} ids per export"
        )));
    }
    named.retain(|v| !v.trim().is_empty());
    if !named.is_empty() {
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
    let filter = filter(req)?;
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
    let rx = crate::export::har_stream(ids, base, move |batch| {
        let store = store.clone();
        async move { store.get_requests(batch).await }
    });
    let rx = ReceiverStream::new(rx).map(|chunk| Ok::<_, Infallible>(Frame::data(chunk)));
    let body: Body = StreamBody::new(rx).boxed();
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
    let relay = app.relayer.replay(id, &input.url).await?;
    Ok(response::json(StatusCode::OK, &RelayOut::new(&relay)))
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

/// What `hookbin listen` reports after forwarding a capture to a local app.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenReport {
    /// Required in a batch (`POST /api/relays`); for one request, its id is in the path.
    #[serde(default)]
    request_id: Option<String>,
    kind: String,
    url: String,
    status: Option<u16>,
    duration_ms: u64,
    error: Option<String>,
    #[serde(default)]
    response_headers: Vec<(String, String)>,
    #[serde(default)]
    response_body_base64: String,
    #[serde(default)]
    response_truncated: bool,
}

const LISTEN_EXAMPLE: &str = r#"{"kind": "listen", "url": "http://127.0.0.1:3000/hook", "status": 200, "duration_ms": 3, "error": null}"#;

/// `POST /api/requests/{id}/relays`: logs a forward a listener made elsewhere on the request's
/// relay log (kind `listen` only; forwards and replays are logged by hookbin itself).
pub async fn report_relay(
    app: &App,
    req: Request<Incoming>,
    id: RequestId,
) -> Result<Response<Body>, WebError> {
    let r: ListenReport = super::json_body(req, LISTEN_EXAMPLE).await?;
    if let Some(other) = r.request_id.as_deref().filter(|o| *o != id.to_string()) {
        return Err(WebError::BadRequest(format!(
            "request_id '{other}' is not the request in the path ({id})"
        )));
    }
    let relay = listen_relay(r, id)?;
    app.store.record_relay(relay.clone()).await?;
    Ok(response::json(StatusCode::CREATED, &RelayOut::new(&relay)))
}

/// Most reports one `POST /api/relays` takes, and the most bytes of its body.
const MAX_REPORTS: usize = 1000;
const REPORTS_BODY: u64 = 8 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchIn {
    relays: Vec<ListenReport>,
}

/// `POST /api/relays`: logs many listener forwards at once, `{"relays": [{"request_id": ...,
/// <a report as for one request>}, ...]}`. Every entry is checked before any is written;
/// entries about requests that are gone are left out and named in `missing`.
pub async fn report_relays(app: &App, req: Request<Incoming>) -> Result<Response<Body>, WebError> {
    let input: BatchIn = super::large_json_body(
        req,
        REPORTS_BODY,
        r#"{"relays": [{"request_id": "...", "kind": "listen", ...}]}"#,
    )
    .await?;
    if input.relays.len() > MAX_REPORTS {
        return Err(WebError::BadRequest(format!(
            "at most {MAX_REPORTS} relays at once, not {}",
            input.relays.len()
        )));
    }
    let relays = input
        .relays
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let given = r.request_id.as_deref().unwrap_or("");
            let id = RequestId::parse(given).ok_or_else(|| {
                WebError::BadRequest(format!(
                    "relays[{i}].request_id must be a request id, not '{given}'"
                ))
            })?;
            listen_relay(r, id).map_err(|e| WebError::BadRequest(format!("relays[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let recorded = relays.len();
    let missing = app.store.record_relays(relays).await?;
    Ok(response::json(
        StatusCode::CREATED,
        &serde_json::json!({
            "recorded": recorded - missing.len(),
            "missing": missing.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        }),
    ))
}

/// A listener's report as a relay log entry of request `id`, its fields checked and capped.
fn listen_relay(r: ListenReport, id: RequestId) -> Result<Relay, WebError> {
    if r.kind != "listen" {
        return Err(WebError::BadRequest(format!(
            "kind must be \"listen\", not '{}'",
            r.kind
        )));
    }
    if let Some(status) = r.status.filter(|s| !(100..=999).contains(s)) {
        return Err(WebError::BadRequest(format!(
            "status must be an HTTP status from 100 to 999 (or null when there was no answer), not {status}"
        )));
    }
    let body = BASE64
        .decode(&r.response_body_base64)
        .map_err(|_| WebError::BadRequest("response_body_base64 is not base64".into()))?;
    let mut body = bytes::Bytes::from(body);
    let truncated = r.response_truncated || body.len() > crate::outbound::RESPONSE_CAP;
    body.truncate(crate::outbound::RESPONSE_CAP);
    Ok(Relay {
        request_id: id,
        kind: crate::model::RelayKind::Listen,
        url: r.url.chars().take(2048).collect(),
        at: chrono::Utc::now(),
        status: r.status,
        duration_ms: r.duration_ms,
        error: r.error.map(|e| e.chars().take(2048).collect()),
        response_headers: r.response_headers.into_iter().take(200).collect(),
        response_body: body,
        response_truncated: truncated,
    })
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
        None => verify::secrets(app, &c.bin_id).await?,
    };
    let checks: Vec<CheckOut> = verify::check(&c, &secrets)
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
