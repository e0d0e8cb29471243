//! The webhook form, for adding a webhook and for editing one: name, URL (or a new local bin),
//! and the event, chosen from the catalog in groups with its payload previewed. Every problem
//! is shown at once beside its field; nothing is saved until all are fixed.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::events::{EventView, grouped};
use super::form::FieldErrors;
use super::render;
use crate::inspect;
use crate::model::{Webhook, WebhookId};
use crate::sender::WebhookInput;
use crate::web::response::{self, Body};
use crate::web::{App, WebError, query_pairs, read_small_body};

#[derive(Template)]
#[template(path = "webhook_form.html")]
struct WebhookFormPage {
    /// The webhook being edited; `None` when adding one.
    editing: Option<String>,
    name: String,
    url: String,
    event: String,
    groups: Vec<(&'static str, Vec<EventView>)>,
    errors: FieldErrors,
    notice: Option<String>,
}

impl WebhookFormPage {
    fn new(
        app: &App,
        editing: Option<&WebhookId>,
        name: String,
        url: String,
        event: String,
    ) -> Self {
        WebhookFormPage {
            editing: editing.map(ToString::to_string),
            name,
            url,
            event,
            groups: grouped(app),
            errors: FieldErrors::default(),
            notice: None,
        }
    }

    fn show(&self) -> Result<Response<Body>, WebError> {
        let status = if self.errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        render(status, self)
    }
}

/// The empty form; `?event=` preselects an event (the events page links here).
pub async fn new_webhook<B>(app: &App, req: &Request<B>) -> Result<Response<Body>, WebError> {
    let event = query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "event")
        .map(|(_, v)| v)
        .filter(|v| app.sender.catalog().get(v).is_some())
        .unwrap_or_else(|| "payment_received".into());
    WebhookFormPage::new(app, None, String::new(), String::new(), event).show()
}

/// The form filled with a stored webhook.
pub async fn edit_webhook(app: &App, id: &WebhookId) -> Result<Response<Body>, WebError> {
    let w: Webhook = app.store.get_webhook(id).await?;
    WebhookFormPage::new(app, Some(id), w.name, w.url, w.event).show()
}

/// Saves the form: adds a webhook (`editing` is `None`) or updates one. Its second button
/// creates a fresh local bin and fills the URL in, so the whole loop works inside hookbin,
/// with or without JavaScript.
pub async fn save_webhook(
    app: &App,
    req: Request<Incoming>,
    editing: Option<&WebhookId>,
) -> Result<Response<Body>, WebError> {
    let base = app.base_url(&req);
    let who = crate::web::client_ip(&req);
    let form = inspect::pairs(&read_small_body(req).await?);
    let field = |k: &str| crate::web::field(&form, k).to_owned();
    let mut page = WebhookFormPage::new(app, editing, field("name"), field("url"), field("event"));
    if field("action") == "new-bin" {
        let bin = app.create_bin(who, None).await?;
        page.url = format!("{base}/b/{}", bin.id);
        page.notice = Some(format!("Created bin {} and filled in its URL.", bin.id));
        return page.show();
    }
    let input = WebhookInput {
        name: Some(page.name.clone()),
        url: Some(page.url.clone()),
        event: Some(page.event.clone()),
        active: editing.is_none().then_some(true),
    };
    for (f, message) in app.sender.problems(&input) {
        page.errors.add(f, message);
    }
    if !page.errors.is_empty() {
        return page.show();
    }
    let (hook, said) = match editing {
        None => (app.sender.create_webhook(input).await?, "added"),
        Some(id) => (app.sender.update_webhook(id, input).await?, "saved"),
    };
    Ok(response::see_other(&format!(
        "/webhooks/{}?{said}=1",
        hook.id
    )))
}
