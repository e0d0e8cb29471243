//! The bin page: a two-pane inspector. The left pane lists the bin's requests, newest first
//! (filters and paging as in the API); the right pane shows one request in full: the one named
//! by `?r=`, else the newest listed. Both panes are rendered here, so the page works without
//! JavaScript; the script only swaps the right pane and adds rows as requests arrive.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::bins::{BinView, RequestRow};
use super::form::FieldErrors;
use super::render;
use super::requests::{RequestDetail, render_detail, signature_views, verdict};
use crate::model::{BinId, RequestId};
use crate::store::{Filter, Page};
use crate::web::response::Body;
use crate::web::{App, WebError, filter_query, paging, query_pairs, read_filter, verify};

/// Requests listed per bin page.
const PAGE_SIZE: usize = 50;
/// Listed requests with signed bodies up to this size get their verdict in the list.
const LIST_VERIFY_LIMIT: u64 = 64 * 1024;

#[derive(Template)]
#[template(path = "bin.html")]
struct BinPage {
    bin: BinView,
    requests: Vec<RequestRow>,
    next: Option<String>,
    first_page: bool,
    curl: String,
    filter: FilterView,
    /// What the bin answers when it is not the default, and where it forwards.
    answers: Option<u16>,
    forward_url: Option<String>,
    /// The selected request's id and its rendered detail.
    selected: Option<String>,
    detail: Option<String>,
    /// True when `?r=` named the selection (the page then does not follow new requests).
    pinned: bool,
    /// What the search index has not reached yet, when that matters to this page.
    index_note: Option<String>,
}

/// The filter as the form shows it, and the query string that carries it to links.
struct FilterView {
    active: bool,
    method: String,
    path: String,
    header: String,
    q: String,
    /// The times as typed (a span such as `15m` stays one in the form).
    since: String,
    until: String,
    errors: FieldErrors,
    query: String,
}

impl FilterView {
    fn new<B>(f: &Filter, req: &Request<B>, problems: Vec<(&'static str, String)>) -> FilterView {
        let typed = |name: &str| {
            query_pairs(req)
                .into_iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
                .unwrap_or_default()
        };
        let mut errors = FieldErrors::default();
        for (field, message) in problems {
            errors.add(field, message);
        }
        FilterView {
            active: !f.is_empty() || !errors.is_empty(),
            since: typed("since"),
            until: typed("until"),
            errors,
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

pub async fn bin(
    app: &App,
    req: &Request<Incoming>,
    id: BinId,
) -> Result<Response<Body>, WebError> {
    let (limit, before) = paging(req, PAGE_SIZE, 500)?;
    let (filter, problems) = read_filter(req);
    let chosen =
        match query_pairs(req).into_iter().find(|(k, _)| k == "r") {
            Some((_, v)) if !v.is_empty() => Some(RequestId::parse(&v).ok_or_else(|| {
                WebError::BadRequest(format!("r must be a request id, not '{v}'"))
            })?),
            _ => None,
        };
    let bin = app.store.get_bin(&id).await?;
    // A filter that cannot be read lists nothing: the form says what to fix.
    let page = if problems.is_empty() {
        app.store
            .list_requests(&id, limit, before, Some(0), &filter)
            .await?
    } else {
        Page {
            requests: Vec::new(),
            next: None,
        }
    };
    let base = app.base_url(req);
    let mut rows: Vec<RequestRow> = page.requests.iter().map(RequestRow::new).collect();
    check_signatures(app, &page.requests, &mut rows).await?;
    let selected = match problems.is_empty() {
        true => chosen.or_else(|| page.requests.first().map(|c| c.id)),
        false => None,
    };
    let status = match problems.is_empty() {
        true => StatusCode::OK,
        false => StatusCode::BAD_REQUEST,
    };
    let detail = match selected {
        Some(r) => {
            let d = RequestDetail::load(app, &base, r, true).await?;
            if d.bin() != id.as_str() {
                return Err(WebError::NotFound(format!("no request {r} in bin {id}")));
            }
            Some(render_detail(&d)?)
        }
        None => None,
    };
    let index_note = index_note(app, &filter).await?;
    let settings = app.store.bin_settings(&id).await?;
    let view = BinView::new(&bin, &base);
    let curl = format!(
        "curl -X POST '{}/hello?source=curl' -H 'Content-Type: application/json' -d '{{\"hello\": \"hookbin\"}}'",
        view.url
    );
    render(
        status,
        &BinPage {
            bin: view,
            requests: rows,
            next: page.next.map(|n| n.to_string()),
            first_page: before.is_none(),
            curl,
            filter: FilterView::new(&filter, req, problems),
            answers: settings.response.as_ref().map(|r| r.status),
            forward_url: settings.forward_url.clone(),
            selected: selected.map(|s| s.to_string()),
            detail,
            pinned: chosen.is_some(),
            index_note,
        },
    )
}

/// Requests waiting for the search index above which the page says the index is being built,
/// filter or not (an older database on its first start, or a long burst).
const BUILDING: u64 = 10_000;

/// `n` with its digits grouped by three (`1,933,312`), for counts that run into millions.
fn digits(n: u64) -> String {
    let plain = n.to_string();
    let mut out = String::with_capacity(plain.len() + plain.len() / 3);
    for (i, c) in plain.chars().enumerate() {
        if i > 0 && (plain.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How far behind (ms) the index must be for the page to mention it during a search.
const NOTICEABLE_MS: u64 = 1_000;

/// Says how far the search index is behind, when the filter searches or the index is being
/// built; `None` when it is up to date.
async fn index_note(app: &App, filter: &Filter) -> Result<Option<String>, WebError> {
    let Some(progress) = app.store.search_progress() else {
        return Ok(None);
    };
    let (pending, searching) = (
        progress.pending(),
        filter.text.is_some() || filter.path.is_some() || filter.header.is_some(),
    );
    if pending >= BUILDING {
        return Ok(Some(format!(
            "Building the search index: {} requests indexed, about {} to go. Searches scan \
             what is not indexed yet, so they miss nothing but are slower until it is done.",
            digits(progress.indexed()),
            digits(pending)
        )));
    }
    if pending == 0 || !searching {
        return Ok(None);
    }
    // A moment behind is the normal state while requests stream in: say so only when it is
    // long enough to notice.
    let lag = app.store.search_lag().await?;
    Ok((lag.behind_ms >= NOTICEABLE_MS).then(|| {
        format!(
            "The search index is {} requests ({:.1} s) behind; they were searched directly, \
             so nothing is missed.",
            digits(lag.pending),
            lag.behind_ms as f64 / 1000.0
        )
    }))
}

/// Puts signature verdicts on the listed rows that carry a signature over a small body.
async fn check_signatures(
    app: &App,
    listed: &[crate::model::Capture],
    rows: &mut [RequestRow],
) -> Result<(), WebError> {
    let ids: Vec<RequestId> = listed
        .iter()
        .zip(rows.iter())
        .filter(|(c, r)| r.signed && c.body_size <= LIST_VERIFY_LIMIT)
        .map(|(c, _)| c.id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let secrets = verify::secrets(app, &listed[0].bin_id).await?;
    for c in app.store.get_requests(ids).await? {
        let v = verdict(&signature_views(&verify::check(&c, &secrets)));
        if let Some(row) = rows.iter_mut().find(|r| r.id == c.id.to_string()) {
            row.verdict = v;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn digits_are_grouped_by_three() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_933_312, "1,933,312"),
        ];
        for (n, text) in cases {
            assert_eq!(super::digits(n), text);
        }
    }
}
