//! `GET /api`: the OpenAPI document as a readable page (operations by tag, then every schema),
//! rendered on the server from the same document `GET /api/openapi.json` serves, with hookbin's
//! own stylesheet and no script.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value};

use super::render;
use crate::web::api::openapi;
use crate::web::response::Body;
use crate::web::{App, WebError};

/// A piece of a type's description; `anchor` links to a schema on the same page.
pub struct Part {
    pub text: String,
    pub anchor: Option<String>,
}

impl Part {
    fn text(s: impl Into<String>) -> Part {
        Part {
            text: s.into(),
            anchor: None,
        }
    }
}

/// A run of a description: plain text, or `code` (written between backticks).
pub struct Span {
    pub code: bool,
    pub text: String,
}

/// A description split at its backticks, so code shows as code.
fn prose(text: &str) -> Vec<Span> {
    text.split('`')
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| Span {
            code: i % 2 == 1,
            text: t.to_owned(),
        })
        .collect()
}

/// A parameter, a property or a body: its name, type and what it means.
pub struct FieldView {
    pub name: String,
    pub place: String,
    pub required: bool,
    pub ty: Vec<Part>,
    pub description: Vec<Span>,
}

/// One status an operation answers with.
pub struct ResponseView {
    pub status: String,
    pub description: Vec<Span>,
    pub ty: Vec<Part>,
    pub media: String,
}

/// One operation: method and path, what it does, what it takes and answers.
pub struct OperationView {
    pub id: String,
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: Vec<Span>,
    pub public: bool,
    pub params: Vec<FieldView>,
    pub body: Option<FieldView>,
    pub example: Option<String>,
    pub responses: Vec<ResponseView>,
    /// Statuses of [`ApiPage::common`] this operation answers too (not repeated in its table).
    pub also: Vec<String>,
}

/// A named schema with its properties (or, for one that is not an object, its type).
pub struct SchemaView {
    pub name: String,
    pub description: Vec<Span>,
    pub ty: Vec<Part>,
    pub props: Vec<FieldView>,
    pub example: Option<String>,
}

#[derive(Template)]
#[template(path = "api.html")]
pub struct ApiPage {
    pub version: String,
    pub description: Vec<Span>,
    pub token: bool,
    pub tags: Vec<(String, Vec<OperationView>)>,
    pub schemas: Vec<SchemaView>,
    /// Errors every API operation may answer, listed once at the top.
    pub common: Vec<ResponseView>,
}

/// `GET /api`: the API reference page.
pub async fn api_docs(app: &App, req: &Request<Incoming>) -> Result<Response<Body>, WebError> {
    let doc = openapi::document(&app.base_url(req), app.config.token.is_some());
    render(StatusCode::OK, &page(&doc))
}

fn page(doc: &Value) -> ApiPage {
    let common = common_errors(doc);
    let common_codes: Vec<String> = common.iter().map(|(s, _)| s.clone()).collect();
    let mut tags: Vec<(String, Vec<OperationView>)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (str_of(&t["name"]), Vec::new()))
        .collect();
    for (path, item) in object(&doc["paths"]) {
        let shared = item["parameters"].as_array().cloned().unwrap_or_default();
        for (method, op) in object(item) {
            if method == "parameters" {
                continue;
            }
            let view = operation(doc, path, method, op, &shared, &common_codes);
            let tag = str_of(&op["tags"][0]);
            match tags.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, ops)) => ops.push(view),
                None => tags.push((tag, vec![view])),
            }
        }
    }
    tags.retain(|(_, ops)| !ops.is_empty());
    let schemas = object(&doc["components"]["schemas"])
        .map(|(name, s)| SchemaView {
            name: name.clone(),
            description: prose(&str_of(&s["description"])),
            ty: describe(s),
            props: object(&s["properties"])
                .map(|(p, ps)| field(p, "", required(s, p), ps))
                .collect(),
            example: s["examples"].get(0).map(pretty),
        })
        .collect();
    ApiPage {
        version: str_of(&doc["info"]["version"]),
        description: prose(&str_of(&doc["info"]["description"])),
        token: doc["security"].as_array().is_some_and(|s| !s.is_empty()),
        tags,
        schemas,
        common: common
            .iter()
            .map(|(status, r)| response(doc, status, r))
            .collect(),
    }
}

fn operation(
    doc: &Value,
    path: &str,
    method: &str,
    op: &Value,
    shared: &[Value],
    common: &[String],
) -> OperationView {
    let params = shared
        .iter()
        .chain(op["parameters"].as_array().into_iter().flatten())
        .map(|p| resolve(doc, p))
        .map(|p| {
            let name = str_of(&p["name"]);
            let mut f = field(
                &name,
                &str_of(&p["in"]),
                p["required"] == true,
                &p["schema"],
            );
            if let Some(d) = p["description"].as_str() {
                f.description = prose(d);
            }
            f
        })
        .collect();
    let body = Some(&op["requestBody"]).filter(|b| b.is_object()).map(|b| {
        let (media, content) = first(&b["content"]);
        let mut f = field("body", &media, b["required"] == true, &content["schema"]);
        if f.description.is_empty() {
            f.description = prose(&str_of(&b["description"]));
        }
        f
    });
    let example = op["requestBody"]["content"]
        .as_object()
        .and_then(|c| c.values().next())
        .map(|c| resolve(doc, &c["schema"]))
        .and_then(|s| s["examples"].get(0).map(pretty));
    let also = object(&op["responses"])
        .map(|(status, _)| status.clone())
        .filter(|status| common.contains(status))
        .collect();
    let responses = object(&op["responses"])
        .filter(|(status, _)| !common.contains(*status))
        .map(|(status, r)| response(doc, status, r))
        .collect();
    OperationView {
        id: str_of(&op["operationId"]),
        method: method.to_uppercase(),
        path: path.to_owned(),
        summary: str_of(&op["summary"]),
        description: prose(&str_of(&op["description"])),
        public: op["security"].as_array().is_some_and(Vec::is_empty),
        params,
        body,
        example,
        responses,
        also,
    }
}

fn response(doc: &Value, status: &str, r: &Value) -> ResponseView {
    let r = resolve(doc, r);
    let (media, content) = first(&r["content"]);
    ResponseView {
        status: status.to_owned(),
        description: prose(&str_of(&r["description"])),
        ty: if content.is_null() {
            Vec::new()
        } else {
            describe(&content["schema"])
        },
        media,
    }
}

/// The error statuses every operation of the API (captures aside) answers with the same shared
/// response, in status order.
fn common_errors(doc: &Value) -> Vec<(String, Value)> {
    let mut common: Option<Vec<(String, Value)>> = None;
    for (path, item) in object(&doc["paths"]) {
        for (_, op) in object(item).filter(|(m, _)| *m != "parameters") {
            if path.starts_with("/b/") {
                continue;
            }
            let shared: Vec<(String, Value)> = object(&op["responses"])
                .filter(|(_, r)| r["$ref"].is_string())
                .map(|(s, r)| (s.clone(), r.clone()))
                .collect();
            common = Some(match common {
                None => shared,
                Some(c) => c.into_iter().filter(|x| shared.contains(x)).collect(),
            });
        }
    }
    common.unwrap_or_default()
}

fn field(name: &str, place: &str, required: bool, schema: &Value) -> FieldView {
    FieldView {
        name: name.to_owned(),
        place: place.to_owned(),
        required,
        ty: describe(schema),
        description: prose(&description(schema)),
    }
}

/// A schema's own description, or the one of what it wraps (`allOf`/`oneOf`).
fn description(schema: &Value) -> String {
    if let Some(d) = schema["description"].as_str() {
        return d.to_owned();
    }
    ["allOf", "oneOf"]
        .iter()
        .flat_map(|k| schema[k].as_array().into_iter().flatten())
        .map(description)
        .find(|d| !d.is_empty())
        .unwrap_or_default()
}

/// A short, readable type: `Bin or null`, `array of Request`, `string matching ^…$`.
fn describe(schema: &Value) -> Vec<Part> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r).to_owned();
        return vec![Part {
            anchor: Some(format!("schema-{name}")),
            text: name,
        }];
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema[key].as_array() {
            let mut parts = Vec::new();
            for (i, s) in list.iter().enumerate() {
                if i > 0 {
                    parts.push(Part::text(" or "));
                }
                parts.extend(describe(s));
            }
            return parts;
        }
    }
    if let Some(c) = schema.get("const") {
        return vec![Part::text(c.to_string())];
    }
    if let Some(e) = schema["enum"].as_array() {
        let names: Vec<String> = e.iter().map(Value::to_string).collect();
        return vec![Part::text(format!("one of {}", names.join(", ")))];
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return vec![Part::text("any JSON")],
    };
    let mut parts = Vec::new();
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            parts.push(Part::text(" or "));
        }
        match *t {
            "array" if schema["prefixItems"].is_array() => {
                let items: Vec<String> = schema["prefixItems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| str_of(&s["type"]))
                    .collect();
                parts.push(Part::text(format!("[{}]", items.join(", "))));
            }
            "array" => {
                parts.push(Part::text("array of "));
                parts.extend(describe(&schema["items"]));
            }
            "object" if schema["properties"].is_object() => {
                parts.push(Part::text("{"));
                for (i, (name, prop)) in object(&schema["properties"]).enumerate() {
                    let sep = if i > 0 { ", " } else { "" };
                    parts.push(Part::text(format!("{sep}{name}: ")));
                    parts.extend(describe(prop));
                }
                parts.push(Part::text("}"));
            }
            t => parts.push(Part::text(format!("{t}{}", limits(schema)))),
        }
    }
    parts
}

/// The bounds a scalar schema sets, as words.
fn limits(schema: &Value) -> String {
    let mut out = String::new();
    if let Some(f) = schema["format"].as_str() {
        out += &format!(" ({f})");
    }
    if let (Some(lo), Some(hi)) = (schema["minimum"].as_i64(), schema["maximum"].as_i64()) {
        out += &format!(" from {lo} to {hi}");
    } else if let Some(lo) = schema["minimum"].as_i64() {
        out += &format!(" ≥ {lo}");
    }
    if let Some(p) = schema["pattern"].as_str() {
        out += &format!(" matching {p}");
    }
    if let Some(d) = schema.get("default") {
        out += &format!(", default {d}");
    }
    out
}

/// `value`, or what its `$ref` points to in `doc`.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).unwrap_or(value),
        None => value,
    }
}

fn required(schema: &Value, prop: &str) -> bool {
    schema["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|n| n == prop))
}

fn object(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    v.as_object().into_iter().flat_map(Map::iter)
}

/// The first media type of a `content` map and its entry (`Null` when there is none).
fn first(content: &Value) -> (String, &Value) {
    object(content)
        .next()
        .map(|(m, c)| (m.clone(), c))
        .unwrap_or((String::new(), &Value::Null))
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}
