//! The rule form: a rule shown as the form's fields, the fields read back into a rule (each
//! refusal put beside its field), and the preview form's fields.

use super::super::form::FieldErrors;
use crate::rules::{Answer, BodyMatch, HeaderMatch, QueryMatch, Random, Rule, Then, When};
use crate::web::{bin_settings, field};

/// The add/edit form's fields, as typed.
#[derive(Default, Clone)]
pub(super) struct RuleForm {
    pub(super) name: String,
    pub(super) method: String,
    pub(super) path: String,
    pub(super) query_name: String,
    pub(super) query_equals: String,
    pub(super) header_name: String,
    pub(super) header_op: String,
    pub(super) header_value: String,
    pub(super) body_contains: String,
    pub(super) json_path: String,
    pub(super) json_equals: String,
    pub(super) statuses: String,
    pub(super) headers: String,
    pub(super) body: String,
    pub(super) delay_ms: String,
    pub(super) then: String,
    pub(super) random_percent: String,
    pub(super) random_seed: String,
    pub(super) hang: bool,
}

/// The preview form's fields.
#[derive(Clone)]
pub(super) struct ProbeForm {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) headers: String,
    pub(super) body: String,
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

impl RuleForm {
    pub(super) fn of(r: &Rule) -> RuleForm {
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

    pub(super) fn read(form: &[(String, String)]) -> RuleForm {
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
    pub(super) fn rule(&self, errors: &mut FieldErrors) -> Option<Rule> {
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

/// The form field a [`crate::rules::RuleError`] is about.
pub(super) fn form_field(path: &str) -> &'static str {
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
