//! Pages for bins and captured requests.

use askama::Template;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::{human_size, render};
use crate::inspect;
use crate::model::{Bin, BinId, BinSettings, Capture};
use crate::store::Filter;
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{
    App, WebError, bin_settings, field, filter, filter_query, paging, read_small_body,
};

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
    /// The status hookbin answered with.
    pub status: u16,
}

impl RequestRow {
    pub(super) fn new(c: &Capture) -> RequestRow {
        RequestRow {
            id: c.id.to_string(),
            method: c.method.clone(),
            method_class: method_class(&c.method),
            target: c.target(),
            received_at: time::format(c.received_at),
            content_type: c.content_type().unwrap_or("").to_owned(),
            size: human_size(c.body_size),
            status: c.response_status,
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
        n => match crate::model::BinId::parse_name(n) {
            Ok(id) => Some(id),
            Err(e) => return home_with(app, &base, Some(e), name).await,
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
    filter: FilterView,
    form: SettingsForm,
    settings_error: Option<String>,
}

/// The filter as the form shows it, and the query string that carries it to links.
struct FilterView {
    active: bool,
    method: String,
    path: String,
    header: String,
    q: String,
    query: String,
}

impl FilterView {
    fn new(f: &Filter) -> FilterView {
        FilterView {
            active: !f.is_empty(),
            method: f.method.clone().unwrap_or_default(),
            path: f.path.clone().unwrap_or_default(),
            header: match &f.header {
                Some((n, Some(v))) => format!("{n}:{v}"),
                Some((n, None)) => n.clone(),
                None => String::new(),
            },
            q: f.text.clone().unwrap_or_default(),
            query: filter_query(f),
        }
    }
}

/// The values in the bin's settings forms: what is stored, or what was just typed in.
#[derive(Default)]
struct SettingsForm {
    custom: bool,
    status: String,
    headers: String,
    body: String,
    delay_ms: String,
    forward_url: String,
    secret: String,
}

impl SettingsForm {
    fn new(s: &BinSettings) -> SettingsForm {
        let r = s.response.as_ref();
        SettingsForm {
            custom: r.is_some(),
            status: r.map_or("200".into(), |r| r.status.to_string()),
            headers: r.map_or(String::new(), |r| {
                r.headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}\n"))
                    .collect()
            }),
            body: r.map_or(String::new(), |r| {
                String::from_utf8_lossy(&r.body).into_owned()
            }),
            delay_ms: r.map_or("0".into(), |r| r.delay_ms.to_string()),
            forward_url: s.forward_url.clone().unwrap_or_default(),
            secret: s.signing_secret.clone().unwrap_or_default(),
        }
    }
}

pub async fn bin(
    app: &App,
    req: &Request<Incoming>,
    id: BinId,
) -> Result<Response<Body>, WebError> {
    let form = SettingsForm::new(&app.store.bin_settings(&id));
    bin_with(app, req, id, form, None).await
}

async fn bin_with<B>(
    app: &App,
    req: &Request<B>,
    id: BinId,
    form: SettingsForm,
    settings_error: Option<String>,
) -> Result<Response<Body>, WebError> {
    let (limit, before) = paging(req, PAGE_SIZE, 500)?;
    let filter = filter(req);
    let bin = app.store.get_bin(&id).await?;
    let page = app
        .store
        .list_requests(&id, limit, before, Some(0), &filter)
        .await?;
    let view = BinView::new(&bin, &app.base_url(req));
    let curl = format!(
        "curl -X POST '{}/hello?source=curl' -H 'Content-Type: application/json' -d '{{\"hello\": \"hookbin\"}}'",
        view.url
    );
    let status = if settings_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        status,
        &BinPage {
            bin: view,
            requests: page.requests.iter().map(RequestRow::new).collect(),
            next: page.next.map(|n| n.to_string()),
            first_page: before.is_none(),
            curl,
            filter: FilterView::new(&filter),
            form,
            settings_error,
        },
    )
}

/// The settings forms: `what` is `response`, `forward` or `secret`; a form with
/// `action=reset` puts that setting back to the default. Errors show on the bin page.
pub async fn save_settings(
    app: &App,
    req: Request<Incoming>,
    id: BinId,
    what: &str,
) -> Result<Response<Body>, WebError> {
    let (parts, body) = req.into_parts();
    let form = inspect::pairs(&read_small_body(Request::from_parts(parts.clone(), body)).await?);
    let req = Request::from_parts(parts, ());
    let get = |name| field(&form, name).to_owned();
    let reset = get("action") == "reset";
    let mut settings = (*app.store.bin_settings(&id)).clone();
    let mut shown = SettingsForm::new(&settings);
    let result = match what {
        "response" => {
            shown.custom = true;
            shown.status = get("status");
            shown.headers = get("headers");
            shown.body = get("body");
            shown.delay_ms = get("delay_ms");
            if reset {
                settings.response = None;
                Ok(())
            } else {
                parse_response(&shown).map(|r| settings.response = Some(r))
            }
        }
        "forward" => {
            shown.forward_url = get("url");
            if reset {
                settings.forward_url = None;
                Ok(())
            } else {
                bin_settings::forward_url(&shown.forward_url, &id, app.local_addr.port())
                    .map(|u| settings.forward_url = Some(u))
            }
        }
        "secret" => {
            shown.secret = get("secret");
            if reset {
                settings.signing_secret = None;
                Ok(())
            } else {
                bin_settings::signing_secret(&shown.secret)
                    .map(|s| settings.signing_secret = Some(s))
            }
        }
        _ => return Err(WebError::NotFound(format!("no bin setting {what}"))),
    };
    if let Err(e) = result {
        return bin_with(app, &req, id, shown, Some(e.to_string())).await;
    }
    app.store.set_bin_settings(&id, settings).await?;
    // A form on a request page sends its own page back as `back`.
    let back = get("back");
    let local = back
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'#' | b'-' | b'_'));
    let to = if local && back.starts_with("/requests/") && !back.contains("//") {
        back
    } else {
        format!("/bins/{id}#settings")
    };
    Ok(response::see_other(&to))
}

fn parse_response(f: &SettingsForm) -> Result<crate::model::BinResponse, WebError> {
    let status = f.status.trim().parse().map_err(|_| {
        WebError::BadRequest(format!(
            "status must be a number from 200 to 599, not '{}'",
            f.status
        ))
    })?;
    let delay = match f.delay_ms.trim() {
        "" => 0,
        d => d.parse().map_err(|_| {
            WebError::BadRequest(format!("delay must be a number of milliseconds, not '{d}'"))
        })?,
    };
    bin_settings::response(
        status,
        bin_settings::header_lines(&f.headers)?,
        Bytes::from(f.body.clone()),
        delay,
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

/// A CSS class for the method's colour; unknown methods share one.
pub(super) fn method_class(method: &str) -> String {
    match method {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" => format!("m-{}", method.to_ascii_lowercase()),
        _ => "m-other".to_owned(),
    }
}
