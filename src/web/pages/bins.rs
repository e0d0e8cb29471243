//! Pages for bins and captured requests.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::{human_size, render};
use crate::inspect;
use crate::inspect::signatures::SIGNATURE_HEADERS;
use crate::model::{Bin, BinId, Capture};
use crate::store::{BinOrder, BinQuery};
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, bin_query, read_small_body};

/// A bin as listed on the home page and headed on its own page.
pub struct BinView {
    pub id: String,
    pub url: String,
    pub request_count: u64,
    pub created_at: String,
    /// When the newest request arrived, or empty.
    pub last_request_at: String,
}

impl BinView {
    pub(super) fn new(bin: &Bin, base: &str) -> BinView {
        BinView {
            id: bin.id.to_string(),
            url: format!("{base}/b/{}", bin.id),
            request_count: bin.request_count,
            created_at: time::format(bin.created_at),
            last_request_at: bin.last_request_at.map(time::format).unwrap_or_default(),
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
    /// The media type alone, without parameters such as a multipart boundary.
    pub mime: String,
    pub size: String,
    /// The status hookbin answered with.
    pub status: u16,
    /// The answer rule that chose it, if one did.
    pub rule: Option<String>,
    /// Whether it carries a signature header.
    pub signed: bool,
    /// "valid" or "invalid" once its signature was checked, else "".
    pub verdict: &'static str,
}

impl RequestRow {
    pub fn new(c: &Capture) -> RequestRow {
        RequestRow {
            id: c.id.to_string(),
            method: c.method.clone(),
            method_class: method_class(&c.method),
            target: c.target(),
            received_at: time::format(c.received_at),
            content_type: c.content_type().unwrap_or("").to_owned(),
            mime: c
                .content_type()
                .and_then(|t| t.split(';').next())
                .unwrap_or("")
                .trim()
                .to_owned(),
            size: human_size(c.body_size),
            status: c.response_status,
            rule: c.response_rule.clone(),
            signed: SIGNATURE_HEADERS.iter().any(|h| c.header(h).is_some()),
            verdict: "",
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    bins: Vec<BinView>,
    error: Option<String>,
    name: String,
    /// The search and order shown in the list's form, and the link to the next page.
    q: String,
    by_created: bool,
    /// Query strings of the first and the next page.
    first: String,
    next: Option<String>,
    /// Bins matching the search, and whether this is a later page.
    matched: usize,
    later: bool,
}

/// Bins per page of the home page.
const HOME_PAGE_SIZE: usize = 50;

pub async fn home(app: &App, req: &Request<Incoming>) -> Result<Response<Body>, WebError> {
    let query = bin_query(req, HOME_PAGE_SIZE, HOME_PAGE_SIZE)?;
    home_with(app, &app.base_url(req), query, None, String::new()).await
}

async fn home_with(
    app: &App,
    base: &str,
    query: BinQuery,
    error: Option<String>,
    name: String,
) -> Result<Response<Body>, WebError> {
    let q = query.q.clone().unwrap_or_default();
    let by_created = query.order == BinOrder::Created;
    let later = query.after.is_some();
    let page = app.store.list_bins_page(query).await?;
    let bins = page.bins.iter().map(|b| BinView::new(b, base)).collect();
    let sort = if by_created { "created" } else { "" };
    let (first, next) = super::pager_links(&[("q", &q), ("sort", sort)], page.next);
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        status,
        &HomePage {
            bins,
            error,
            name,
            q,
            by_created,
            first,
            next,
            matched: page.matched,
            later,
        },
    )
}

/// The home page's first page of bins, shown again under a refused **New bin** form.
fn first_page() -> BinQuery {
    BinQuery {
        limit: HOME_PAGE_SIZE,
        ..BinQuery::default()
    }
}

/// The **New bin** form: an optional name, then straight to the new bin's page.
pub async fn create_bin(app: &App, req: Request<Incoming>) -> Result<Response<Body>, WebError> {
    let base = app.base_url(&req);
    let who = crate::web::client_ip(&req);
    let form = inspect::pairs(&read_small_body(req).await?);
    let name = crate::web::field(&form, "name").trim().to_owned();
    let parsed = match name.as_str() {
        "" => None,
        n => match crate::model::BinId::parse_name(n) {
            Ok(id) => Some(id),
            Err(e) => return home_with(app, &base, first_page(), Some(e), name).await,
        },
    };
    match app.create_bin(who, parsed).await {
        Ok(bin) => Ok(response::see_other(&format!("/bins/{}", bin.id))),
        Err(
            WebError::Conflict(msg)
            | WebError::Full(msg)
            | WebError::RateLimited { message: msg, .. },
        ) => home_with(app, &base, first_page(), Some(msg), name).await,
        Err(e) => Err(e),
    }
}

pub async fn clear_bin(app: &App, id: BinId) -> Result<Response<Body>, WebError> {
    app.store.clear_bin(&id).await?;
    Ok(response::see_other(&format!("/bins/{id}")))
}

pub async fn delete_bin(app: &App, id: BinId) -> Result<Response<Body>, WebError> {
    app.store.delete_bin(&id).await?;
    Ok(response::see_other("/"))
}

/// A CSS class for the method's colour; unknown methods share one.
pub(super) fn method_class(method: &str) -> String {
    match method {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" => format!("m-{}", method.to_ascii_lowercase()),
        _ => "m-other".to_owned(),
    }
}
