//! Whether a request meets a rule's conditions. Each condition costs at most one pass over the
//! part it looks at; the body is parsed as JSON at most once per request, however many rules
//! ask, and not at all unless one does (serde_json's depth limit keeps a deeply nested body
//! from costing more than a refusal).

use std::sync::OnceLock;

use hyper::HeaderMap;
use serde_json::Value;

use super::{Answer, BodyMatch, Rule, glob::Glob, jsonpath};

/// The parts of a request rules look at.
pub struct RequestView<'a> {
    pub method: &'a str,
    /// The sub-path below the bin (`/` for the bin itself).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    json: OnceLock<Option<Value>>,
}

/// A rule's glob and JSON path, parsed on first use and kept with the rule. Two rules are
/// equal by what they say, not by whether they were used yet.
#[derive(Clone, Default)]
pub struct Compiled(OnceLock<(Option<Glob>, Option<jsonpath::Path>)>);

impl PartialEq for Compiled {
    fn eq(&self, _: &Compiled) -> bool {
        true
    }
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled")
    }
}

/// The rule that answered a request, and with which of its answers.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub rule: String,
    /// Which answer of the sequence (0 for a rule with one).
    pub step: usize,
    pub answer: Answer,
}

impl<'a> RequestView<'a> {
    pub fn new(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a HeaderMap,
        body: &'a [u8],
    ) -> RequestView<'a> {
        RequestView {
            method,
            path,
            query,
            headers,
            body,
            json: OnceLock::new(),
        }
    }

    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(|v| v.as_bytes())
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The body as JSON, parsed on first use; `None` when it is not JSON.
    pub fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| {
                let start = self.body.iter().find(|b| !b.is_ascii_whitespace())?;
                if !matches!(start, b'{' | b'[') {
                    return None;
                }
                serde_json::from_slice(self.body).ok()
            })
            .as_ref()
    }
}

impl Rule {
    /// Whether every condition of the rule holds for `req` (the random share aside).
    pub fn conditions_hold(&self, req: &RequestView<'_>) -> bool {
        let w = &self.when;
        let (glob, json_path) = w.compiled.0.get_or_init(|| {
            (
                w.path.as_deref().and_then(|p| Glob::parse(p).ok()),
                w.body
                    .as_ref()
                    .and_then(|b| b.json_path.as_deref())
                    .and_then(|p| jsonpath::Path::parse(p).ok()),
            )
        });
        if let Some(m) = &w.method
            && !m.eq_ignore_ascii_case(req.method)
        {
            return false;
        }
        if w.path.is_some() && !glob.as_ref().is_some_and(|g| g.matches(req.path)) {
            return false;
        }
        if let Some(q) = &w.query {
            match (req.param(&q.name), &q.equals) {
                (None, _) => return false,
                (Some(v), Some(want)) if &v != want => return false,
                _ => {}
            }
        }
        if let Some(h) = &w.header {
            let Some(value) = req.header(&h.name.to_ascii_lowercase()) else {
                return false;
            };
            if let Some(want) = &h.equals
                && value != want.as_bytes()
            {
                return false;
            }
            if let Some(part) = &h.contains
                && memchr::memmem::find(value, part.as_bytes()).is_none()
            {
                return false;
            }
        }
        if let Some(b) = &w.body
            && !body_holds(b, json_path.as_ref(), req)
        {
            return false;
        }
        true
    }
}

fn body_holds(b: &BodyMatch, path: Option<&jsonpath::Path>, req: &RequestView<'_>) -> bool {
    if let Some(part) = &b.contains {
        return memchr::memmem::find(req.body, part.as_bytes()).is_some();
    }
    let (Some(path), Some(want)) = (path, &b.equals) else {
        return false;
    };
    req.json().and_then(|doc| path.find(doc)) == Some(want)
}
