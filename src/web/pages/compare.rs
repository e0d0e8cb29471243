//! Two requests side by side: what differs in their request lines, headers and bodies. The
//! answer to "the test event worked but the real one did not".

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::bins::RequestRow;
use super::render;
use crate::inspect::diff::{self, Change, DiffLine, Row};
use crate::inspect::{self, BodyView};
use crate::model::{BinId, Capture, RequestId};
use crate::web::response::Body;
use crate::web::{App, WebError, query_pairs};

/// How the bodies compare.
enum BodyDiff {
    /// Both bodies are byte for byte the same.
    Identical,
    /// Both are JSON: the paths that differ.
    Json(Vec<Row>),
    /// Both are text: a line-by-line comparison.
    Lines(Vec<DiffLine>),
    /// At least one is binary, or cut short: only sizes and equality are told.
    Opaque,
}

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    bin_id: String,
    left: RequestRow,
    right: RequestRow,
    line: Vec<Row>,
    headers: Vec<Row>,
    /// How many headers are the same on both sides.
    same_headers: usize,
    body: BodyDiff,
    left_body: String,
    right_body: String,
}

pub async fn compare(
    app: &App,
    req: &Request<Incoming>,
    bin: BinId,
) -> Result<Response<Body>, WebError> {
    let mut ids: Vec<RequestId> = Vec::new();
    for (k, v) in query_pairs(req) {
        if matches!(k.as_str(), "ids" | "a" | "b") && !v.is_empty() {
            ids.push(
                RequestId::parse(&v)
                    .ok_or_else(|| WebError::BadRequest(format!("'{v}' is not a request id")))?,
            );
        }
    }
    ids.dedup();
    if ids.len() != 2 {
        return Err(WebError::BadRequest(format!(
            "tick exactly two requests to compare ({} given)",
            ids.len()
        )));
    }
    // Older on the left, newer on the right.
    ids.sort_by_key(|id| id.seq());
    let mut loaded = Vec::new();
    for id in &ids {
        let c = app
            .store
            .get_request(*id, Some(inspect::INLINE_LIMIT))
            .await?;
        if c.bin_id != bin {
            return Err(WebError::NotFound(format!("no request {id} in bin {bin}")));
        }
        loaded.push(c);
    }
    let (a, b) = (&loaded[0], &loaded[1]);
    let line = vec![
        Row::new("method", Some(a.method.clone()), Some(b.method.clone())),
        Row::new("path", Some(a.path.clone()), Some(b.path.clone())),
        Row::new("query", Some(a.query.clone()), Some(b.query.clone())),
        Row::new(
            "answered",
            Some(a.response_status.to_string()),
            Some(b.response_status.to_string()),
        ),
    ];
    let headers = diff::headers(&a.text_headers(), &b.text_headers());
    let same_headers = headers
        .iter()
        .filter(|r| r.change == diff::Change::Same)
        .count();
    let page = ComparePage {
        bin_id: bin.to_string(),
        left: RequestRow::new(a),
        right: RequestRow::new(b),
        line,
        headers,
        same_headers,
        body: body_diff(a, b),
        left_body: shown_body(a),
        right_body: shown_body(b),
    };
    render(StatusCode::OK, &page)
}

fn whole(c: &Capture) -> bool {
    c.body.len() as u64 == c.body_size
}

fn body_diff(a: &Capture, b: &Capture) -> BodyDiff {
    if whole(a) && whole(b) && a.body == b.body {
        return BodyDiff::Identical;
    }
    let json = |c: &Capture| {
        whole(c)
            .then(|| serde_json::from_slice::<serde_json::Value>(&c.body).ok())
            .flatten()
    };
    if let (Some(ja), Some(jb)) = (json(a), json(b)) {
        return BodyDiff::Json(diff::json(&ja, &jb));
    }
    match (std::str::from_utf8(&a.body), std::str::from_utf8(&b.body)) {
        (Ok(ta), Ok(tb)) if whole(a) && whole(b) => BodyDiff::Lines(diff::lines(ta, tb)),
        _ => BodyDiff::Opaque,
    }
}

/// The body as the request page would show it, for the side-by-side view.
fn shown_body(c: &Capture) -> String {
    match inspect::view(c.content_type(), &c.body, whole(c)) {
        BodyView::Empty => String::new(),
        BodyView::Json(t) | BodyView::Xml(t) | BodyView::Text(t) => t,
        BodyView::Binary(lines) => lines.join("\n"),
        _ => String::from_utf8_lossy(&c.body).into_owned(),
    }
}
