//! A bin's answer rules page: the rules in order with what each has matched, a form to add or
//! edit one (every field checked beside it; a refused rule saves nothing), buttons to move,
//! delete and restart them, and a preview of what a request would be answered.

use std::sync::Arc;

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::bins::BinView;
use super::form::FieldErrors;
use super::render;
use crate::inspect;
use crate::model::BinId;
use crate::rules::{self, Answer, BodyMatch, HeaderMatch, QueryMatch, Random, Rule, Then, When};
use crate::web::api::{Preview, header_map, preview_of};
use crate::web::response::{self, Body};
use crate::web::{App, WebError, bin_settings, field, query_pairs, read_small_body};

#[derive(Template)]
#[template(path = "bin_rules.html")]
struct RulesPage {
    bin: BinView,
    rules: Vec<RuleRow>,
    form: RuleForm,
    /// The name of the rule being edited (its form replaces it), or "" for a new rule.
    editing: String,
    errors: FieldErrors,
    saved: Option<&'static str>,
    probe: ProbeForm,
    preview: Option<Preview>,
}

/// One rule as the list shows it.
struct RuleRow {
    name: String,
    when: String,
    answers: String,
    matched: Option<u64>,
    first: bool,
    last: bool,
}

/// The add/edit form's fields, as typed.
#[derive(Default, Clone)]
struct RuleForm {
    name: String,
    method: String,
    path: String,
    query_name: String,
    query_equals: String,
    header_name: String,
    header_op: String,
    header_value: String,
    body_contains: String,
    json_path: String,
    json_equals: String,
    statuses: String,
    headers: String,
    body: String,
    delay_ms: String,
    then: String,
    random_percent: String,
    random_seed: String,
    hang: bool,
}

/// The preview form's fields.
#[derive(Clone)]
struct ProbeForm {
    method: String,
    path: String,
    headers: String,
    body: String,
}

impl Default for ProbeForm {
    fn default() -> Self {
        ProbeForm {
            method: "POST".into(),
            path: "/".into(),
            headers: "Content-Type: application/json".into(),
            body: String::new(),
        }
    }
}

fn summary(w: &When) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &w.method {
        parts.push(m.to_ascii_uppercase());
    }
    if let Some(p) = &w.path {
        parts.push(format!("path {p}"));
    }
    if let Some(q) = &w.query {
        parts.push(match &q.equals {
            Some(v) => format!("?{}={v}", q.name),
            None => format!("?{} present", q.name),
        });
    }
    if let Some(h) = &w.header {
        parts.push(match (&h.equals, &h.contains) {
            (Some(v), _) => format!("{}: {v}", h.name),
            (_, Some(v)) => format!("{} contains {v:?}", h.name),
            _ => format!("{} present", h.name),
        });
    }
    if let Some(b) = &w.body {
        parts.push(match (&b.contains, &b.json_path, &b.equals) {
            (Some(c), _, _) => format!("body contains {c:?}"),
            (_, Some(p), Some(v)) => format!("{p} == {v}"),
            _ => String::new(),
        });
    }
    if parts.is_empty() {
        "every request".into()
    } else {
        parts.join(" · ")
    }
}

fn answers_text(r: &Rule) -> String {
    let steps: Vec<String> = r
        .answers
        .iter()
        .map(|a| match a.hang {
            true => "never answers".into(),
            false if a.delay_ms > 0 => format!("{} after {} ms", a.status, a.delay_ms),
            false => a.status.to_string(),
        })
        .collect();
    let mut text = steps.join(" → ");
    if r.answers.len() > 1 {
        text.push_str(match r.then {
            Then::RepeatLast => ", then the last again",
            Then::Cycle => ", then from the start",
        });
    }
    if let Some(random) = r.random {
        text = format!(
            "{text} to {}% of them (seed {})",
            random.percent, random.seed
        );
    }
    text
}

impl RuleForm {
    fn of(r: &Rule) -> RuleForm {
        let w = &r.when;
        let a = &r.answers[0];
        RuleForm {
            name: r.name.clone(),
            method: w.method.clone().unwrap_or_default(),
            path: w.path.clone().unwrap_or_default(),
            query_name: w.query.as_ref().map(|q| q.name.clone()).unwrap_or_default(),
            query_equals: w
                .query
                .as_ref()
                .and_then(|q| q.equals.clone())
                .unwrap_or_default(),
            header_name: w
                .header
                .as_ref()
                .map(|h| h.name.clone())
                .unwrap_or_default(),
            header_op: match &w.header {
                Some(h) if h.equals.is_some() => "equals".into(),
                Some(h) if h.contains.is_some() => "contains".into(),
                _ => "present".into(),
            },
            header_value: w
                .header
                .as_ref()
                .and_then(|h| h.equals.clone().or(h.contains.clone()))
                .unwrap_or_default(),
            body_contains: w
                .body
                .as_ref()
                .and_then(|b| b.contains.clone())
                .unwrap_or_default(),
            json_path: w
                .body
                .as_ref()
                .and_then(|b| b.json_path.clone())
                .unwrap_or_default(),
            json_equals: w
                .body
                .as_ref()
                .and_then(|b| b.equals.as_ref())
                .map(|v| v.to_string())
                .unwrap_or_default(),
            statuses: r
                .answers
                .iter()
                .map(|a| a.status.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            headers: a
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}\n"))
                .collect(),
            body: a.body.clone(),
            delay_ms: a.delay_ms.to_string(),
            then: match r.then {
                Then::RepeatLast => "repeat_last".into(),
                Then::Cycle => "cycle".into(),
            },
            random_percent: r.random.map(|x| x.percent.to_string()).unwrap_or_default(),
            random_seed: r.random.map(|x| x.seed.to_string()).unwrap_or_default(),
            hang: a.hang,
        }
    }

    fn read(form: &[(String, String)]) -> RuleForm {
        let get = |n| field(form, n).to_owned();
        RuleForm {
            name: get("name"),
            method: get("method"),
            path: get("path"),
            query_name: get("query_name"),
            query_equals: get("query_equals"),
            header_name: get("header_name"),
            header_op: get("header_op"),
            header_value: get("header_value"),
            body_contains: get("body_contains"),
            json_path: get("json_path"),
            json_equals: get("json_equals"),
            statuses: get("statuses"),
            headers: get("headers"),
            body: get("body"),
            delay_ms: get("delay_ms"),
            then: get("then"),
            random_percent: get("random_percent"),
            random_seed: get("random_seed"),
            hang: !get("hang").is_empty(),
        }
    }

    /// The rule the form describes, with each problem recorded against its field.
    fn rule(&self, errors: &mut FieldErrors) -> Option<Rule> {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let statuses: Vec<u16> = self
            .statuses
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|s| {
                errors.check(
                    "statuses",
                    s.parse::<u16>().map_err(|_| {
                        format!("'{s}' is not a status; write them like 500, 500, 200")
                    }),
                )
            })
            .collect();
        if statuses.is_empty() {
            errors.add(
                "statuses",
                "at least one status, like 200 (or 500, 500, 200 for a sequence)",
            );
        }
        let headers = errors
            .check("headers", bin_settings::header_lines(&self.headers))
            .unwrap_or_default();
        let delay_ms = match self.delay_ms.trim() {
            "" => 0,
            d => errors
                .check(
                    "delay_ms",
                    d.parse::<u64>()
                        .map_err(|_| format!("delay must be a number of milliseconds, not '{d}'")),
                )
                .unwrap_or(0),
        };
        // A JSON value as typed (3, true, "x"), or else the text as a string.
        let json_equals = text(&self.json_equals)
            .map(|v| serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v)));
        let random = match text(&self.random_percent) {
            None => None,
            Some(p) => {
                let percent = errors.check(
                    "random_percent",
                    p.parse::<u8>()
                        .map_err(|_| format!("a share from 1 to 99, not '{p}'")),
                );
                let seed = match text(&self.random_seed) {
                    None => Some(0),
                    Some(s) => errors.check(
                        "random_seed",
                        s.parse::<u64>()
                            .map_err(|_| format!("a whole number, not '{s}'")),
                    ),
                };
                percent
                    .zip(seed)
                    .map(|(percent, seed)| Random { percent, seed })
            }
        };
        let value = text(&self.header_value);
        let header = text(&self.header_name).map(|name| HeaderMatch {
            name,
            equals: value.clone().filter(|_| self.header_op == "equals"),
            contains: value.clone().filter(|_| self.header_op == "contains"),
        });
        let body = match (text(&self.body_contains), text(&self.json_path)) {
            (None, None) => None,
            (contains, json_path) => Some(BodyMatch {
                contains,
                json_path,
                equals: json_equals,
            }),
        };
        if !errors.is_empty() {
            return None;
        }
        Some(Rule {
            name: self.name.trim().to_owned(),
            when: When {
                method: text(&self.method),
                path: text(&self.path),
                query: text(&self.query_name).map(|name| QueryMatch {
                    name,
                    equals: text(&self.query_equals),
                }),
                header,
                body,
                compiled: Default::default(),
            },
            answers: statuses
                .into_iter()
                .map(|status| Answer {
                    status,
                    headers: headers.clone(),
                    body: self.body.clone(),
                    delay_ms,
                    hang: self.hang,
                })
                .collect(),
            then: if self.then == "cycle" {
                Then::Cycle
            } else {
                Then::RepeatLast
            },
            random,
        })
    }
}

/// The form field a [`rules::RuleError`] is about.
fn form_field(path: &str) -> &'static str {
    let tail = path.split_once("].").map_or(path, |(_, t)| t);
    let tail = tail.split_once("].").map_or(tail, |(_, t)| t);
    match tail {
        t if t.starts_with("name") => "name",
        t if t.starts_with("when.method") => "method",
        t if t.starts_with("when.path") => "path",
        t if t.starts_with("when.query") => "query_name",
        t if t.starts_with("when.header") => "header_name",
        t if t.starts_with("when.body.json_path") => "json_path",
        t if t.starts_with("when.body.equals") => "json_equals",
        t if t.starts_with("when.body") => "body_contains",
        "status" => "statuses",
        "headers" => "headers",
        "body" => "body",
        "delay_ms" => "delay_ms",
        t if t.starts_with("random") => "random_percent",
        _ => "statuses",
    }
}

async fn page<B>(
    app: &App,
    req: &Request<B>,
    bin: BinId,
    view: View,
) -> Result<Response<Body>, WebError> {
    let b = app.store.get_bin(&bin).await?;
    let settings = app.store.bin_settings(&bin).await?;
    let counts = app.store.rule_steps(&bin).await?;
    let n = settings.rules.len();
    let rows = settings
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| RuleRow {
            name: r.name.clone(),
            when: summary(&r.when),
            answers: answers_text(r),
            matched: r.counts().then(|| {
                counts
                    .iter()
                    .find(|(k, _)| *k == r.name)
                    .map_or(0, |(_, c)| *c)
            }),
            first: i == 0,
            last: i + 1 == n,
        })
        .collect();
    let status = if view.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(
        status,
        &RulesPage {
            bin: BinView::new(&b, &app.base_url(req)),
            rules: rows,
            form: view.form,
            editing: view.editing,
            errors: view.errors,
            saved: view.saved,
            probe: view.probe,
            preview: view.preview,
        },
    )
}

#[derive(Default)]
struct View {
    form: RuleForm,
    editing: String,
    errors: FieldErrors,
    saved: Option<&'static str>,
    probe: ProbeForm,
    preview: Option<Preview>,
}

/// `GET /bins/{bin}/rules`, with `?edit=NAME` to fill the form with a rule.
pub async fn rules_page<B>(
    app: &App,
    req: &Request<B>,
    bin: BinId,
) -> Result<Response<Body>, WebError> {
    let q = query_pairs(req);
    let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let settings = app.store.bin_settings(&bin).await?;
    let mut view = View {
        saved: get("saved").and_then(|v| match v.as_str() {
            "saved" => Some("Rule saved; its sequence starts from the first answer."),
            "moved" => Some("Rule moved."),
            "deleted" => Some("Rule deleted."),
            "reset" => Some("Sequences start from their first answer again."),
            _ => None,
        }),
        form: RuleForm {
            statuses: "200".into(),
            delay_ms: "0".into(),
            header_op: "present".into(),
            ..RuleForm::default()
        },
        ..View::default()
    };
    if let Some(name) = get("edit")
        && let Some(rule) = settings.rules.iter().find(|r| r.name == name)
    {
        view.form = RuleForm::of(rule);
        view.editing = name;
    }
    page(app, req, bin, view).await
}

/// `POST /bins/{bin}/rules/{action}`: `save` (add, or replace `editing`), `up`, `down`,
/// `delete`, `reset`, `preview`.
pub async fn rules_action(
    app: &App,
    req: Request<Incoming>,
    bin: BinId,
    action: &str,
) -> Result<Response<Body>, WebError> {
    let (parts, body) = req.into_parts();
    let form = inspect::pairs(&read_small_body(Request::from_parts(parts.clone(), body)).await?);
    let req = Request::from_parts(parts, ());
    let settings = app.store.bin_settings(&bin).await?;
    let mut list = (*settings.rules).clone();
    let name = field(&form, "rule").to_owned();
    let at = list.iter().position(|r| r.name == name);
    let done = |what: &str| {
        Ok(response::see_other(&format!(
            "/bins/{bin}/rules?saved={what}#rules"
        )))
    };
    match (action, at) {
        ("up", Some(i)) if i > 0 => list.swap(i, i - 1),
        ("down", Some(i)) if i + 1 < list.len() => list.swap(i, i + 1),
        ("up" | "down", Some(_)) => return done("moved"),
        ("delete", Some(i)) => {
            list.remove(i);
        }
        ("reset", _) => {
            app.store.reset_rule_steps(&bin, None).await?;
            return done("reset");
        }
        ("preview", _) => {
            let probe = ProbeForm {
                method: field(&form, "probe_method").to_owned(),
                path: field(&form, "probe_path").to_owned(),
                headers: field(&form, "probe_headers").to_owned(),
                body: field(&form, "probe_body").to_owned(),
            };
            let mut errors = FieldErrors::default();
            let headers = errors
                .check(
                    "probe_headers",
                    bin_settings::header_lines(&probe.headers).and_then(|h| header_map(&h)),
                )
                .unwrap_or_default();
            let path = if probe.path.starts_with('/') {
                probe.path.clone()
            } else {
                format!("/{}", probe.path)
            };
            let (path, query) = path
                .split_once('?')
                .map_or((path.clone(), String::new()), |(p, q)| {
                    (p.to_owned(), q.to_owned())
                });
            let preview = match errors.is_empty() {
                true => Some(
                    preview_of(
                        app,
                        &bin,
                        probe.method.trim(),
                        &path,
                        &query,
                        &headers,
                        probe.body.as_bytes(),
                    )
                    .await?,
                ),
                false => None,
            };
            let form = RuleForm {
                statuses: "200".into(),
                header_op: "present".into(),
                ..RuleForm::default()
            };
            return page(
                app,
                &req,
                bin,
                View {
                    probe,
                    preview,
                    errors,
                    form,
                    ..View::default()
                },
            )
            .await;
        }
        ("save", _) => {
            let shown = RuleForm::read(&form);
            let editing = field(&form, "editing").to_owned();
            let mut errors = FieldErrors::default();
            if let Some(rule) = shown.rule(&mut errors) {
                match list
                    .iter()
                    .position(|r| r.name == editing && !editing.is_empty())
                {
                    Some(i) => list[i] = rule,
                    None => list.push(rule),
                }
                if let Err(e) = rules::check(&list) {
                    errors.add(form_field(&e.field), e.message);
                }
            }
            if !errors.is_empty() {
                return page(
                    app,
                    &req,
                    bin,
                    View {
                        form: shown,
                        editing,
                        errors,
                        ..View::default()
                    },
                )
                .await;
            }
            save(app, &bin, list).await?;
            return done("saved");
        }
        _ => {
            return Err(WebError::NotFound(format!(
                "bin {bin} has no rule {name:?}"
            )));
        }
    }
    save(app, &bin, list).await?;
    done(if action == "delete" {
        "deleted"
    } else {
        "moved"
    })
}

async fn save(app: &App, bin: &BinId, list: Vec<Rule>) -> Result<(), WebError> {
    let mut settings = (*app.store.bin_settings(bin).await?).clone();
    settings.rules = Arc::new(list);
    rules::check(&settings.rules).map_err(|e| WebError::BadRequest(e.to_string()))?;
    app.store.set_bin_settings(bin, settings).await?;
    app.store.reset_rule_steps(bin, None).await?;
    Ok(())
}
