//! One captured request in full: what arrived, its signatures, its export as curl, and its
//! forwards and replays (with a form to replay it). The same detail is the page at
//! `/requests/{id}` (the permalink) and the right pane of the bin inspector.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::bins::RequestRow;
use super::{human_size, render};
use crate::inspect::json::{self, Line};
use crate::inspect::signatures::{Check, SIGNATURE_HEADERS};
use crate::inspect::{self, BodyView};
use crate::model::{Capture, Relay, RequestId};
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, field, read_small_body, verify};

/// Bodies up to this size get their curl command printed on the page; larger ones link to it.
const CURL_INLINE: u64 = 64 * 1024;
/// A curl command longer than this starts folded.
const CURL_OPEN: usize = 4 * 1024;

/// Everything about one request, rendered as a fragment: the page and the pane wrap it.
#[derive(Template)]
#[template(path = "_request.html")]
pub struct RequestDetail {
    pub row: RequestRow,
    /// True inside the bin inspector (a section heading, links that keep the inspector).
    embedded: bool,
    bin_id: String,
    url: String,
    http_version: String,
    remote_addr: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: BodyView,
    /// The JSON body laid out for colouring and folding.
    json: Option<Vec<Line>>,
    /// The body's exact text, for the raw view and its copy button.
    raw: Option<String>,
    body_size: u64,
    truncated: bool,
    shown: String,
    /// Set when a hex dump shows only the first [`inspect::HEX_LIMIT`] bytes.
    hex_cut: Option<String>,
    signatures: Vec<SignatureView>,
    /// "valid", "invalid" or "" (unsigned): the mark the inspector's list shows.
    pub verdict: &'static str,
    has_bin_secret: bool,
    /// The curl command, when the body is small enough to print.
    curl: Option<String>,
    curl_open: bool,
    relays: Vec<RelayView>,
    replay_url: String,
    /// Where the links to the newer and older request of the bin go.
    newer: Option<String>,
    older: Option<String>,
    /// The delivery of this hookbin that sent this request, when one did (its `webhook-id`).
    sent_by: Option<String>,
}

/// The verdict on one signature scheme a captured request carries.
pub struct SignatureView {
    pub valid: bool,
    pub headline: String,
    pub detail: String,
}

/// One forward or replay of the request.
pub struct RelayView {
    pub kind: &'static str,
    pub url: String,
    pub at: String,
    pub ok: bool,
    /// The status, or the reason no answer came.
    pub outcome: String,
    pub duration_ms: u64,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub truncated: bool,
}

impl RelayView {
    fn new(r: &Relay) -> RelayView {
        RelayView {
            kind: r.kind.as_str(),
            url: r.url.clone(),
            at: time::format(r.at),
            ok: r.status.is_some_and(|s| (200..300).contains(&s)),
            outcome: match (r.status, &r.error) {
                (Some(s), _) => s.to_string(),
                (None, Some(e)) => e.clone(),
                (None, None) => "no answer".into(),
            },
            duration_ms: r.duration_ms,
            headers: r.response_headers.clone(),
            body: String::from_utf8_lossy(&r.response_body).into_owned(),
            truncated: r.response_truncated,
        }
    }
}

/// The signature verdicts of `c`, which must hold its whole body.
async fn signatures(app: &App, c: &Capture) -> Result<Vec<SignatureView>, WebError> {
    Ok(signature_views(&verify::check(
        c,
        &verify::secrets(app, &c.bin_id).await?,
    )))
}

/// Checks as the page words them.
pub(super) fn signature_views(checks: &[Check]) -> Vec<SignatureView> {
    checks
        .iter()
        .map(|ch| SignatureView {
            valid: ch.passes(),
            headline: ch.headline(),
            detail: ch.detail(),
        })
        .collect()
}

/// The list mark for a set of verdicts: valid when one scheme passes.
pub(super) fn verdict(sigs: &[SignatureView]) -> &'static str {
    match sigs {
        [] => "",
        s if s.iter().any(|s| s.valid) => "valid",
        _ => "invalid",
    }
}

impl RequestDetail {
    /// The id of the bin the request belongs to.
    pub fn bin(&self) -> &str {
        &self.bin_id
    }

    /// Loads request `id` (at most [`inspect::INLINE_LIMIT`] body bytes, the whole body only
    /// when a signature needs it) and lays it out; `base` is the URL hookbin is reached at.
    pub async fn load(
        app: &App,
        base: &str,
        id: RequestId,
        embedded: bool,
    ) -> Result<RequestDetail, WebError> {
        let c = app
            .store
            .get_request(id, Some(inspect::INLINE_LIMIT))
            .await?;
        let complete = c.body.len() as u64 == c.body_size;
        let carries_signature = SIGNATURE_HEADERS.iter().any(|h| c.header(h).is_some());
        // Signatures need every body byte (a curl line is only printed for bodies that are whole).
        let whole = if complete || !carries_signature {
            None
        } else {
            Some(app.store.get_request(id, None).await?)
        };
        let full = whole.as_ref().unwrap_or(&c);
        let signatures = if carries_signature {
            signatures(app, full).await?
        } else {
            Vec::new()
        };
        let url = format!("{base}{}", c.target());
        let settings = app.store.bin_settings(&c.bin_id).await?;
        let relays: Vec<Relay> = app.store.relays(id).await?;
        let replay_url = relays
            .iter()
            .find(|r| r.kind == crate::model::RelayKind::Replay)
            .map(|r| r.url.clone())
            .or_else(|| settings.forward_url.clone())
            .unwrap_or_default();
        let (newer, older) = app.store.neighbours(&c.bin_id, id).await?;
        let link = |r: RequestId| {
            if embedded {
                format!("/bins/{}?r={r}", c.bin_id)
            } else {
                format!("/requests/{r}")
            }
        };
        let body = inspect::view(c.content_type(), &c.body, complete);
        let text = std::str::from_utf8(&c.body).ok();
        let raw = match body {
            BodyView::Json(_) | BodyView::Xml(_) | BodyView::Text(_) => text.map(str::to_owned),
            _ => None,
        };
        let curl = (c.body_size <= CURL_INLINE).then(|| crate::export::curl(full, &url));
        let sent_by = match c
            .header("webhook-id")
            .and_then(crate::model::DeliveryId::parse)
        {
            Some(did) if app.store.get_delivery(&did).await.is_ok() => Some(did.to_string()),
            _ => None,
        };
        Ok(RequestDetail {
            verdict: verdict(&signatures),
            signatures,
            has_bin_secret: settings.signing_secret.is_some(),
            curl_open: curl.as_ref().is_some_and(|c| c.len() <= CURL_OPEN)
                && !matches!(body, BodyView::Binary(_)),
            curl,
            relays: relays.iter().map(RelayView::new).collect(),
            replay_url,
            url,
            embedded,
            bin_id: c.bin_id.to_string(),
            http_version: c.http_version.clone(),
            remote_addr: c.remote_addr.clone(),
            query: inspect::pairs(c.query.as_bytes()),
            headers: c.text_headers(),
            json: match body {
                BodyView::Json(_) => text.and_then(json::lines),
                _ => None,
            },
            raw,
            body,
            body_size: c.body_size,
            truncated: !complete,
            shown: human_size(c.body.len() as u64),
            hex_cut: (c.body_size > inspect::HEX_LIMIT as u64)
                .then(|| human_size(inspect::HEX_LIMIT as u64)),
            newer: newer.map(link),
            older: older.map(link),
            sent_by,
            row: RequestRow::new(&c),
        })
    }
}

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    row: RequestRow,
    bin_id: String,
    detail: String,
}

pub async fn request(
    app: &App,
    req: &Request<Incoming>,
    id: RequestId,
) -> Result<Response<Body>, WebError> {
    let d = RequestDetail::load(app, &app.base_url(req), id, false).await?;
    let page = RequestPage {
        bin_id: d.bin_id.clone(),
        detail: render_detail(&d)?,
        row: d.row,
    };
    render(StatusCode::OK, &page)
}

/// The detail alone, for the inspector to swap in without reloading the page.
pub async fn request_pane(
    app: &App,
    req: &Request<Incoming>,
    id: RequestId,
) -> Result<Response<Body>, WebError> {
    let d = RequestDetail::load(app, &app.base_url(req), id, true).await?;
    Ok(response::html(StatusCode::OK, render_detail(&d)?))
}

pub(super) fn render_detail(d: &RequestDetail) -> Result<String, WebError> {
    d.render()
        .map_err(|e| WebError::Internal(format!("template: {e}")))
}

/// The **Replay** form: sends the request to the URL given, then shows the answer in the log.
pub async fn replay(
    app: &App,
    req: Request<Incoming>,
    id: RequestId,
) -> Result<Response<Body>, WebError> {
    let form = inspect::pairs(&read_small_body(req).await?);
    app.relayer.replay(id, field(&form, "url")).await?;
    let to = match crate::web::local_back(field(&form, "back")) {
        Some(b) => b.to_owned(),
        None => format!("/requests/{id}#relays"),
    };
    Ok(response::see_other(&to))
}

pub async fn delete_request(app: &App, id: RequestId) -> Result<Response<Body>, WebError> {
    let bin = app.store.delete_request(id).await?;
    Ok(response::see_other(&format!("/bins/{bin}")))
}
