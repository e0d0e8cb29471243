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
use crate::model::BinId;
use crate::rules::{self, Rule, Then, When};
use crate::web::api::{Preview, header_map, preview_of};
use crate::web::response::{self, Body};
use crate::web::{App, WebError, bin_settings, field, query_pairs, read_form};
use form::{ProbeForm, RuleForm, form_field};

mod form;

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
    let (req, form) = read_form(req).await?;
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
