//! The page of one captured request: what arrived, its signatures, its export as curl, and
//! its forwards and replays (with a form to replay it).

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::bins::RequestRow;
use super::{human_size, render};
use crate::inspect::signatures::SIGNATURE_HEADERS;
use crate::inspect::{self, BodyView};
use crate::model::{Relay, RequestId};
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, field, read_small_body, verify};

/// Bodies up to this size get their curl command printed on the page; larger ones link to it.
const CURL_INLINE: u64 = 64 * 1024;

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    row: RequestRow,
    bin_id: String,
    url: String,
    http_version: String,
    remote_addr: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: BodyView,
    body_size: u64,
    truncated: bool,
    shown: String,
    /// Set when a hex dump shows only the first [`inspect::HEX_LIMIT`] bytes.
    hex_cut: Option<String>,
    signatures: Vec<SignatureView>,
    has_bin_secret: bool,
    /// The curl command, when the body is small enough to print.
    curl: Option<String>,
    relays: Vec<RelayView>,
    replay_url: String,
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

pub async fn request(
    app: &App,
    req: &Request<Incoming>,
    id: RequestId,
) -> Result<Response<Body>, WebError> {
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
        verify::check(full, &verify::secrets(app, &c.bin_id).await?)
            .iter()
            .map(|ch| SignatureView {
                valid: ch.passes(),
                headline: ch.headline(),
                detail: ch.detail(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let url = format!("{}{}", app.base_url(req), c.target());
    let settings = app.store.bin_settings(&c.bin_id);
    let relays: Vec<Relay> = app.store.relays(id).await?;
    let replay_url = relays
        .iter()
        .find(|r| r.kind == crate::model::RelayKind::Replay)
        .map(|r| r.url.clone())
        .or_else(|| settings.forward_url.clone())
        .unwrap_or_default();
    let page = RequestPage {
        signatures,
        has_bin_secret: settings.signing_secret.is_some(),
        curl: (c.body_size <= CURL_INLINE).then(|| crate::export::curl(full, &url)),
        relays: relays.iter().map(RelayView::new).collect(),
        replay_url,
        url,
        bin_id: c.bin_id.to_string(),
        http_version: c.http_version.clone(),
        remote_addr: c.remote_addr.clone(),
        query: inspect::pairs(c.query.as_bytes()),
        headers: c.text_headers(),
        body: inspect::view(c.content_type(), &c.body, complete),
        body_size: c.body_size,
        truncated: !complete,
        shown: human_size(c.body.len() as u64),
        hex_cut: (c.body_size > inspect::HEX_LIMIT as u64)
            .then(|| human_size(inspect::HEX_LIMIT as u64)),
        row: RequestRow::new(&c),
    };
    render(StatusCode::OK, &page)
}

/// The **Replay** form: sends the request to the URL given, then shows the answer in the log.
pub async fn replay(
    app: &App,
    req: Request<Incoming>,
    id: RequestId,
) -> Result<Response<Body>, WebError> {
    let form = inspect::pairs(&read_small_body(req).await?);
    app.relayer.replay(id, field(&form, "url")).await?;
    Ok(response::see_other(&format!("/requests/{id}#relays")))
}

pub async fn delete_request(app: &App, id: RequestId) -> Result<Response<Body>, WebError> {
    let bin = app.store.delete_request(id).await?;
    Ok(response::see_other(&format!("/bins/{bin}")))
}
