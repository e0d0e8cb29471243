//! The HTTP face of hookbin: one route table dispatching to the capture endpoint, the JSON API,
//! the HTML pages, the live event stream and the static assets.
//!
//! Handlers translate between HTTP and plain data; they never write SQL (that is `store`'s job)
//! and never decide statuses ad hoc (that is [`error::WebError`]'s job).

mod api;
mod assets;
pub mod auth;
mod bin_settings;
mod error;
pub mod forwarded;
pub mod limits;
mod pages;
mod response;
mod sse;
mod verify;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;

use crate::capture::{Capturer, Feed};
use crate::config::Config;
use crate::model::{BinId, DeliveryId, RequestId, WebhookId};
use crate::relay::Relayer;
use crate::sender::Sender;
use crate::store::{Filter, Store};

pub use error::WebError;
pub use response::Body;

/// Largest body accepted by the API and the forms (captures have their own, larger limit).
const FORM_LIMIT: usize = 64 * 1024;
/// Time a form or API body gets to arrive; at most 64 KiB, so this is generous.
const FORM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Everything a handler may need, shared by all connections.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub capturer: Capturer,
    /// Replays captures by hand (the capturer holds a clone for forwarding).
    pub relayer: Relayer,
    pub sender: Sender,
    pub feed: Feed,
    /// The address the server is bound to, for bin URLs when a request names no Host.
    pub local_addr: SocketAddr,
    /// Flips to true when the server begins to shut down, ending live streams.
    pub shutdown: watch::Receiver<bool>,
    /// Per-client rate limits on captures and new bins.
    pub limits: limits::RateLimits,
    /// The ACME HTTP-01 answers pending, served at `/.well-known/acme-challenge/{token}`.
    pub challenges: crate::server::acme::Challenges,
}

/// On the plain-HTTP listener beside HTTPS (`on_plain`), the redirect to the same place over
/// https: for everything but captures, and for captures too with `--redirect-bins` (some
/// senders do not follow redirects, so bins stay reachable over plain HTTP by default).
pub fn to_https<B>(app: &App, req: &Request<B>, on_plain: bool) -> Option<Response<Body>> {
    let path = req.uri().path();
    let stays = path.starts_with("/.well-known/acme-challenge/")
        || (path.starts_with("/b/") && !app.config.redirect_bins);
    if !on_plain || stays {
        return None;
    }
    let host = auth::authority(req)
        .and_then(|a| a.parse::<hyper::http::uri::Authority>().ok())
        .map_or_else(|| app.local_addr.ip().to_string(), |a| a.host().to_owned());
    let port = match app.local_addr.port() {
        443 => String::new(),
        p => format!(":{p}"),
    };
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    Some(response::redirect(
        StatusCode::PERMANENT_REDIRECT,
        &format!("https://{host}{port}{target}"),
    ))
}

/// The address of the client a request came from (as a trusted proxy saw it, when behind one).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub std::net::IpAddr);

/// The client of `req`, taken before its body is read.
fn client_ip<B>(req: &Request<B>) -> Option<ClientIp> {
    req.extensions().get::<ClientIp>().copied()
}

impl App {
    /// The base (`http://host:port`, `https://` when serving TLS) for absolute URLs in
    /// answers to `req`.
    fn base_url<B>(&self, req: &Request<B>) -> String {
        if let Some(url) = &self.config.public_url {
            return url.clone();
        }
        let host = auth::authority(req)
            .map(str::to_owned)
            .unwrap_or_else(|| self.local_addr.to_string());
        format!("{}://{host}", self.scheme(req))
    }

    /// Creates a bin for client `who` (see [`client_ip`]), within its rate limit and the bin
    /// cap.
    async fn create_bin(
        &self,
        who: Option<ClientIp>,
        name: Option<BinId>,
    ) -> Result<crate::model::Bin, WebError> {
        if let Some(ClientIp(ip)) = who {
            self.limits.new_bin(ip)?;
        }
        Ok(self.store.create_bin(name, self.config.max_bins).await?)
    }

    /// The scheme `req` reached hookbin with: what a trusted proxy says, else hookbin's own.
    pub(crate) fn scheme<B>(&self, req: &Request<B>) -> &'static str {
        match req.extensions().get::<forwarded::Forwarded>() {
            Some(forwarded::Forwarded { proto: Some(p), .. }) => p,
            _ if self.config.tls.is_some() => "https",
            _ => "http",
        }
    }
}

/// Answers one request; never fails (errors become error responses).
pub async fn handle(
    app: Arc<App>,
    mut req: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Body> {
    // Behind a trusted proxy, the client, scheme and host are the ones the proxy saw.
    let via = forwarded::resolve(&app.config.trusted_proxies, remote, req.headers());
    let client = via
        .as_ref()
        .map_or_else(|| remote.to_string(), |f| f.client.clone());
    let ip = via.as_ref().map_or(remote.ip(), |f| f.ip);
    req.extensions_mut().insert(ClientIp(ip));
    if let Some(f) = via {
        req.extensions_mut().insert(f);
    }
    // Captures are the hot path and answer JSON only: they skip the page machinery.
    if let Some(rest) = req.uri().path().strip_prefix("/b/") {
        let bin = rest.split('/').next().unwrap_or_default().to_owned();
        let allowed = app.limits.capture(ip);
        let captured = match allowed {
            Ok(()) => capture(&app, &bin, req, client).await,
            Err(e) => Err(e),
        };
        let mut resp = match captured {
            Ok(r) => r,
            Err(e) => e.respond(true),
        };
        app.store.metrics().capture(resp.status().as_u16());
        response::nosniff(&mut resp);
        return resp;
    }
    let path = req.uri().path().to_owned();
    // The CA checks domain control here, without a token, over plain HTTP too.
    if let Some(token) = path.strip_prefix("/.well-known/acme-challenge/") {
        return match app.challenges.answer(token) {
            Some(answer) => response::with_type(
                StatusCode::OK,
                "application/octet-stream",
                response::full(answer),
            ),
            None => WebError::NotFound("no such ACME challenge".into()).respond(true),
        };
    }
    // Machine clients: answered in JSON (a 401, not a sign-in page, without the token).
    let api = path.starts_with("/api/") || path == "/metrics";
    let open = path.starts_with("/assets/") || path == "/login";
    if !open && let Err(denied) = auth::check(&app, &req) {
        let mut resp = match denied {
            auth::Denied::SignIn if api => {
                WebError::Unauthorized("sign in: send Authorization: Bearer <token>".into())
                    .respond(true)
            }
            auth::Denied::SignIn => auth::to_login(&req),
            auth::Denied::Refused(e) => e.respond(api),
        };
        response::secure(&mut resp);
        return resp;
    }
    let mut resp = match route(&app, req, &path).await {
        Ok(r) => r,
        Err(e) => e.respond(api),
    };
    response::secure(&mut resp);
    resp
}

async fn capture(
    app: &App,
    bin: &str,
    req: Request<Incoming>,
    remote: String,
) -> Result<Response<Body>, WebError> {
    let captured = app.capturer.capture(bin_id(bin)?, req, remote).await?;
    let Some(custom) = &captured.settings.response else {
        let answer = format!(r#"{{"ok":true,"request_id":"{}"}}"#, captured.id);
        return Ok(response::with_type(
            StatusCode::OK,
            "application/json",
            response::full(answer),
        ));
    };
    if custom.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(custom.delay_ms)).await;
    }
    Ok(response::custom(custom))
}

async fn route(
    app: &Arc<App>,
    req: Request<Incoming>,
    path: &str,
) -> Result<Response<Body>, WebError> {
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let method = req.method().clone();
    let get = method == Method::GET || method == Method::HEAD;
    match (segs.as_slice(), &method) {
        ([""], _) if get => pages::home(app, &req).await,
        (["bins"], &Method::POST) => pages::create_bin(app, req).await,
        (["bins", bin], _) if get => pages::bin(app, &req, bin_id(bin)?).await,
        (["bins", bin, "events"], _) if get => sse::stream(app, bin_id(bin)?),
        (["bins", bin, "compare"], _) if get => pages::compare(app, &req, bin_id(bin)?).await,
        (["bins", bin, "settings"], _) if get => {
            pages::bin_settings_page(app, &req, bin_id(bin)?).await
        }
        (["bins", bin, "clear"], &Method::POST) => pages::clear_bin(app, bin_id(bin)?).await,
        (["bins", bin, "delete"], &Method::POST) => pages::delete_bin(app, bin_id(bin)?).await,
        (["bins", bin, "har"], _) if get => api::har(app, &req, bin_id(bin)?).await,
        (["bins", bin, what @ ("response" | "forward" | "secret")], &Method::POST) => {
            pages::save_settings(app, req, bin_id(bin)?, what).await
        }
        (["requests", id], _) if get => pages::request(app, &req, request_id(id)?).await,
        (["requests", id, "pane"], _) if get => {
            pages::request_pane(app, &req, request_id(id)?).await
        }
        (["requests", id, "replay"], &Method::POST) => {
            pages::replay(app, req, request_id(id)?).await
        }
        (["requests", id, "delete"], &Method::POST) => {
            pages::delete_request(app, request_id(id)?).await
        }
        (["assets", name], _) if get => assets::serve(name),
        (["favicon.ico"], _) if get => assets::serve("favicon.svg"),
        (["metrics"], _) if get => metrics(app).await,
        (["login"], _) if get => auth::login_form(&req),
        (["login"], &Method::POST) => auth::login(app, req).await,
        (["events"], _) if get => pages::events(app, &req).await,
        (["events", slug, "sample"], &Method::POST) => pages::send_sample(app, req, slug).await,
        (["webhooks"], _) if get => pages::webhooks(app, &req).await,
        (["webhooks"], &Method::POST) => pages::save_webhook(app, req, None).await,
        (["webhooks", "new"], _) if get => pages::new_webhook(app, &req).await,
        (["webhooks", id], _) if get => pages::webhook(app, &req, &webhook_id(id)?).await,
        (["webhooks", id, "edit"], _) if get => pages::edit_webhook(app, &webhook_id(id)?).await,
        (["webhooks", id, "edit"], &Method::POST) => {
            pages::save_webhook(app, req, Some(&webhook_id(id)?)).await
        }
        (["webhooks", id, "test"], &Method::POST) => {
            pages::test_webhook(app, req, &webhook_id(id)?).await
        }
        (["webhooks", id, "active"], &Method::POST) => {
            pages::set_active(app, req, &webhook_id(id)?).await
        }
        (["webhooks", id, "rotate"], &Method::POST) => {
            pages::rotate_secret(app, &webhook_id(id)?).await
        }
        (["webhooks", id, "delete"], &Method::POST) => {
            pages::delete_webhook(app, &webhook_id(id)?).await
        }
        (["deliveries", id], _) if get => pages::delivery(app, &delivery_id(id)?).await,
        (["deliveries", id, "redeliver"], &Method::POST) => {
            pages::redeliver(app, req, &delivery_id(id)?).await
        }
        (["api", "bins"], &Method::POST) => api::create_bin(app, req).await,
        (["api", "bins"], _) if get => api::list_bins(app, &req).await,
        (["api", "bins", bin], _) if get => api::get_bin(app, &req, bin_id(bin)?).await,
        (["api", "bins", bin], &Method::DELETE) => api::delete_bin(app, bin_id(bin)?).await,
        (["api", "bins", bin], &Method::PATCH) => api::patch_bin(app, req, bin_id(bin)?).await,
        (["api", "bins", bin, "har"], _) if get => api::har(app, &req, bin_id(bin)?).await,
        (["api", "bins", bin, "requests"], _) if get => {
            api::list_requests(app, &req, bin_id(bin)?).await
        }
        (["api", "bins", bin, "wait"], _) if get => api::wait(app, &req, bin_id(bin)?).await,
        (["api", "bins", bin, "requests"], &Method::DELETE) => {
            api::clear_bin(app, bin_id(bin)?).await
        }
        (["api", "requests", id], _) if get => api::get_request(app, &req, request_id(id)?).await,
        (["api", "requests", id], &Method::DELETE) => {
            api::delete_request(app, request_id(id)?).await
        }
        (["api", "requests", id, "raw"], _) if get => api::raw(app, request_id(id)?).await,
        (["api", "requests", id, "curl"], _) if get => api::curl(app, &req, request_id(id)?).await,
        (["api", "requests", id, "replay"], &Method::POST) => {
            api::replay(app, req, request_id(id)?).await
        }
        (["api", "requests", id, "relays"], _) if get => api::relays(app, request_id(id)?).await,
        (["api", "requests", id, "relays"], &Method::POST) => {
            api::report_relay(app, req, request_id(id)?).await
        }
        (["api", "requests", id, "verify"], &Method::POST) => {
            api::verify(app, req, request_id(id)?).await
        }
        (["api", "events"], _) if get => api::list_events(app).await,
        (["api", "events", slug], &Method::POST) => api::fire_event(app, req, slug).await,
        (["api", "webhooks"], &Method::POST) => api::create_webhook(app, req).await,
        (["api", "webhooks"], _) if get => api::list_webhooks(app).await,
        (["api", "webhooks", id], _) if get => api::get_webhook(app, &webhook_id(id)?).await,
        (["api", "webhooks", id], &Method::PATCH) => {
            api::patch_webhook(app, req, &webhook_id(id)?).await
        }
        (["api", "webhooks", id], &Method::DELETE) => {
            api::delete_webhook(app, &webhook_id(id)?).await
        }
        (["api", "webhooks", id, "test"], &Method::POST) => {
            api::test_webhook(app, &webhook_id(id)?).await
        }
        (["api", "webhooks", id, "rotate-secret"], &Method::POST) => {
            api::rotate_secret(app, &webhook_id(id)?).await
        }
        (["api", "webhooks", id, "deliveries"], _) if get => {
            api::list_deliveries(app, &req, &webhook_id(id)?).await
        }
        (["api", "deliveries", id], _) if get => api::get_delivery(app, &delivery_id(id)?).await,
        (["api", "deliveries", id, "redeliver"], &Method::POST) => {
            api::redeliver(app, &delivery_id(id)?).await
        }
        _ => Err(WebError::NotFound(format!("no route for {method} {path}"))),
    }
}

/// `GET /metrics`: the Prometheus text format (see [`crate::metrics`]).
async fn metrics(app: &App) -> Result<Response<Body>, WebError> {
    let states = app.store.delivery_states().await?;
    let text = app.store.metrics().render(
        &states,
        app.feed.receiver_count(),
        app.store.database_bytes(),
    );
    Ok(response::with_type(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        response::full(text),
    ))
}

fn bin_id(s: &str) -> Result<BinId, WebError> {
    BinId::parse(s).ok_or_else(|| WebError::NotFound(format!("no bin with id {s}")))
}

/// A webhook id from a URL; one that cannot be an id is as unknown as a missing one.
fn webhook_id(s: &str) -> Result<WebhookId, WebError> {
    WebhookId::parse(s).ok_or_else(|| WebError::NotFound(format!("webhook {s} not found")))
}

/// A delivery id from a URL, like [`webhook_id`].
fn delivery_id(s: &str) -> Result<DeliveryId, WebError> {
    DeliveryId::parse(s).ok_or_else(|| WebError::NotFound(format!("delivery {s} not found")))
}

fn request_id(s: &str) -> Result<RequestId, WebError> {
    RequestId::parse(s).ok_or_else(|| WebError::NotFound(format!("no request with id {s}")))
}

/// Reads a small request body (form or JSON), refusing anything over [`FORM_LIMIT`] or slower
/// than [`FORM_TIMEOUT`].
async fn read_small_body(req: Request<Incoming>) -> Result<Bytes, WebError> {
    Ok(crate::capture::body::read(req.into_body(), FORM_LIMIT as u64, FORM_TIMEOUT).await?)
}

/// The decoded `key=value` pairs of the request's query string.
fn query_pairs<B>(req: &Request<B>) -> Vec<(String, String)> {
    crate::inspect::pairs(req.uri().query().unwrap_or("").as_bytes())
}

/// The `limit` query parameter (default `default`, 1 to `max`).
fn limit<B>(req: &Request<B>, default: usize, max: usize) -> Result<usize, WebError> {
    match query_pairs(req).into_iter().find(|(k, _)| k == "limit") {
        Some((_, v)) => parse_limit(&v, max),
        None => Ok(default),
    }
}

fn parse_limit(v: &str, max: usize) -> Result<usize, WebError> {
    v.parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            WebError::BadRequest(format!("limit must be a number from 1 to {max}, not '{v}'"))
        })
}

/// The value of field `name` in decoded form pairs, or "" when absent.
fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// `back` as a redirect target if it is a place on this hookbin's own pages (a bin or a
/// request), else `None`: forms send their page back, and nothing else may be sent there.
fn local_back(back: &str) -> Option<&str> {
    let safe = back.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'/' | b'#' | b'-' | b'_' | b'?' | b'=' | b'&')
    });
    let place = back.starts_with("/requests/") || back.starts_with("/bins/");
    (safe && place && !back.contains("//")).then_some(back)
}

/// Parses the `limit` and `before` paging parameters shared by the page and the API.
fn paging<B>(
    req: &Request<B>,
    default: usize,
    max: usize,
) -> Result<(usize, Option<RequestId>), WebError> {
    let mut limit = default;
    let mut before = None;
    for (k, v) in query_pairs(req) {
        match k.as_str() {
            "limit" => limit = parse_limit(&v, max)?,
            "before" if !v.is_empty() => {
                before = Some(RequestId::parse(&v).ok_or_else(|| {
                    WebError::BadRequest(format!("before must be a request id, not '{v}'"))
                })?)
            }
            _ => {}
        }
    }
    Ok((limit, before))
}

/// Reads the request-list filters `method`, `path`, `header` (`name` or `name:value`) and `q`
/// (body text) shared by the bin page, the list API and the HAR export; empty ones are ignored.
fn filter<B>(req: &Request<B>) -> Filter {
    let mut f = Filter::default();
    for (k, v) in query_pairs(req) {
        let v = v.trim().to_owned();
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "method" => f.method = Some(v),
            "path" => f.path = Some(v),
            "header" => {
                f.header = Some(match v.split_once(':') {
                    Some((n, val)) if !val.trim().is_empty() => {
                        (n.trim().to_owned(), Some(val.trim().to_owned()))
                    }
                    Some((n, _)) => (n.trim().to_owned(), None),
                    None => (v, None),
                })
            }
            "q" => f.text = Some(v),
            _ => {}
        }
    }
    f
}

/// The query string that reproduces `f` (for pager and export links), starting with `&` when
/// not empty.
fn filter_query(f: &Filter) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(m) = &f.method {
        q.append_pair("method", m);
    }
    if let Some(p) = &f.path {
        q.append_pair("path", p);
    }
    if let Some((n, v)) = &f.header {
        match v {
            Some(v) => q.append_pair("header", &format!("{n}:{v}")),
            None => q.append_pair("header", n),
        };
    }
    if let Some(t) = &f.text {
        q.append_pair("q", t);
    }
    let q = q.finish();
    if q.is_empty() { q } else { format!("&{q}") }
}
