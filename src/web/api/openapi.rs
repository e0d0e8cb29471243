//! The OpenAPI 3.1 document of the JSON API (`GET /api/openapi.json`). It is written by hand in
//! `openapi.json` beside this file, kept true by the integration tests (which validate every
//! JSON answer they receive against it) and by Schemathesis in CI; the server only fills in
//! what belongs to this instance: its version, its URL and whether it wants a token.

use std::sync::LazyLock;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::web::response::{self, Body};
use crate::web::{App, WebError};

/// The document as written, parsed once.
pub static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("openapi.json")).expect("openapi.json is JSON")
});

/// The document for a server reached at `base`: its version, `servers` and, when a token is
/// set, the bearer scheme required on every operation but captures.
pub fn document(base: &str, token: bool) -> Value {
    let mut doc = DOCUMENT.clone();
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    doc["servers"] = json!([{ "url": base }]);
    doc["security"] = if token {
        json!([{ "token": [] }])
    } else {
        json!([])
    };
    doc
}

/// `GET /api/openapi.json`.
pub async fn openapi(app: &App, req: &Request<Incoming>) -> Result<Response<Body>, WebError> {
    let doc = document(&app.base_url(req), app.config.token.is_some());
    Ok(response::json(StatusCode::OK, &doc))
}

/// The document's path template for a requested path and its path item: `/b/{bin}` for a
/// capture on any sub-path, else the template whose segments fit `path`'s.
pub fn path_item(path: &str) -> Option<(&'static str, &'static Value)> {
    let paths = DOCUMENT["paths"].as_object()?;
    let capture = path
        .strip_prefix("/b/")
        .is_some_and(|rest| !rest.is_empty());
    paths
        .iter()
        .find(|(template, _)| {
            if capture {
                *template == "/b/{bin}"
            } else {
                matches(template, path)
            }
        })
        .map(|(t, item)| (t.as_str(), item))
}

/// The methods the document gives an `/api/` path, as an `Allow` header value (`HEAD` along
/// with `GET`), or `None` when no documented API path fits it.
pub fn allowed_methods(path: &str) -> Option<String> {
    if !path.starts_with("/api/") {
        return None;
    }
    let (_, item) = path_item(path)?;
    let mut methods = Vec::new();
    for m in item.as_object()?.keys().filter(|k| *k != "parameters") {
        let m = m.to_uppercase();
        if m == "GET" {
            methods.push("HEAD".to_owned());
        }
        methods.push(m);
    }
    methods.sort();
    Some(methods.join(", "))
}

/// Whether `path` fits a path template such as `/api/bins/{bin}/requests`.
fn matches(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') => {
                if ps.is_empty() {
                    return false;
                }
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}
