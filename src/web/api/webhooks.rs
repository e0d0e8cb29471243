//! The API for the event catalog, webhooks, test sends, fired events and deliveries.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::json_body;
use crate::model::{Attempt, Delivery, DeliveryId, Webhook, WebhookId};
use crate::payload::Payload;
use crate::sender::WebhookInput;
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, read_small_body};

/// A webhook as the API shows it.
#[derive(Serialize)]
pub struct WebhookOut {
    pub id: String,
    pub name: String,
    pub url: String,
    pub event: String,
    pub active: bool,
    pub secret: String,
    pub created_at: String,
    pub updated_at: String,
    pub deliveries: Value,
}

impl From<&Webhook> for WebhookOut {
    fn from(w: &Webhook) -> Self {
        WebhookOut {
            id: w.id.to_string(),
            name: w.name.clone(),
            url: w.url.clone(),
            event: w.event.clone(),
            active: w.active,
            secret: w.secret.clone(),
            created_at: time::format(w.created_at),
            updated_at: time::format(w.updated_at),
            deliveries: json!({
                "total": w.stats.total,
                "succeeded": w.stats.succeeded,
                "failed": w.stats.failed,
                "pending": w.stats.pending,
                "last_attempt_at": w.stats.last_attempt_at.map(crate::time::format),
                "last_status": w.stats.last_status,
            }),
        }
    }
}

/// One attempt as the API shows it.
#[derive(Serialize)]
pub struct AttemptOut {
    pub at: String,
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
    pub response_body: String,
    pub response_truncated: bool,
    pub response_headers: Vec<(String, String)>,
    pub request_headers: Vec<(String, String)>,
}

impl From<&Attempt> for AttemptOut {
    fn from(a: &Attempt) -> Self {
        AttemptOut {
            at: time::format(a.at),
            status: a.status,
            duration_ms: a.duration_ms,
            error: a.error.clone(),
            response_body: String::from_utf8_lossy(&a.response_body).into_owned(),
            response_truncated: a.response_truncated,
            response_headers: a.response_headers.clone(),
            request_headers: a.request_headers.clone(),
        }
    }
}

/// A delivery as the API shows it; `payload` is the JSON that was (or will be) sent.
#[derive(Serialize)]
pub struct DeliveryOut {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub event_id: Option<String>,
    pub test: bool,
    pub redelivery_of: Option<String>,
    pub state: &'static str,
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    /// The payload's exact text, not a re-encoding of it.
    pub payload: Box<RawValue>,
    pub attempts: Vec<AttemptOut>,
}

impl From<&Delivery> for DeliveryOut {
    fn from(d: &Delivery) -> Self {
        DeliveryOut {
            id: d.id.to_string(),
            webhook_id: d.webhook_id.to_string(),
            event: d.event.clone(),
            event_id: d.event_id.as_ref().map(ToString::to_string),
            test: d.is_test,
            redelivery_of: d.redelivery_of.as_ref().map(ToString::to_string),
            state: d.state.as_str(),
            created_at: time::format(d.created_at),
            next_attempt_at: d.next_attempt_at.map(time::format),
            payload: serde_json::from_slice(&d.payload)
                .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON")),
            attempts: d.attempts.iter().map(AttemptOut::from).collect(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WebhookIn {
    name: Option<String>,
    url: Option<String>,
    event: Option<String>,
    active: Option<bool>,
}

impl From<WebhookIn> for WebhookInput {
    fn from(w: WebhookIn) -> Self {
        WebhookInput {
            name: w.name,
            url: w.url,
            event: w.event,
            active: w.active,
        }
    }
}

const WEBHOOK_EXAMPLE: &str =
    r#"{"name": "Orders", "url": "https://example.com/hook", "event": "payment_received"}"#;

pub async fn list_events(app: &App) -> Result<Response<Body>, WebError> {
    let events = app.sender.catalog().events();
    Ok(response::json(StatusCode::OK, &json!({ "events": events })))
}

pub async fn fire_event(
    app: &App,
    req: Request<Incoming>,
    slug: &str,
) -> Result<Response<Body>, WebError> {
    if app.sender.catalog().get(slug).is_none() {
        return Err(WebError::NotFound(format!(
            "no event '{slug}' in the catalog"
        )));
    }
    let body = read_small_body(req).await?;
    let payload = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let p = Payload::parse(&body)
            .map_err(|e| WebError::BadRequest(format!("{e} ({{}} sends the event's sample)")))?;
        Some(p)
    };
    let fired = app.sender.fire(slug, payload).await?;
    Ok(response::json(StatusCode::ACCEPTED, &fired))
}

pub async fn create_webhook(app: &App, req: Request<Incoming>) -> Result<Response<Body>, WebError> {
    let input: WebhookIn = json_body(req, WEBHOOK_EXAMPLE).await?;
    let hook = app.sender.create_webhook(input.into()).await?;
    Ok(response::json(
        StatusCode::CREATED,
        &WebhookOut::from(&hook),
    ))
}

/// `GET /api/webhooks?limit=N&after=<next>&q=<text>`: a page of webhooks, newest first.
pub async fn list_webhooks<B>(app: &App, req: &Request<B>) -> Result<Response<Body>, WebError> {
    let (q, after, limit) = webhook_query(req, 100, 1000)?;
    let (hooks, next) = app.store.list_webhooks_page(q, after, limit).await?;
    let hooks: Vec<WebhookOut> = hooks.iter().map(WebhookOut::from).collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({ "webhooks": hooks, "next": next.map(|n| n.to_string()) }),
    ))
}

/// Which page of webhooks a request asks for: `q`, `after` (a page's `next`) and `limit`.
pub fn webhook_query<B>(
    req: &Request<B>,
    default: usize,
    max: usize,
) -> Result<(Option<String>, Option<WebhookId>, usize), WebError> {
    let mut out = (None, None, default);
    for (k, v) in crate::web::query_pairs(req) {
        match k.as_str() {
            "q" if !v.trim().is_empty() => out.0 = Some(v.trim().to_owned()),
            "after" if !v.is_empty() => {
                out.1 = Some(WebhookId::parse(&v).ok_or_else(|| {
                    WebError::BadRequest(format!("after must be a webhook id from next, not '{v}'"))
                })?)
            }
            "limit" => out.2 = crate::web::parse_limit(&v, max)?,
            _ => {}
        }
    }
    Ok(out)
}

pub async fn get_webhook(app: &App, id: &WebhookId) -> Result<Response<Body>, WebError> {
    let hook = app.store.get_webhook(id).await?;
    Ok(response::json(StatusCode::OK, &WebhookOut::from(&hook)))
}

pub async fn patch_webhook(
    app: &App,
    req: Request<Incoming>,
    id: &WebhookId,
) -> Result<Response<Body>, WebError> {
    let input: WebhookIn = json_body(req, r#"{"active": false}"#).await?;
    let hook = app.sender.update_webhook(id, input.into()).await?;
    Ok(response::json(StatusCode::OK, &WebhookOut::from(&hook)))
}

pub async fn delete_webhook(app: &App, id: &WebhookId) -> Result<Response<Body>, WebError> {
    app.store.delete_webhook(id).await?;
    Ok(response::no_content())
}

pub async fn rotate_secret(app: &App, id: &WebhookId) -> Result<Response<Body>, WebError> {
    let hook = app.sender.rotate_secret(id).await?;
    Ok(response::json(StatusCode::OK, &WebhookOut::from(&hook)))
}

pub async fn test_webhook(app: &App, id: &WebhookId) -> Result<Response<Body>, WebError> {
    let result = app.sender.send_test(id).await?;
    Ok(response::json(StatusCode::OK, &result))
}

/// The `before` of a delivery list: a page's `next` (a delivery id), or none for the first page.
pub fn delivery_cursor<B>(req: &Request<B>) -> Result<Option<DeliveryId>, WebError> {
    match crate::web::query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "before")
    {
        Some((_, v)) if !v.is_empty() => DeliveryId::parse(&v).map(Some).ok_or_else(|| {
            WebError::BadRequest(format!("before must be a delivery id from next, not '{v}'"))
        }),
        _ => Ok(None),
    }
}

pub async fn list_deliveries<B>(
    app: &App,
    req: &Request<B>,
    webhook: &WebhookId,
) -> Result<Response<Body>, WebError> {
    let limit = crate::web::limit(req, 50, 500)?;
    let before = delivery_cursor(req)?;
    let (list, next) = app.store.list_deliveries(webhook, limit, before).await?;
    let list: Vec<DeliveryOut> = list.iter().map(DeliveryOut::from).collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({ "deliveries": list, "next": next.map(|n| n.to_string()) }),
    ))
}

pub async fn get_delivery(app: &App, id: &DeliveryId) -> Result<Response<Body>, WebError> {
    let d = app.store.get_delivery(id).await?;
    Ok(response::json(StatusCode::OK, &DeliveryOut::from(&d)))
}

pub async fn redeliver(app: &App, id: &DeliveryId) -> Result<Response<Body>, WebError> {
    let d = app.sender.redeliver(id).await?;
    Ok(response::json(StatusCode::ACCEPTED, &DeliveryOut::from(&d)))
}
