//! Pages for webhooks: the list (with **Send Test Event** on every row and its confirmation on
//! the list itself), one webhook's page (its test result, payload and live delivery log) and
//! the actions on it. The form is in [`super::webhook_form`], one delivery in
//! [`super::deliveries`].

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::deliveries::{AttemptView, DeliveryRow};
use super::events::EventView;
use super::render;
use crate::inspect;
use crate::inspect::json::{self, Line};
use crate::model::{Delivery, DeliveryId, Webhook, WebhookId};
use crate::sender::WebhookInput;
use crate::time;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, field, query_pairs, read_small_body};

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
    /// The newest attempt's status ("no answer" when none came) and time; empty before any.
    pub last_status: String,
    pub last_ok: bool,
    pub last_at: String,
}

impl WebhookView {
    fn new(app: &App, w: &Webhook) -> WebhookView {
        let s = &w.stats;
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
            succeeded: s.succeeded,
            failed: s.failed,
            pending: s.pending,
            last_status: match (s.last_attempt_at, s.last_status) {
                (None, _) => String::new(),
                (Some(_), Some(code)) => code.to_string(),
                (Some(_), None) => "no answer".into(),
            },
            last_ok: s.last_status.is_some_and(|c| (200..300).contains(&c)),
            last_at: s.last_attempt_at.map(time::format).unwrap_or_default(),
        }
    }
}

/// The confirmation of a test send, ready to show: its attempt, as the delivery page shows
/// attempts.
pub struct TestView {
    pub attempt: AttemptView,
    pub delivery_id: String,
    /// The webhook it was sent for.
    pub webhook_id: String,
    pub webhook_name: String,
    /// The inspector page of the test event as a bin of this hookbin caught it, if it did.
    pub captured: Option<String>,
}

/// The test send `?test=<delivery id>` names, checked to be a test send (of `of`, when given).
async fn asked_test<B>(
    app: &App,
    req: &Request<B>,
    of: Option<&WebhookId>,
) -> Result<Option<TestView>, WebError> {
    let Some((_, asked)) = query_pairs(req).into_iter().find(|(k, _)| k == "test") else {
        return Ok(None);
    };
    let did = DeliveryId::parse(&asked)
        .ok_or_else(|| WebError::NotFound(format!("no test send {asked}")))?;
    let d: Delivery = app.store.get_delivery(&did).await?;
    if !d.is_test || of.is_some_and(|w| *w != d.webhook_id) {
        return Err(WebError::NotFound(format!("no test send {did}")));
    }
    let hook = app.store.get_webhook(&d.webhook_id).await?;
    let captured = captured_here(app, req, &hook.url, &did).await;
    Ok(d.attempts.last().map(|a| TestView {
        attempt: AttemptView::new(d.attempts.len(), a),
        delivery_id: d.id.to_string(),
        webhook_id: hook.id.to_string(),
        webhook_name: hook.name.clone(),
        captured,
    }))
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    hooks: Vec<WebhookView>,
    test: Option<TestView>,
    any_pending: bool,
    /// The search, and the query strings of the first and the next page.
    q: String,
    first: String,
    next: Option<String>,
    later: bool,
}

/// The list; `?test=<delivery id>` shows that test send's confirmation above it (where a
/// row's **Send Test Event** redirects).
pub async fn webhooks<B>(app: &App, req: &Request<B>) -> Result<Response<Body>, WebError> {
    let test = asked_test(app, req, None).await?;
    let (q, after, limit) = crate::web::api::webhook_query(req, 50, 50)?;
    let later = after.is_some();
    let (list, next) = app
        .store
        .list_webhooks_page(q.clone(), after, limit)
        .await?;
    let hooks: Vec<WebhookView> = list.iter().map(|w| WebhookView::new(app, w)).collect();
    let any_pending = hooks.iter().any(|h| h.pending > 0);
    let q = q.unwrap_or_default();
    let (first, next) = super::pager_links(&[("q", &q)], next.map(|n| n.to_string()));
    render(
        StatusCode::OK,
        &WebhooksPage {
            hooks,
            test,
            any_pending,
            q,
            first,
            next,
            later,
        },
    )
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    hook: WebhookView,
    payload: String,
    /// The payload laid out for colouring and folding.
    payload_lines: Option<Vec<Line>>,
    test: Option<TestView>,
    deliveries: Vec<DeliveryRow>,
    /// The id to list older deliveries from, and whether this page is an older one.
    next: Option<String>,
    older: bool,
    any_pending: bool,
    notice: Option<&'static str>,
}

/// A webhook's page; `?test=<delivery id>` adds the confirmation of that test send (where
/// **Send Test Event** redirects, so the result can be reloaded and shared), `?added=1` and
/// `?saved=1` say what the form just did.
pub async fn webhook<B>(
    app: &App,
    req: &Request<B>,
    id: &WebhookId,
) -> Result<Response<Body>, WebError> {
    let test = asked_test(app, req, Some(id)).await?;
    let notice = query_pairs(req)
        .into_iter()
        .find_map(|(k, _)| match k.as_str() {
            "added" => Some("Webhook added. Press Send Test Event to see it work."),
            "saved" => Some("Webhook saved."),
            "retried" => Some("Queued again: the log below updates as it is sent."),
            _ => None,
        });
    let hook = app.store.get_webhook(id).await?;
    let before = crate::web::api::delivery_cursor(req)?;
    let older = before.is_some();
    let (list, next) = app.store.list_deliveries(id, 50, before).await?;
    let deliveries: Vec<DeliveryRow> = list.iter().map(DeliveryRow::new).collect();
    let payload = app
        .sender
        .catalog()
        .get(&hook.event)
        .map(|e| EventView::new(e).payload)
        .unwrap_or_default();
    let sample = app.sender.catalog().get(&hook.event);
    let page = WebhookPage {
        hook: WebhookView::new(app, &hook),
        payload_lines: sample.and_then(|e| json::lines(e.sample.as_str())),
        payload,
        test,
        any_pending: deliveries.iter().any(|d| d.state == "pending"),
        deliveries,
        next: next.map(|n| n.to_string()),
        older,
        notice,
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
    let bin = bin_here(app, req, url)?;
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
    Some(format!("/bins/{bin}?r={}", c.id))
}

/// The bin `url` names when it is a bin URL of this hookbin (as the asking browser, the
/// listener or `--public-url` address it).
pub(super) fn bin_here<B>(app: &App, req: &Request<B>, url: &str) -> Option<crate::model::BinId> {
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
    crate::model::BinId::parse(bin)
}

/// **Send Test Event**: sends now, then redirects to a page showing the confirmation (a page
/// that can be reloaded and linked, unlike the answer to a POST): the list when the button
/// was on the list (`from=list`), else the webhook's page.
pub async fn test_webhook(
    app: &App,
    req: Request<Incoming>,
    id: &WebhookId,
) -> Result<Response<Body>, WebError> {
    let form = inspect::pairs(&read_small_body(req).await?);
    let result = app.sender.send_test(id).await?;
    let to = if field(&form, "from") == "list" {
        format!("/webhooks?test={}#test-result", result.delivery_id)
    } else {
        format!("/webhooks/{id}?test={}#test-result", result.delivery_id)
    };
    Ok(response::see_other(&to))
}

/// **Send the sample to…** on the events page: adds a webhook for the event (to the URL
/// given, or to a new local bin) and sends its test event, so the send is signed and logged
/// like any other; the confirmation shows on the new webhook's page.
pub async fn send_sample(
    app: &App,
    req: Request<Incoming>,
    slug: &str,
) -> Result<Response<Body>, WebError> {
    let base = app.base_url(&req);
    let who = crate::web::client_ip(&req);
    let form = inspect::pairs(&read_small_body(req).await?);
    let event = app
        .sender
        .catalog()
        .get(slug)
        .ok_or_else(|| WebError::NotFound(format!("no event {slug}")))?
        .clone();
    let url = match field(&form, "url").trim() {
        "" => format!("{base}/b/{}", app.create_bin(who, None).await?.id),
        u => u.to_owned(),
    };
    let hook = app
        .sender
        .create_webhook(WebhookInput {
            name: Some(format!("{} sample", event.name)),
            url: Some(url),
            event: Some(event.slug.clone()),
            active: Some(true),
        })
        .await?;
    let result = app.sender.send_test(&hook.id).await?;
    Ok(response::see_other(&format!(
        "/webhooks/{}?added=1&test={}#test-result",
        hook.id, result.delivery_id
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
