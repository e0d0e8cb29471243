//! The HTTP face of hookbin: [`handle`] takes captures on `/b/` straight to the capturer and
//! everything else, past the access checks, to the route table (`routes`), which dispatches to
//! the JSON API, the HTML pages, the live event stream, the metrics and the static assets;
//! `params` reads what handlers need from requests.
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
mod params;
mod response;
mod routes;
mod sse;
mod verify;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::watch;

use crate::capture::{Capturer, Feed};
use crate::config::Config;
use crate::model::BinId;
use crate::relay::Relayer;
use crate::sender::Sender;
use crate::store::Store;

pub use api::openapi;
pub use error::WebError;
use params::{
    bin_query, field, filter, filter_query, limit, local_back, paging, parse_limit, query_pairs,
    read_filter, read_form, read_small_body,
};
pub use response::Body;

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
    let mut resp = match routes::route(&app, req, &path).await {
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
    let captured = app
        .capturer
        .capture(routes::bin_id(bin)?, req, remote)
        .await?;
    if let Some(answer) = captured.rule_answer {
        if answer.hang {
            // Held until the sender gives up, or until hookbin's own bound.
            tokio::time::sleep(std::time::Duration::from_millis(crate::rules::MAX_HANG_MS)).await;
            let error = format!(
                "rule {:?} never answers; hookbin let go after {} s",
                answer.rule,
                crate::rules::MAX_HANG_MS / 1000
            );
            return Ok(response::with_type(
                StatusCode::GATEWAY_TIMEOUT,
                "application/json",
                response::full(serde_json::json!({ "error": error }).to_string()),
            ));
        }
        if answer.response.delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(answer.response.delay_ms)).await;
        }
        return Ok(response::custom(&answer.response));
    }
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
