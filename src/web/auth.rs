//! Who may use the admin side (pages and API) and from where. Captures on `/b/…` are open to
//! anyone by design and never pass through here.
//!
//! Three guards, in order:
//! - **Cross-site requests** that change state are refused (a page elsewhere cannot post to
//!   hookbin's forms or API through the user's browser): `Sec-Fetch-Site` must be same-origin or
//!   absent, and an `Origin`, when sent, must be this host.
//! - **DNS rebinding**: a hookbin on loopback without a token answers only to loopback host
//!   names, so a foreign domain resolved to 127.0.0.1 cannot read it.
//! - **The access token**, when one is set (always when listening beyond loopback): the API
//!   takes `Authorization: Bearer`, a browser signs in once through `/login`, which sets an
//!   HttpOnly, SameSite=Strict cookie (also Secure when hookbin is reached over https). The
//!   cookie holds a value derived from the token, not the token, so a leaked cookie does not
//!   give away the token that the API and the CLI take.
//!
//! The host a request is judged by is the authority it actually carries: the request target's
//! (absolute-form, or HTTP/2's `:authority`) before `Host`, as RFC 9112 says; a request naming
//! none is not taken for a local one.

use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use sha2::Sha256;

use super::response::{self, Body};
use super::{App, WebError, read_small_body};
use crate::inspect;

const COOKIE: &str = "hookbin_token";

/// Why a request was not let in.
pub enum Denied {
    /// Not signed in: API clients get 401, browsers are sent to the sign-in form.
    SignIn,
    Refused(WebError),
}

/// Decides whether `req` may reach the admin side.
pub fn check<B>(app: &App, req: &Request<B>) -> Result<(), Denied> {
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state && cross_site(req) {
        return Err(Denied::Refused(WebError::Forbidden(
            "cross-site request refused: use hookbin's own pages or a client without an Origin"
                .into(),
        )));
    }
    let Some(token) = &app.config.token else {
        if app.local_addr.ip().is_loopback()
            && app.config.public_url.is_none()
            && !loopback_host(req)
        {
            return Err(Denied::Refused(WebError::Forbidden(
                "this hookbin answers only to localhost names (a foreign host name pointing here is refused)".into(),
            )));
        }
        return Ok(());
    };
    let ok = match presented(req) {
        Some(Presented::Bearer(t)) => same(t.as_bytes(), token.as_bytes()),
        Some(Presented::Cookie(c)) => same(c.as_bytes(), cookie_value(token).as_bytes()),
        None => false,
    };
    if ok { Ok(()) } else { Err(Denied::SignIn) }
}

/// The authority (`host[:port]`) a request is addressed to: the host a trusted proxy says the
/// client asked for, else the target's own (absolute-form, or HTTP/2's `:authority`) before the
/// `Host` header, as RFC 9112 §3.2.2 says; `None` when it names none.
pub fn authority<B>(req: &Request<B>) -> Option<&str> {
    if let Some(host) = req
        .extensions()
        .get::<super::forwarded::Forwarded>()
        .and_then(|f| f.host.as_deref())
    {
        return Some(host);
    }
    if let Some(a) = req.uri().authority() {
        return Some(a.as_str());
    }
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| h.parse::<hyper::http::uri::Authority>().is_ok())
}

/// What the sign-in cookie holds for `token`: an HMAC of a fixed label under the token, so the
/// cookie proves the token was typed without being it.
fn cookie_value(token: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    m.update(b"hookbin sign-in cookie v1");
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

fn cross_site<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match (
        h.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        authority(req),
    ) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            origin_host != host
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

fn loopback_host<B>(req: &Request<B>) -> bool {
    let Some(host) = authority(req) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What a request presents to prove it may enter.
enum Presented<'a> {
    /// The token itself, from `Authorization: Bearer`.
    Bearer(&'a str),
    /// The sign-in cookie's value.
    Cookie(&'a str),
}

/// The credential a request carries, from `Authorization: Bearer` or the sign-in cookie.
fn presented<B>(req: &Request<B>) -> Option<Presented<'_>> {
    let h = req.headers();
    if let Some(bearer) = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(Presented::Bearer(bearer.trim()));
    }
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .map(Presented::Cookie)
}

/// Compares without stopping at the first difference, so timing does not reveal the token; an
/// empty value never matches anything.
fn same(a: &[u8], b: &[u8]) -> bool {
    !a.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    next: &'a str,
    error: Option<&'a str>,
}

/// Where to go after signing in: a local path only, never another site, and only printable
/// ASCII, which is all a `Location` header can carry (anything else would leave the redirect
/// without one).
fn local_path(next: &str) -> &str {
    if next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        next
    } else {
        "/"
    }
}

fn login_page(
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response<Body>, WebError> {
    let page = LoginPage {
        next: local_path(next),
        error,
    };
    page.render()
        .map(|html| response::html(status, html))
        .map_err(|e| WebError::Internal(format!("template: {e}")))
}

/// Sends a browser to the sign-in form, remembering where it was going.
pub fn to_login<B>(req: &Request<B>) -> Response<Body> {
    let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    response::see_other(&format!("/login?next={next}"))
}

pub fn login_form<B>(req: &Request<B>) -> Result<Response<Body>, WebError> {
    let next = super::query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v);
    login_page(next.as_deref().unwrap_or("/"), None, StatusCode::OK)
}

/// Checks the token typed into the form and sets the cookie.
pub async fn login(app: &App, req: Request<Incoming>) -> Result<Response<Body>, WebError> {
    let https = app.scheme(&req) == "https";
    let form = inspect::pairs(&read_small_body(req).await?);
    let field = |k: &str| super::field(&form, k);
    let next = local_path(field("next")).to_owned();
    let Some(token) = &app.config.token else {
        return Ok(response::see_other(&next));
    };
    if !same(field("token").trim().as_bytes(), token.as_bytes()) {
        return login_page(
            &next,
            Some("That token is not right."),
            StatusCode::UNAUTHORIZED,
        );
    }
    let mut r = response::see_other(&next);
    let secure = https
        || app
            .config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{}",
        cookie_value(token),
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path("/bins/x?y=1"), "/bins/x?y=1");
        assert_eq!(local_path("//evil.example"), "/");
        assert_eq!(local_path("https://evil.example"), "/");
        assert_eq!(local_path("/\\\\evil"), "/");
        assert_eq!(local_path("/bins\r\nSet-Cookie: x=1"), "/");
        assert_eq!(local_path("/bins/caf\u{e9}"), "/");
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b""), "an empty value must never match");
        assert_ne!(crate::config::new_token(), crate::config::new_token());
    }
}
