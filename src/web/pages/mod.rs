//! The HTML pages: one askama template struct per page, built from store data.
//!
//! Templates escape every value they print; these structs only hold plain strings and views, so
//! captured content can never turn into markup or script.

mod api_docs;
mod bins;
mod compare;
mod deliveries;
mod events;
mod form;
mod inspector;
mod requests;
mod rules;
mod settings;
mod webhook_form;
mod webhooks;

pub use api_docs::api_docs;
pub use bins::*;
pub use compare::*;
pub use deliveries::*;
pub use events::*;
pub use inspector::*;
pub use requests::*;
pub use rules::*;
pub use settings::*;
pub use webhook_form::*;
pub use webhooks::*;

use askama::Template;
use hyper::{Response, StatusCode};

use super::WebError;
use super::response::{self, Body};

fn render(status: StatusCode, page: &impl Template) -> Result<Response<Body>, WebError> {
    page.render()
        .map(|html| response::html(status, html))
        .map_err(|e| WebError::Internal(format!("template: {e}")))
}

pub use crate::inspect::human_size;

/// The query strings of a paged list's first page and of its next one: `kept` (the search and
/// order, empty values left out) and, for the next page, `after=<next>`.
fn pager_links(kept: &[(&str, &str)], next: Option<String>) -> (String, Option<String>) {
    let link = |after: Option<&str>| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in kept.iter().filter(|(_, v)| !v.is_empty()) {
            q.append_pair(k, v);
        }
        if let Some(after) = after {
            q.append_pair("after", after);
        }
        q.finish()
    };
    (link(None), next.map(|n| link(Some(&n))))
}
