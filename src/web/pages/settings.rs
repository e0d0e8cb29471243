//! A bin's settings page: its custom answer, its forward URL and its signing secret. Each form
//! saves one setting; a rejected form comes back with every problem next to its field, and
//! nothing of it is saved.

use askama::Template;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::bins::BinView;
use super::form::FieldErrors;
use super::render;
use crate::model::{BinId, BinResponse, BinSettings};
use crate::web::response::{self, Body};
use crate::web::{App, WebError, bin_settings, field, query_pairs, read_form};

#[derive(Template)]
#[template(path = "bin_settings.html")]
struct SettingsPage {
    bin: BinView,
    form: SettingsForm,
    stored_custom: bool,
    stored_forward: bool,
    stored_secret: bool,
    errors: FieldErrors,
    saved: Option<&'static str>,
}

/// The values in the settings forms: what is stored, or what was just typed in.
#[derive(Default)]
struct SettingsForm {
    status: String,
    headers: String,
    body: String,
    delay_ms: String,
    forward_url: String,
    secret: String,
}

impl SettingsForm {
    fn new(s: &BinSettings) -> SettingsForm {
        let r = s.response.as_ref();
        SettingsForm {
            status: r.map_or("200".into(), |r| r.status.to_string()),
            headers: r.map_or(String::new(), |r| {
                r.headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}\n"))
                    .collect()
            }),
            body: r.map_or(String::new(), |r| {
                String::from_utf8_lossy(&r.body).into_owned()
            }),
            delay_ms: r.map_or("0".into(), |r| r.delay_ms.to_string()),
            forward_url: s.forward_url.clone().unwrap_or_default(),
            secret: s.signing_secret.clone().unwrap_or_default(),
        }
    }
}

pub async fn bin_settings_page<B>(
    app: &App,
    req: &Request<B>,
    id: BinId,
) -> Result<Response<Body>, WebError> {
    let saved = query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "saved")
        .and_then(|(_, v)| match v.as_str() {
            "response" => Some("Answer saved."),
            "forward" => Some("Forward saved."),
            "secret" => Some("Signing secret saved."),
            _ => None,
        });
    let settings = app.store.bin_settings(&id).await?;
    settings_with(
        app,
        req,
        id,
        SettingsForm::new(&settings),
        FieldErrors::default(),
        saved,
    )
    .await
}

async fn settings_with<B>(
    app: &App,
    req: &Request<B>,
    id: BinId,
    form: SettingsForm,
    errors: FieldErrors,
    saved: Option<&'static str>,
) -> Result<Response<Body>, WebError> {
    let bin = app.store.get_bin(&id).await?;
    let stored = app.store.bin_settings(&id).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(
        status,
        &SettingsPage {
            bin: BinView::new(&bin, &app.base_url(req)),
            form,
            stored_custom: stored.response.is_some(),
            stored_forward: stored.forward_url.is_some(),
            stored_secret: stored.signing_secret.is_some(),
            errors,
            saved,
        },
    )
}

/// The settings forms: `what` is `response`, `forward` or `secret`; a form with
/// `action=reset` puts that setting back to the default.
pub async fn save_settings(
    app: &App,
    req: Request<Incoming>,
    id: BinId,
    what: &str,
) -> Result<Response<Body>, WebError> {
    let (req, form) = read_form(req).await?;
    let get = |name| field(&form, name).to_owned();
    let reset = get("action") == "reset";
    let mut settings = (*app.store.bin_settings(&id).await?).clone();
    let mut shown = SettingsForm::new(&settings);
    let mut errors = FieldErrors::default();
    match what {
        "response" => {
            shown.status = get("status");
            shown.headers = get("headers");
            shown.body = get("body");
            shown.delay_ms = get("delay_ms");
            settings.response = if reset {
                None
            } else {
                parse_response(&shown, &mut errors)
            };
        }
        "forward" => {
            shown.forward_url = get("url");
            settings.forward_url = if reset {
                None
            } else {
                errors.check(
                    "url",
                    bin_settings::forward_url(&shown.forward_url, &id, app.local_addr.port()),
                )
            };
        }
        "secret" => {
            shown.secret = get("secret");
            settings.signing_secret = if reset {
                None
            } else {
                errors.check("secret", bin_settings::signing_secret(&shown.secret))
            };
        }
        _ => return Err(WebError::NotFound(format!("no bin setting {what}"))),
    }
    if !errors.is_empty() {
        return settings_with(app, &req, id, shown, errors, None).await;
    }
    app.store.set_bin_settings(&id, settings).await?;
    // A form on a request's detail sends its own place back as `back`.
    let back = get("back");
    let to = match crate::web::local_back(&back) {
        Some(b) => b.to_owned(),
        None => format!("/bins/{id}/settings?saved={what}"),
    };
    Ok(response::see_other(&to))
}

/// The answer the form describes, with every problem in it recorded in `errors`.
fn parse_response(f: &SettingsForm, errors: &mut FieldErrors) -> Option<BinResponse> {
    let body = Bytes::from(f.body.clone());
    let status = errors
        .check(
            "status",
            f.status.trim().parse::<u16>().map_err(|_| {
                format!(
                    "status must be a number from 200 to 599, not '{}'",
                    f.status
                )
            }),
        )
        .and_then(|s| {
            errors
                .check("status", bin_settings::check_status(s, body.is_empty()))
                .map(|()| s)
        });
    let headers = errors
        .check("headers", bin_settings::header_lines(&f.headers))
        .and_then(|h| {
            errors
                .check("headers", bin_settings::check_headers(&h))
                .map(|()| h)
        });
    let delay = match f.delay_ms.trim() {
        "" => Some(0),
        d => errors.check(
            "delay_ms",
            d.parse::<u64>()
                .map_err(|_| format!("delay must be a number of milliseconds, not '{d}'")),
        ),
    }
    .and_then(|d| {
        errors
            .check("delay_ms", bin_settings::check_delay(d))
            .map(|()| d)
    });
    let (status, headers, delay_ms) = (status?, headers?, delay?);
    Some(BinResponse {
        status,
        headers,
        body,
        delay_ms,
    })
}
