//! The stylesheet, script and icon, compiled into the binary so hookbin works offline.

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::error::WebError;
use super::response::{self, Body};

const STYLE: &str = include_str!("../../assets/style.css");
const SCRIPT: &str = include_str!("../../assets/app.js");
const ICON: &str = include_str!("../../assets/favicon.svg");

/// Serves `/assets/{name}`.
pub fn serve(name: &str) -> Result<Response<Body>, WebError> {
    let (content_type, text) = match name {
        "style.css" => ("text/css; charset=utf-8", STYLE),
        "app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "favicon.svg" => ("image/svg+xml", ICON),
        _ => return Err(WebError::NotFound(format!("no asset {name}"))),
    };
    let mut r = response::with_type(StatusCode::OK, content_type, response::full(text));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(r)
}
