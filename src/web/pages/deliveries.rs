//! One delivery with all its attempts, and the delivery-log rows the webhook page lists.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::{human_size, render};
use crate::inspect;
use crate::inspect::json::{self, Line};
use crate::model::{Attempt, Delivery, DeliveryId, DeliveryState};
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, field, read_small_body};

/// Most response bytes shown inline on a page (the API has all that was kept).
const SHOWN_RESPONSE: usize = 8 * 1024;

/// One line of a delivery log.
pub struct DeliveryRow {
    pub id: String,
    pub event: String,
    pub test: bool,
    pub state: &'static str,
    pub attempts: usize,
    pub last_status: String,
    pub created_at: String,
    pub next_attempt_at: String,
}

impl DeliveryRow {
    pub(super) fn new(d: &Delivery) -> DeliveryRow {
        DeliveryRow {
            id: d.id.to_string(),
            event: d.event.clone(),
            test: d.is_test,
            state: d.state.as_str(),
            attempts: d.attempts.len(),
            last_status: d.attempts.last().map_or_else(String::new, status_text),
            created_at: time::format(d.created_at),
            next_attempt_at: match (d.state, d.next_attempt_at) {
                (DeliveryState::Pending, Some(t)) => time::format(t),
                _ => String::new(),
            },
        }
    }
}

/// One attempt, ready to show.
pub struct AttemptView {
    pub number: usize,
    pub at: String,
    pub ok: bool,
    pub status: String,
    pub duration_ms: u64,
    pub error: Option<String>,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: String,
    pub cut: bool,
}

impl AttemptView {
    pub(super) fn new(number: usize, a: &Attempt) -> AttemptView {
        let (body, cut) = clip(&String::from_utf8_lossy(&a.response_body));
        AttemptView {
            number,
            at: time::format(a.at),
            ok: a.ok(),
            status: status_text(a),
            duration_ms: a.duration_ms,
            error: a.error.clone(),
            request_headers: a.request_headers.clone(),
            response_headers: a.response_headers.clone(),
            response_body: body,
            cut: cut || a.response_truncated,
        }
    }
}

#[derive(Template)]
#[template(path = "delivery.html")]
struct DeliveryPage {
    row: DeliveryRow,
    webhook_id: String,
    webhook_name: String,
    url: String,
    event_id: String,
    redelivery_of: Option<String>,
    payload: String,
    /// The payload laid out for colouring and folding.
    payload_lines: Option<Vec<Line>>,
    /// The payload exactly as sent (compact), beside the pretty view.
    sent: String,
    size: String,
    attempts: Vec<AttemptView>,
    /// When the webhook's URL is a bin of this hookbin: that bin's list of this delivery's
    /// attempts as it caught them.
    caught: Option<String>,
}

pub async fn delivery<B>(
    app: &App,
    req: &hyper::Request<B>,
    id: &DeliveryId,
) -> Result<Response<Body>, WebError> {
    let d = app.store.get_delivery(id).await?;
    let hook = app.store.get_webhook(&d.webhook_id).await?;
    let text = String::from_utf8_lossy(&d.payload).into_owned();
    let caught = super::webhooks::bin_here(app, req, &hook.url).map(|bin| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("header", &format!("webhook-id:{id}"))
            .finish();
        format!("/bins/{bin}?{q}")
    });
    let page = DeliveryPage {
        row: DeliveryRow::new(&d),
        webhook_id: hook.id.to_string(),
        webhook_name: hook.name,
        url: hook.url,
        event_id: d
            .event_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        redelivery_of: d.redelivery_of.as_ref().map(ToString::to_string),
        payload: inspect::pretty_json(&text).unwrap_or_else(|| text.clone()),
        payload_lines: json::lines(&text),
        sent: text,
        size: human_size(d.payload.len() as u64),
        attempts: d
            .attempts
            .iter()
            .enumerate()
            .map(|(i, a)| AttemptView::new(i + 1, a))
            .collect(),
        caught,
    };
    render(StatusCode::OK, &page)
}

/// **Redeliver** (on a delivery's page) and **Retry** (on a row of a webhook's log): queues the
/// same payload again, then shows the new delivery, or the log it was retried from
/// (`back=log`).
pub async fn redeliver(
    app: &App,
    req: Request<Incoming>,
    id: &DeliveryId,
) -> Result<Response<Body>, WebError> {
    let form = inspect::pairs(&read_small_body(req).await?);
    let d = app.sender.redeliver(id).await?;
    let to = if field(&form, "back") == "log" {
        format!("/webhooks/{}?retried=1#delivery-log", d.webhook_id)
    } else {
        format!("/deliveries/{}", d.id)
    };
    Ok(response::see_other(&to))
}

fn status_text(a: &Attempt) -> String {
    a.status
        .map_or_else(|| "no answer".into(), |s| s.to_string())
}

/// At most [`SHOWN_RESPONSE`] bytes of `s` (on a character boundary), and whether it was cut.
fn clip(s: &str) -> (String, bool) {
    if s.len() <= SHOWN_RESPONSE {
        return (s.to_owned(), false);
    }
    let mut end = SHOWN_RESPONSE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s[..end].to_owned(), true)
}
