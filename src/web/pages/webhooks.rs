//! Pages for the sending side: the event catalog and webhooks (list, form, detail with **Send
//! Test Event** and the delivery log); one delivery's page is in [`super::deliveries`].

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::deliveries::{AttemptView, DeliveryRow};
use super::render;
use crate::catalog::EventType;
use crate::inspect;
use crate::model::{Delivery, DeliveryId, Webhook, WebhookId};
use crate::sender::{SendError, WebhookInput};
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, query_pairs, read_small_body};

/// An event type with its sample payload ready to show.
pub struct EventView {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub payload: String,
}

impl EventView {
    fn new(e: &EventType) -> EventView {
        let compact = e.sample.as_str().to_owned();
        EventView {
            slug: e.slug.clone(),
            name: e.name.clone(),
            description: e.description.clone(),
            payload: inspect::pretty_json(&compact).unwrap_or(compact),
        }
    }
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    events: Vec<EventView>,
}

pub async fn events(app: &App) -> Result<Response<Body>, WebError> {
    let events = app
        .sender
        .catalog()
        .events()
        .iter()
        .map(EventView::new)
        .collect();
    render(StatusCode::OK, &EventsPage { events })
}

/// A webhook as shown in lists and on its page.
pub struct WebhookView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub event: String,
    pub event_name: String,
    pub active: bool,
    pub secret: String,
    pub created_at: String,
    pub succeeded: u64,
    pub failed: u64,
    pub pending: u64,
}

impl WebhookView {
    fn new(app: &App, w: &Webhook) -> WebhookView {
        WebhookView {
            id: w.id.to_string(),
            name: w.name.clone(),
            url: w.url.clone(),
            event: w.event.clone(),
            event_name: app
                .sender
                .catalog()
                .get(&w.event)
                .map_or_else(|| w.event.clone(), |e| e.name.clone()),
            active: w.active,
            secret: w.secret.clone(),
            created_at: time::format(w.created_at),
            succeeded: w.stats.succeeded,
            failed: w.stats.failed,
            pending: w.stats.pending,
        }
    }
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    hooks: Vec<WebhookView>,
}

pub async fn webhooks(app: &App) -> Result<Response<Body>, WebError> {
    let hooks = app
        .store
        .list_webhooks()
        .await?
        .iter()
        .map(|w| WebhookView::new(app, w))
        .collect();
    render(StatusCode::OK, &WebhooksPage { hooks })
}

#[derive(Template)]
#[template(path = "webhook_form.html")]
struct WebhookFormPage {
    name: String,
    url: String,
    event: String,
    events: Vec<EventView>,
    error: Option<String>,
    notice: Option<String>,
}

impl WebhookFormPage {
    fn new(app: &App, name: String, url: String, event: String) -> WebhookFormPage {
        WebhookFormPage {
            name,
            url,
            event,
            events: app
                .sender
                .catalog()
                .events()
                .iter()
                .map(EventView::new)
                .collect(),
            error: None,
            notice: None,
        }
    }
}

pub async fn new_webhook(app: &App) -> Result<Response<Body>, WebError> {
    let page = WebhookFormPage::new(app, String::new(), String::new(), "payment_received".into());
    render(StatusCode::OK, &page)
}

/// The **Add New Webhook** form. Its second button creates a fresh local bin and fills the URL
/// in, so the whole loop works inside hookbin, with or without JavaScript.
pub async fn create_webhook(app: &App, req: Request<Incoming>) -> Result<Response<Body>, WebError> {
    let base = app.base_url(&req);
    let form = inspect::pairs(&read_small_body(req).await?);
    let field = |k: &str| crate::web::field(&form, k).to_owned();
    let mut page = WebhookFormPage::new(app, field("name"), field("url"), field("event"));
    if field("action") == "new-bin" {
        let bin = app.store.create_bin(None).await?;
        page.url = format!("{base}/b/{}", bin.id);
        page.notice = Some(format!("Created bin {} and filled in its URL.", bin.id));
        return render(StatusCode::OK, &page);
    }
    let input = WebhookInput {
        name: Some(page.name.clone()),
        url: Some(page.url.clone()),
        event: Some(page.event.clone()),
        active: Some(true),
    };
    match app.sender.create_webhook(input).await {
        Ok(hook) => Ok(response::see_other(&format!("/webhooks/{}", hook.id))),
        Err(SendError::Invalid(msg)) => {
            page.error = Some(msg);
            render(StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => Err(e.into()),
    }
}

/// The confirmation of a test send, ready to show: its attempt, as the delivery page shows
/// attempts.
pub struct TestView {
    pub attempt: AttemptView,
    pub delivery_id: String,
    /// The request page of the test event as a bin of this hookbin caught it, if it did.
    pub captured: Option<String>,
}

impl TestView {
    /// The confirmation of a test send, from what its delivery logged.
    fn new(d: &Delivery, captured: Option<String>) -> Option<TestView> {
        let a = d.attempts.last()?;
        Some(TestView {
            attempt: AttemptView::new(d.attempts.len(), a),
            delivery_id: d.id.to_string(),
            captured,
        })
    }
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    hook: WebhookView,
    payload: String,
    test: Option<TestView>,
    deliveries: Vec<DeliveryRow>,
}

/// A webhook's page; `?test=<delivery id>` adds the confirmation of that test send (where
/// **Send Test Event** redirects, so the result can be reloaded and shared).
pub async fn webhook<B>(
    app: &App,
    req: &Request<B>,
    id: &WebhookId,
) -> Result<Response<Body>, WebError> {
    let asked = query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "test")
        .and_then(|(_, v)| DeliveryId::parse(&v));
    let mut test = None;
    if let Some(did) = asked {
        let d = app.store.get_delivery(&did).await?;
        if d.webhook_id != *id || !d.is_test {
            return Err(WebError::NotFound(format!(
                "no test send {did} of webhook {id}"
            )));
        }
        let hook = app.store.get_webhook(id).await?;
        let captured = captured_here(app, req, &hook.url, &did).await;
        test = TestView::new(&d, captured);
    }
    let hook = app.store.get_webhook(id).await?;
    let deliveries = app
        .store
        .list_deliveries(id, 50)
        .await?
        .iter()
        .map(DeliveryRow::new)
        .collect();
    let payload = app
        .sender
        .catalog()
        .get(&hook.event)
        .map(|e| EventView::new(e).payload)
        .unwrap_or_default();
    let page = WebhookPage {
        hook: WebhookView::new(app, &hook),
        payload,
        test,
        deliveries,
    };
    render(StatusCode::OK, &page)
}

/// When `url` is a bin of this hookbin, the request page of the delivery `did` as it caught it.
async fn captured_here<B>(
    app: &App,
    req: &Request<B>,
    url: &str,
    did: &DeliveryId,
) -> Option<String> {
    let uri: hyper::Uri = url.parse().ok()?;
    let authority = uri.authority()?.as_str();
    let ours = [
        crate::web::auth::authority(req).map(str::to_owned),
        Some(app.local_addr.to_string()),
        app.config
            .public_url
            .as_deref()
            .and_then(|u| u.parse::<hyper::Uri>().ok())
            .and_then(|u| u.authority().map(|a| a.to_string())),
    ];
    if !ours.iter().flatten().any(|a| a == authority) {
        return None;
    }
    let bin = uri.path().strip_prefix("/b/")?.split('/').next()?;
    let bin = crate::model::BinId::parse(bin)?;
    let filter = crate::store::Filter {
        header: Some(("webhook-id".into(), Some(did.to_string()))),
        ..Default::default()
    };
    let page = app
        .store
        .list_requests(&bin, 1, None, Some(0), &filter)
        .await
        .ok()?;
    let c = page.requests.first()?;
    Some(format!("/requests/{}", c.id))
}

/// **Send Test Event**: sends now, then redirects to the webhook's page showing the
/// confirmation (a page that can be reloaded and linked, unlike the answer to a POST).
pub async fn test_webhook(app: &App, id: &WebhookId) -> Result<Response<Body>, WebError> {
    let result = app.sender.send_test(id).await?;
    Ok(response::see_other(&format!(
        "/webhooks/{id}?test={}#test-result",
        result.delivery_id
    )))
}

/// The Active toggle.
pub async fn set_active(
    app: &App,
    req: Request<Incoming>,
    id: &WebhookId,
) -> Result<Response<Body>, WebError> {
    let form = inspect::pairs(&read_small_body(req).await?);
    let active = form.iter().any(|(k, v)| k == "active" && v == "true");
    let input = WebhookInput {
        active: Some(active),
        ..WebhookInput::default()
    };
    app.sender.update_webhook(id, input).await?;
    Ok(response::see_other(&format!("/webhooks/{id}")))
}

pub async fn rotate_secret(app: &App, id: &WebhookId) -> Result<Response<Body>, WebError> {
    app.sender.rotate_secret(id).await?;
    Ok(response::see_other(&format!("/webhooks/{id}")))
}

pub async fn delete_webhook(app: &App, id: &WebhookId) -> Result<Response<Body>, WebError> {
    app.store.delete_webhook(id).await?;
    Ok(response::see_other("/webhooks"))
}
