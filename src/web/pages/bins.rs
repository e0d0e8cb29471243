//! Pages for bins and captured requests.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::{human_size, render};
use crate::inspect::{self, BodyView};
use crate::model::{Bin, BinId, Capture, RequestId};
use crate::sender::signing::{self, Verdict};
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, paging, read_small_body};

/// Requests listed per bin page.
const PAGE_SIZE: usize = 50;

/// A bin as listed on the home page and headed on its own page.
pub struct BinView {
    pub id: String,
    pub url: String,
    pub request_count: u64,
    pub created_at: String,
}

impl BinView {
    fn new(bin: &Bin, base: &str) -> BinView {
        BinView {
            id: bin.id.to_string(),
            url: format!("{base}/b/{}", bin.id),
            request_count: bin.request_count,
            created_at: time::format(bin.created_at),
        }
    }
}

/// One line of a bin's request list.
pub struct RequestRow {
    pub id: String,
    pub method: String,
    pub method_class: String,
    pub target: String,
    pub received_at: String,
    pub content_type: String,
    pub size: String,
}

impl RequestRow {
    fn new(c: &Capture) -> RequestRow {
        RequestRow {
            id: c.id.to_string(),
            method: c.method.clone(),
            method_class: method_class(&c.method),
            target: c.target(),
            received_at: time::format(c.received_at),
            content_type: c.content_type().unwrap_or("").to_owned(),
            size: human_size(c.body_size),
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    bins: Vec<BinView>,
    error: Option<String>,
    name: String,
}

pub async fn home(app: &App, req: &Request<Incoming>) -> Result<Response<Body>, WebError> {
    home_with(app, &app.base_url(req), None, String::new()).await
}

async fn home_with(
    app: &App,
    base: &str,
    error: Option<String>,
    name: String,
) -> Result<Response<Body>, WebError> {
    let bins = app
        .store
        .list_bins()
        .await?
        .iter()
        .map(|b| BinView::new(b, base))
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(status, &HomePage { bins, error, name })
}

/// The **New bin** form: an optional name, then straight to the new bin's page.
pub async fn create_bin(app: &App, req: Request<Incoming>) -> Result<Response<Body>, WebError> {
    let base = app.base_url(&req);
    let form = inspect::pairs(&read_small_body(req).await?);
    let name = crate::web::field(&form, "name").trim().to_owned();
    let parsed = match name.as_str() {
        "" => None,
        n => match crate::web::api::parse_name(n) {
            Ok(id) => Some(id),
            Err(e) => return home_with(app, &base, Some(e.to_string()), name).await,
        },
    };
    match app.store.create_bin(parsed).await {
        Ok(bin) => Ok(response::see_other(&format!("/bins/{}", bin.id))),
        Err(crate::store::StoreError::Conflict(msg)) => {
            home_with(app, &base, Some(msg), name).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "bin.html")]
struct BinPage {
    bin: BinView,
    requests: Vec<RequestRow>,
    next: Option<String>,
    first_page: bool,
    curl: String,
}

pub async fn bin(
    app: &App,
    req: &Request<Incoming>,
    id: BinId,
) -> Result<Response<Body>, WebError> {
    let (limit, before) = paging(req, PAGE_SIZE, 500)?;
    let bin = app.store.get_bin(&id).await?;
    let page = app.store.list_requests(&id, limit, before, Some(0)).await?;
    let view = BinView::new(&bin, &app.base_url(req));
    let curl = format!(
        "curl -X POST '{}/hello?source=curl' -H 'Content-Type: application/json' -d '{{\"hello\": \"hookbin\"}}'",
        view.url
    );
    render(
        StatusCode::OK,
        &BinPage {
            bin: view,
            requests: page.requests.iter().map(RequestRow::new).collect(),
            next: page.next.map(|n| n.to_string()),
            first_page: before.is_none(),
            curl,
        },
    )
}

pub async fn clear_bin(app: &App, id: BinId) -> Result<Response<Body>, WebError> {
    app.store.clear_bin(&id).await?;
    Ok(response::see_other(&format!("/bins/{id}")))
}

pub async fn delete_bin(app: &App, id: BinId) -> Result<Response<Body>, WebError> {
    app.store.delete_bin(&id).await?;
    Ok(response::see_other("/"))
}

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
    signature: Option<SignatureView>,
}

/// The verdict on a captured request's Standard Webhooks signature.
pub struct SignatureView {
    pub valid: bool,
    pub headline: String,
    pub detail: String,
}

impl SignatureView {
    fn new(v: Verdict) -> SignatureView {
        match v {
            Verdict::Valid { webhook, skew_secs } => SignatureView {
                valid: true,
                headline: "Signature valid".into(),
                detail: format!(
                    "Signed with the secret of webhook \u{201c}{webhook}\u{201d}. {}",
                    if skew_secs.abs() <= 300 {
                        "The timestamp is within 5 minutes of arrival.".to_owned()
                    } else {
                        format!("But the timestamp is {skew_secs} s from arrival: a receiver would reject it as a replay.")
                    }
                ),
            },
            Verdict::NoMatch => SignatureView {
                valid: false,
                headline: "Signature not valid".into(),
                detail: "It matches the secret of no webhook in this hookbin: the body or headers changed, or it was signed with another secret.".into(),
            },
            Verdict::Malformed(why) => SignatureView {
                valid: false,
                headline: "Signature headers malformed".into(),
                detail: why,
            },
        }
    }
}

/// Checks the capture's Standard Webhooks headers against every webhook secret.
async fn signature(
    app: &App,
    c: &Capture,
    complete: bool,
) -> Result<Option<SignatureView>, WebError> {
    if c.header("webhook-signature").is_none() {
        return Ok(None);
    }
    let secrets: Vec<(String, String)> = app
        .store
        .list_webhooks()
        .await?
        .into_iter()
        .map(|w| (w.name, w.secret))
        .collect();
    let full;
    let body = if complete {
        &c.body
    } else {
        full = app.store.get_request(c.id, None).await?.body;
        &full
    };
    let verdict = signing::check(
        |name| c.header(name).map(str::to_owned),
        body,
        c.received_at.timestamp(),
        &secrets,
    );
    Ok(verdict.map(SignatureView::new))
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
    let signature = signature(app, &c, complete).await?;
    let page = RequestPage {
        signature,
        url: format!("{}{}", app.base_url(req), c.target()),
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

pub async fn delete_request(app: &App, id: RequestId) -> Result<Response<Body>, WebError> {
    let bin = app.store.delete_request(id).await?;
    Ok(response::see_other(&format!("/bins/{bin}")))
}

/// A CSS class for the method's colour; unknown methods share one.
fn method_class(method: &str) -> String {
    match method {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" => format!("m-{}", method.to_ascii_lowercase()),
        _ => "m-other".to_owned(),
    }
}
