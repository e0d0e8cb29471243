//! Answer body templates: literal text with `{{ … }}` holes that copy a part of the request:
//! `request.id`, `request.method`, `request.path`, `request.query`, `now` (RFC 3339),
//! `header.NAME`, `query.NAME`, `json.PATH` (a [`jsonpath`](super::jsonpath) into the body),
//! and `body`. Nothing else exists: a template cannot run code, read a file or reach the
//! network. Each copied value is escaped for the answer's content type (inside a JSON string,
//! as HTML/XML text, or as is), and the output stops at [`MAX_OUTPUT`] bytes.

use super::jsonpath;
use super::matching::RequestView;

/// Largest rendered body.
pub const MAX_OUTPUT: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
enum Hole {
    Id,
    Method,
    Path,
    Query,
    Now,
    Body,
    Header(String),
    Param(String),
    Json(jsonpath::Path),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Hole(Hole),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Part>);

/// How copied values are escaped, chosen by the answer's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Inside a JSON string: quotes, backslashes and control characters escaped.
    Json,
    /// HTML or XML text: `& < > " '` as entities.
    Markup,
    None,
}

impl Escape {
    /// The escaping for an answer sent with this content type.
    pub fn for_type(content_type: Option<&str>) -> Escape {
        let t = content_type.unwrap_or("").to_ascii_lowercase();
        if t.contains("json") {
            Escape::Json
        } else if t.contains("html") || t.contains("xml") {
            Escape::Markup
        } else {
            Escape::None
        }
    }
}

impl Template {
    /// Parses a template; an unknown hole or an unclosed `{{` is refused.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or("a {{ without its }}")?;
            parts.push(Part::Hole(hole(after[..close].trim())?));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template(parts))
    }

    /// True when the template has no holes (its text is the answer as is).
    pub fn is_plain(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The body for `req`, stored as `id`, at most [`MAX_OUTPUT`] bytes.
    pub fn render(&self, req: &RequestView<'_>, id: &str, escape: Escape) -> Vec<u8> {
        let mut out = Vec::new();
        for part in &self.0 {
            if out.len() >= MAX_OUTPUT {
                break;
            }
            match part {
                Part::Text(t) => out.extend_from_slice(t.as_bytes()),
                Part::Hole(h) => {
                    let value = value(h, req, id);
                    push_escaped(&mut out, &value, escape);
                }
            }
        }
        out.truncate(MAX_OUTPUT);
        out
    }
}

fn hole(expr: &str) -> Result<Hole, String> {
    Ok(match expr {
        "request.id" => Hole::Id,
        "request.method" => Hole::Method,
        "request.path" => Hole::Path,
        "request.query" => Hole::Query,
        "now" => Hole::Now,
        "body" => Hole::Body,
        e if e.starts_with("header.") && e.len() > 7 => Hole::Header(e[7..].to_ascii_lowercase()),
        e if e.starts_with("query.") && e.len() > 6 => Hole::Param(e[6..].to_owned()),
        e if e.starts_with("json.") => Hole::Json(jsonpath::Path::parse(&e[5..])?),
        e => {
            return Err(format!(
                "{{{{{e}}}}} is not a template value (request.id, request.method, request.path, \
                 request.query, now, body, header.NAME, query.NAME, json.$.PATH)"
            ));
        }
    })
}

fn value<'a>(h: &Hole, req: &'a RequestView<'_>, id: &'a str) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    match h {
        Hole::Id => Cow::Borrowed(id),
        Hole::Method => Cow::Borrowed(req.method),
        Hole::Path => Cow::Borrowed(req.path),
        Hole::Query => Cow::Borrowed(req.query),
        Hole::Now => Cow::Owned(crate::time::format(chrono::Utc::now())),
        Hole::Body => String::from_utf8_lossy(&req.body[..req.body.len().min(MAX_OUTPUT)]),
        Hole::Header(name) => req
            .header(name)
            .map_or(Cow::Borrowed(""), String::from_utf8_lossy),
        Hole::Param(name) => Cow::Owned(req.param(name).unwrap_or_default()),
        Hole::Json(path) => match req.json().and_then(|doc| path.find(doc)) {
            Some(serde_json::Value::String(s)) => Cow::Borrowed(s.as_str()),
            Some(v) => Cow::Owned(v.to_string()),
            None => Cow::Borrowed(""),
        },
    }
}

fn push_escaped(out: &mut Vec<u8>, value: &str, escape: Escape) {
    let room = MAX_OUTPUT.saturating_sub(out.len());
    match escape {
        Escape::None => out.extend_from_slice(&value.as_bytes()[..value.len().min(room)]),
        Escape::Json => {
            let quoted = serde_json::to_string(value).expect("a string serializes");
            let inner = &quoted[1..quoted.len() - 1];
            out.extend_from_slice(&inner.as_bytes()[..inner.len().min(room)]);
        }
        Escape::Markup => {
            for c in value.chars() {
                if out.len() >= MAX_OUTPUT {
                    break;
                }
                match c {
                    '&' => out.extend_from_slice(b"&amp;"),
                    '<' => out.extend_from_slice(b"&lt;"),
                    '>' => out.extend_from_slice(b"&gt;"),
                    '"' => out.extend_from_slice(b"&quot;"),
                    '\'' => out.extend_from_slice(b"&#39;"),
                    c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
        }
    }
}
