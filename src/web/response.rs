//! Building responses: the body type, JSON / HTML / redirect helpers, and the security headers
//! every response carries.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

/// The body of every response hookbin sends.
pub type Body = BoxBody<Bytes, Infallible>;

/// Pages may load only our own script, styles and images; nothing inline, nothing external.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Captured bytes served back as-is are sandboxed: no script runs even if they are HTML.
pub const RAW_CSP: &str = "sandbox; default-src 'none'";

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// `status` with `value` serialized as the JSON body.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    json_sized(status, value, 128)
}

/// Like [`json`], for a large answer whose size is roughly known: the buffer is made once at
/// `capacity` instead of doubling its way there.
pub fn json_sized(
    status: StatusCode,
    value: &impl serde::Serialize,
    capacity: usize,
) -> Response<Body> {
    let mut body = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut body, value).expect("serializing plain data cannot fail");
    with_type(status, "application/json", full(body))
}

/// An HTML page.
pub fn html(status: StatusCode, page: String) -> Response<Body> {
    with_type(status, "text/html; charset=utf-8", full(page))
}

/// 204 No Content.
pub fn no_content() -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// 303 See Other, the answer to a form POST.
pub fn see_other(location: &str) -> Response<Body> {
    redirect(StatusCode::SEE_OTHER, location)
}

/// A redirect with `status` to `location`.
pub fn redirect(status: StatusCode, location: &str) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A response with a status, a Content-Type and a body.
pub fn with_type(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let ct = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    r.headers_mut().insert(header::CONTENT_TYPE, ct);
    r
}

/// Tells browsers never to guess a content type (all a JSON answer needs).
pub fn nosniff(r: &mut Response<Body>) {
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// Adds the headers that keep captured content inert in a browser, unless a handler set its own.
pub fn secure(r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(PAGE_CSP));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// A bin's custom answer: its status, its headers in order, its body; always sandboxed, since
/// a browser may open a capture URL and the body must not act on hookbin's origin.
pub fn custom(c: &crate::model::BinResponse) -> Response<Body> {
    let mut r = Response::new(full(c.body.clone()));
    *r.status_mut() = StatusCode::from_u16(c.status).unwrap_or(StatusCode::OK);
    let h = r.headers_mut();
    for (name, value) in &c.headers {
        // Names and values were checked when the response was set.
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.append(n, v);
        }
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(RAW_CSP),
    );
    r
}
