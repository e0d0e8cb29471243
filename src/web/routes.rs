//! The route table: which handler answers each method and path of the admin side (pages, API,
//! assets, metrics); captures on `/b/` never come here (see [`super::handle`]).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use super::response::{self, Body};
use super::{App, WebError, api, assets, auth, pages, sse};
use crate::model::{BinId, DeliveryId, RequestId, WebhookId};

/// Answers `req` (whose path is `path`) with the handler its method and path name.
pub(super) async fn route(
    app: &Arc<App>,
    req: Request<Incoming>,
    path: &str,
) -> Result<Response<Body>, WebError> {
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let method = req.method().clone();
    let get = method == Method::GET || method == Method::HEAD;
    match (segs.as_slice(), &method) {
        ([""], _) if get => pages::home(app, &req).await,
        (["bins"], &Method::POST) => pages::create_bin(app, req).await,
        (["bins", bin], _) if get => pages::bin(app, &req, bin_id(bin)?).await,
        (["bins", bin, "events"], _) if get => sse::stream(app, bin_id(bin)?).await,
        (["bins", bin, "compare"], _) if get => pages::compare(app, &req, bin_id(bin)?).await,
        (["bins", bin, "settings"], _) if get => {
            pages::bin_settings_page(app, &req, bin_id(bin)?).await
        }
        (["bins", bin, "rules"], _) if get => pages::rules_page(app, &req, bin_id(bin)?).await,
        (["bins", bin, "rules", action], &Method::POST) => {
            pages::rules_action(app, req, bin_id(bin)?, action).await
        }
        (["bins", bin, "clear"], &Method::POST) => pages::clear_bin(app, bin_id(bin)?).await,
        (["bins", bin, "delete"], &Method::POST) => pages::delete_bin(app, bin_id(bin)?).await,
        (["bins", bin, "har"], _) if get => api::har(app, &req, bin_id(bin)?).await,
        (["bins", bin, what @ ("response" | "forward" | "secret")], &Method::POST) => {
            pages::save_settings(app, req, bin_id(bin)?, what).await
        }
        (["requests", id], _) if get => pages::request(app, &req, request_id(id)?).await,
        (["requests", id, "pane"], _) if get => {
            pages::request_pane(app, &req, request_id(id)?).await
        }
        (["requests", id, "replay"], &Method::POST) => {
            pages::replay(app, req, request_id(id)?).await
        }
        (["requests", id, "delete"], &Method::POST) => {
            pages::delete_request(app, request_id(id)?).await
        }
        (["assets", name], _) if get => assets::serve(name),
        (["favicon.ico"], _) if get => assets::serve("favicon.svg"),
        (["metrics"], _) if get => metrics(app).await,
        (["login"], _) if get => auth::login_form(&req),
        (["login"], &Method::POST) => auth::login(app, req).await,
        (["events"], _) if get => pages::events(app, &req).await,
        (["events", slug, "sample"], &Method::POST) => pages::send_sample(app, req, slug).await,
        (["webhooks"], _) if get => pages::webhooks(app, &req).await,
        (["webhooks"], &Method::POST) => pages::save_webhook(app, req, None).await,
        (["webhooks", "new"], _) if get => pages::new_webhook(app, &req).await,
        (["webhooks", id], _) if get => pages::webhook(app, &req, &webhook_id(id)?).await,
        (["webhooks", id, "edit"], _) if get => pages::edit_webhook(app, &webhook_id(id)?).await,
        (["webhooks", id, "edit"], &Method::POST) => {
            pages::save_webhook(app, req, Some(&webhook_id(id)?)).await
        }
        (["webhooks", id, "test"], &Method::POST) => {
            pages::test_webhook(app, req, &webhook_id(id)?).await
        }
        (["webhooks", id, "active"], &Method::POST) => {
            pages::set_active(app, req, &webhook_id(id)?).await
        }
        (["webhooks", id, "rotate"], &Method::POST) => {
            pages::rotate_secret(app, &webhook_id(id)?).await
        }
        (["webhooks", id, "delete"], &Method::POST) => {
            pages::delete_webhook(app, &webhook_id(id)?).await
        }
        (["deliveries", id], _) if get => pages::delivery(app, &req, &delivery_id(id)?).await,
        (["deliveries", id, "redeliver"], &Method::POST) => {
            pages::redeliver(app, req, &delivery_id(id)?).await
        }
        (["api"], _) if get => pages::api_docs(app, &req).await,
        (["api", "openapi.json"], _) if get => api::openapi(app, &req).await,
        (["api", "bins"], &Method::POST) => api::create_bin(app, req).await,
        (["api", "bins"], _) if get => api::list_bins(app, &req).await,
        (["api", "bins", bin], _) if get => api::get_bin(app, &req, bin_id(bin)?).await,
        (["api", "bins", bin], &Method::DELETE) => api::delete_bin(app, bin_id(bin)?).await,
        (["api", "bins", bin], &Method::PATCH) => api::patch_bin(app, req, bin_id(bin)?).await,
        (["api", "bins", bin, "har"], _) if get => api::har(app, &req, bin_id(bin)?).await,
        (["api", "bins", bin, "rules"], _) if get => api::get_rules(app, bin_id(bin)?).await,
        (["api", "bins", bin, "rules"], &Method::PUT) => {
            api::put_rules(app, req, bin_id(bin)?).await
        }
        (["api", "bins", bin, "rules", "reset"], &Method::POST) => {
            api::reset_rules(app, req, bin_id(bin)?).await
        }
        (["api", "bins", bin, "rules", "preview"], &Method::POST) => {
            api::preview(app, req, bin_id(bin)?).await
        }
        (["api", "bins", bin, "requests"], _) if get => {
            api::list_requests(app, &req, bin_id(bin)?).await
        }
        (["api", "bins", bin, "wait"], _) if get => api::wait(app, &req, bin_id(bin)?).await,
        (["api", "bins", bin, "next"], _) if get => api::next(app, &req, bin_id(bin)?).await,
        (["api", "bins", bin, "requests"], &Method::DELETE) => {
            api::clear_bin(app, bin_id(bin)?).await
        }
        (["api", "requests", id], _) if get => api::get_request(app, &req, request_id(id)?).await,
        (["api", "requests", id], &Method::DELETE) => {
            api::delete_request(app, request_id(id)?).await
        }
        (["api", "requests", id, "raw"], _) if get => api::raw(app, request_id(id)?).await,
        (["api", "requests", id, "curl"], _) if get => api::curl(app, &req, request_id(id)?).await,
        (["api", "requests", id, "replay"], &Method::POST) => {
            api::replay(app, req, request_id(id)?).await
        }
        (["api", "relays"], &Method::POST) => api::report_relays(app, req).await,
        (["api", "requests", id, "relays"], _) if get => api::relays(app, request_id(id)?).await,
        (["api", "requests", id, "relays"], &Method::POST) => {
            api::report_relay(app, req, request_id(id)?).await
        }
        (["api", "requests", id, "verify"], &Method::POST) => {
            api::verify(app, req, request_id(id)?).await
        }
        (["api", "events"], _) if get => api::list_events(app).await,
        (["api", "events", slug], &Method::POST) => api::fire_event(app, req, slug).await,
        (["api", "webhooks"], &Method::POST) => api::create_webhook(app, req).await,
        (["api", "webhooks"], _) if get => api::list_webhooks(app, &req).await,
        (["api", "webhooks", id], _) if get => api::get_webhook(app, &webhook_id(id)?).await,
        (["api", "webhooks", id], &Method::PATCH) => {
            api::patch_webhook(app, req, &webhook_id(id)?).await
        }
        (["api", "webhooks", id], &Method::DELETE) => {
            api::delete_webhook(app, &webhook_id(id)?).await
        }
        (["api", "webhooks", id, "test"], &Method::POST) => {
            api::test_webhook(app, &webhook_id(id)?).await
        }
        (["api", "webhooks", id, "rotate-secret"], &Method::POST) => {
            api::rotate_secret(app, &webhook_id(id)?).await
        }
        (["api", "webhooks", id, "deliveries"], _) if get => {
            api::list_deliveries(app, &req, &webhook_id(id)?).await
        }
        (["api", "deliveries", id], _) if get => api::get_delivery(app, &delivery_id(id)?).await,
        (["api", "deliveries", id, "redeliver"], &Method::POST) => {
            api::redeliver(app, &delivery_id(id)?).await
        }
        _ => Err(match api::openapi::allowed_methods(path) {
            Some(allow) => WebError::MethodNotAllowed {
                message: format!("{path} takes {allow}, not {method}"),
                allow,
            },
            None => WebError::NotFound(format!("no route for {method} {path}")),
        }),
    }
}

/// `GET /metrics`: the Prometheus text format (see [`crate::metrics`]).
async fn metrics(app: &App) -> Result<Response<Body>, WebError> {
    let states = app.store.delivery_states().await?;
    let text = app.store.metrics().render(
        &states,
        app.feed.receiver_count(),
        app.store.database_bytes().await,
        app.store.search_progress().map_or(0, |p| p.pending()),
    );
    Ok(response::with_type(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        response::full(text),
    ))
}

pub(super) fn bin_id(s: &str) -> Result<BinId, WebError> {
    BinId::parse(s).ok_or_else(|| WebError::NotFound(format!("no bin with id {s}")))
}

/// A webhook id from a URL; one that cannot be an id is as unknown as a missing one.
fn webhook_id(s: &str) -> Result<WebhookId, WebError> {
    WebhookId::parse(s).ok_or_else(|| WebError::NotFound(format!("webhook {s} not found")))
}

/// A delivery id from a URL, like [`webhook_id`].
fn delivery_id(s: &str) -> Result<DeliveryId, WebError> {
    DeliveryId::parse(s).ok_or_else(|| WebError::NotFound(format!("delivery {s} not found")))
}

fn request_id(s: &str) -> Result<RequestId, WebError> {
    RequestId::parse(s).ok_or_else(|| WebError::NotFound(format!("no request with id {s}")))
}
