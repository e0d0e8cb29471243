//! The event catalog page: every event a webhook can subscribe to, with its sample payload,
//! a search, and per event the ways to start using it.

use askama::Template;
use hyper::{Request, Response, StatusCode};

use super::render;
use crate::catalog::EventType;
use crate::inspect;
use crate::web::response::Body;
use crate::web::{App, WebError, query_pairs};

/// An event type with its sample payload ready to show.
pub struct EventView {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub payload: String,
    /// The group the event is listed under.
    pub group: &'static str,
    /// Lower-case name, slug and description, which the page's search matches.
    pub text: String,
}

impl EventView {
    pub(super) fn new(e: &EventType) -> EventView {
        let compact = e.sample.as_str().to_owned();
        EventView {
            slug: e.slug.clone(),
            name: e.name.clone(),
            description: e.description.clone(),
            payload: inspect::pretty_json(&compact).unwrap_or(compact),
            group: group(&e.slug),
            text: format!("{} {} {}", e.name, e.slug, e.description).to_lowercase(),
        }
    }
}

/// The group an event belongs to, read from its slug; events from extra catalogs that fit
/// none are "Other".
fn group(slug: &str) -> &'static str {
    let first = slug.split('_').next().unwrap_or("");
    match first {
        "payment" | "renewal" | "invoice" => "Payments",
        "membership" => "Memberships",
        "customer" | "confirm" => "Customers",
        "checkout" => "Checkout",
        "site" | "demo" | "domain" => "Sites and domains",
        "subsite" => "Subsites",
        _ => "Other",
    }
}

/// The events in groups (in the order groups first appear), each group sorted by name.
pub(super) fn grouped(app: &App) -> Vec<(&'static str, Vec<EventView>)> {
    let mut groups: Vec<(&'static str, Vec<EventView>)> = Vec::new();
    for e in app.sender.catalog().events().iter().map(EventView::new) {
        match groups.iter_mut().find(|(g, _)| *g == e.group) {
            Some((_, list)) => list.push(e),
            None => groups.push((e.group, vec![e])),
        }
    }
    for (_, list) in &mut groups {
        list.sort_by(|a, b| a.name.cmp(&b.name));
    }
    groups
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    groups: Vec<(&'static str, Vec<EventView>)>,
    q: String,
    shown: usize,
}

/// The catalog; `?q=` narrows it (the script narrows it as you type).
pub async fn events<B>(app: &App, req: &Request<B>) -> Result<Response<Body>, WebError> {
    let q = query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let needle = q.to_lowercase();
    let mut groups = grouped(app);
    for (_, list) in &mut groups {
        list.retain(|e| e.text.contains(&needle));
    }
    groups.retain(|(_, list)| !list.is_empty());
    let shown = groups.iter().map(|(_, l)| l.len()).sum();
    render(StatusCode::OK, &EventsPage { groups, q, shown })
}
