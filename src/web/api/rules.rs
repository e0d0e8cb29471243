//! A bin's answer rules over the API: read them with their match counts, replace the whole
//! list (checked first; nothing of a refused list is saved), start sequences again, and ask
//! what a described request would get now.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::capture::answer;
use crate::model::BinId;
use crate::rules::{self, RequestView, Rule};
use crate::web::response::{self, Body};
use crate::web::{App, WebError};

/// Largest rules document accepted: room for a few full-size templates, refused past it.
const RULES_LIMIT: u64 = 2 * 1024 * 1024;

#[derive(Serialize)]
struct RulesOut<'a> {
    rules: &'a [Rule],
    /// Matches so far of each counting rule (a sequence, a random share), by name.
    counts: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesIn {
    rules: Vec<Rule>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetIn {
    rule: Option<String>,
}

/// A request described for a preview.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewIn {
    #[serde(default = "post")]
    method: String,
    /// The sub-path below the bin.
    #[serde(default = "root")]
    path: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: String,
}

fn post() -> String {
    "POST".into()
}

fn root() -> String {
    "/".into()
}

async fn out(app: &App, bin: &BinId, rules: &[Rule]) -> Result<Response<Body>, WebError> {
    let counts = app
        .store
        .rule_steps(bin)
        .await?
        .into_iter()
        .map(|(name, n)| (name, n.into()))
        .collect();
    Ok(response::json(StatusCode::OK, &RulesOut { rules, counts }))
}

/// `GET /api/bins/{bin}/rules`
pub async fn get_rules(app: &App, bin: BinId) -> Result<Response<Body>, WebError> {
    app.store.get_bin(&bin).await?;
    let settings = app.store.bin_settings(&bin).await?;
    out(app, &bin, &settings.rules).await
}

/// Checks a rule list and saves it in place of the bin's rules; its sequences start again.
pub async fn save_rules(app: &App, bin: &BinId, list: Vec<Rule>) -> Result<(), WebError> {
    rules::check(&list).map_err(|e| WebError::BadRequest(e.to_string()))?;
    app.store.get_bin(bin).await?;
    let mut settings = (*app.store.bin_settings(bin).await?).clone();
    settings.rules = Arc::new(list);
    app.store.set_bin_settings(bin, settings).await?;
    app.store.reset_rule_steps(bin, None).await?;
    Ok(())
}

/// `PUT /api/bins/{bin}/rules`
pub async fn put_rules(
    app: &App,
    req: Request<Incoming>,
    bin: BinId,
) -> Result<Response<Body>, WebError> {
    let body =
        crate::capture::body::read(req.into_body(), RULES_LIMIT, super::BODY_TIMEOUT).await?;
    let input: RulesIn = objects_where_objects_go(&body).and_then(|()| super::object(&body)).map_err(|e| {
        WebError::BadRequest(format!(
            r#"body must be a JSON object like {{"rules": [{{"name": "fail twice", "answers": [{{"status": 500}}, {{"status": 500}}, {{"status": 200}}]}}]}}: {e}"#
        ))
    })?;
    save_rules(app, &bin, input.rules).await?;
    get_rules(app, bin).await
}

/// Serde would read a rule's parts from arrays of their fields in order (`"when": [null]`),
/// which no client means: every part that is an object must be written as one.
fn objects_where_objects_go(body: &[u8]) -> Result<(), String> {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(()); // the parse that follows says what is wrong
    };
    let must = |v: Option<&serde_json::Value>, at: String| match v {
        Some(v) if !v.is_object() && !v.is_null() => Err(format!("{at} must be a JSON object")),
        _ => Ok(()),
    };
    for (i, rule) in doc["rules"].as_array().into_iter().flatten().enumerate() {
        must(Some(rule), format!("rules[{i}]"))?;
        must(rule.get("when"), format!("rules[{i}].when"))?;
        must(rule.get("random"), format!("rules[{i}].random"))?;
        for part in ["query", "header", "body"] {
            must(rule["when"].get(part), format!("rules[{i}].when.{part}"))?;
        }
        for (j, a) in rule["answers"].as_array().into_iter().flatten().enumerate() {
            must(Some(a), format!("rules[{i}].answers[{j}]"))?;
        }
    }
    Ok(())
}

/// `POST /api/bins/{bin}/rules/reset`
pub async fn reset_rules(
    app: &App,
    req: Request<Incoming>,
    bin: BinId,
) -> Result<Response<Body>, WebError> {
    let input: ResetIn = super::optional_json_body(req, r#"{"rule": "fail twice"}"#).await?;
    app.store.get_bin(&bin).await?;
    let settings = app.store.bin_settings(&bin).await?;
    if let Some(name) = &input.rule
        && !settings.rules.iter().any(|r| &r.name == name)
    {
        return Err(WebError::BadRequest(format!(
            "rule: bin {bin} has no rule {name:?}"
        )));
    }
    app.store.reset_rule_steps(&bin, input.rule).await?;
    out(app, &bin, &settings.rules).await
}

/// What a request would be answered, as the preview and the settings page show it.
#[derive(Serialize)]
pub struct Preview {
    /// The rule that would answer, or null for the bin's own answer.
    pub rule: Option<String>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay_ms: u64,
    pub hang: bool,
}

/// The answer the bin would give a request like this now, without counting it.
pub async fn preview_of(
    app: &App,
    bin: &BinId,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Preview, WebError> {
    let settings = app.store.bin_settings(bin).await?;
    let view = RequestView::new(method, path, query, headers, body);
    if let Some(choice) = answer::choose(&app.store, bin, &settings, &view, true).await? {
        let a = answer::render(choice, &view, "(request id)");
        return Ok(Preview {
            rule: Some(a.rule),
            status: a.response.status,
            headers: a.response.headers,
            body: String::from_utf8_lossy(&a.response.body).into_owned(),
            delay_ms: a.response.delay_ms,
            hang: a.hang,
        });
    }
    Ok(match &settings.response {
        Some(r) => Preview {
            rule: None,
            status: r.status,
            headers: r.headers.clone(),
            body: String::from_utf8_lossy(&r.body).into_owned(),
            delay_ms: r.delay_ms,
            hang: false,
        },
        None => Preview {
            rule: None,
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: r#"{"ok":true,"request_id":"(request id)"}"#.into(),
            delay_ms: 0,
            hang: false,
        },
    })
}

/// `POST /api/bins/{bin}/rules/preview`
pub async fn preview(
    app: &App,
    req: Request<Incoming>,
    bin: BinId,
) -> Result<Response<Body>, WebError> {
    let p: PreviewIn = super::large_json_body(
        req,
        RULES_LIMIT,
        r#"{"method": "POST", "path": "/orders", "body": "{}"}"#,
    )
    .await?;
    app.store.get_bin(&bin).await?;
    let headers = header_map(&p.headers)?;
    let path = if p.path.starts_with('/') {
        p.path
    } else {
        format!("/{}", p.path)
    };
    let shown = preview_of(
        app,
        &bin,
        &p.method,
        &path,
        &p.query,
        &headers,
        p.body.as_bytes(),
    )
    .await?;
    Ok(response::json(StatusCode::OK, &shown))
}

/// Header pairs as a map, refusing what cannot be a header.
pub fn header_map(pairs: &[(String, String)]) -> Result<HeaderMap, WebError> {
    let mut map = HeaderMap::new();
    for (n, v) in pairs {
        let name = hyper::header::HeaderName::from_bytes(n.as_bytes())
            .map_err(|_| WebError::BadRequest(format!("headers: {n:?} is not a header name")))?;
        let value = hyper::header::HeaderValue::from_str(v).map_err(|_| {
            WebError::BadRequest(format!("headers: the value of {n} cannot be sent"))
        })?;
        map.append(name, value);
    }
    Ok(map)
}
