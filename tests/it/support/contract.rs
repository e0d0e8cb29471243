//! Holds every answer the tests receive from the API (and from captures) to hookbin's OpenAPI
//! document: its status must be one the operation documents, and a JSON body must validate
//! against the schema documented for that status, by the `jsonschema` crate (draft 2020-12,
//! which OpenAPI 3.1 uses, with formats such as `date-time` asserted).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use hookbin::web::openapi;
use serde_json::Value;

use super::Resp;

/// Compiled validators by the JSON pointer of their schema in the document.
static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> =
    LazyLock::new(Default::default);

/// Answers checked so far in this test process, so a test can tell the check ran.
pub static CHECKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A validator for the schema at `pointer` (`#/...`) in the document: the whole document with
/// a root `$ref`, so references inside it resolve as they do for any OpenAPI tool.
fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    let cached = VALIDATORS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(pointer)
        .cloned();
    if let Some(v) = cached {
        return v;
    }
    let mut root = openapi::DOCUMENT.clone();
    root["$ref"] = Value::String(pointer.to_owned());
    let v = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}"));
    let v = Arc::new(v);
    VALIDATORS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(pointer.to_owned(), v.clone());
    v
}

/// One JSON pointer token (RFC 6901) as it is written in a URI fragment.
fn token(s: &str) -> String {
    s.replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// Validates `body` (JSON) against the schema at `pointer`, failing with every violation.
pub fn validate(pointer: &str, body: &Value, what: &str) {
    let v = validator(pointer);
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the OpenAPI document ({pointer}):\n{}\nbody: {body}",
        errors.join("\n")
    );
}

/// Checks one answer to `method path_and_query` against the document; paths outside the API
/// and captures (pages, assets, metrics) are left alone.
pub fn check(method: &str, path_and_query: &str, resp: &Resp) {
    let path = path_and_query.split('?').next().unwrap_or("");
    if !(path.starts_with("/api/") || path.starts_with("/b/")) {
        return;
    }
    let what = format!("{method} {path} → {}", resp.status.as_u16());
    let Some((template, item)) = openapi::path_item(path) else {
        // Not a documented path: only "no such route" may come back.
        assert_eq!(
            resp.status.as_u16(),
            404,
            "{what}: an undocumented path answered"
        );
        return error_body(resp, &what);
    };
    let head = method == "HEAD";
    let method = match method.to_ascii_lowercase() {
        _ if head => "get".to_owned(),
        // Captures take any method; the document lists the usual ones, all alike.
        m if template == "/b/{bin}" && item.get(&m).is_none() => "post".to_owned(),
        m => m,
    };
    let Some(op) = item.get(&method) else {
        assert_eq!(
            resp.status.as_u16(),
            405,
            "{what}: an undocumented method answered"
        );
        assert!(
            resp.headers.contains_key("allow"),
            "{what}: 405 without Allow"
        );
        return error_body(resp, &what);
    };
    if template == "/b/{bin}" && !own_capture_answer(resp) {
        // The bin's configured answer (documented as `default`): whatever its owner set.
        return;
    }
    let status = resp.status.as_u16().to_string();
    let (key, entry) = match op["responses"].get(&status) {
        Some(e) => (status.clone(), e),
        None => match op["responses"].get("default") {
            // A bin's configured answer: anything the user set.
            Some(_) => return,
            None => panic!(
                "{what}: status {status} is not documented for {} {template}: {}",
                method.to_uppercase(),
                resp.text()
            ),
        },
    };
    CHECKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = match entry["$ref"].as_str() {
        Some(r) => r.to_owned(),
        None => format!("#/paths/{}/{method}/responses/{key}", token(template)),
    };
    let entry = if entry["$ref"].is_string() {
        openapi::DOCUMENT
            .pointer(base.trim_start_matches('#'))
            .expect("the $ref resolves")
    } else {
        entry
    };
    let Some(content) = entry["content"].as_object() else {
        assert!(
            resp.body.is_empty(),
            "{what}: documented without a body, got {}",
            resp.text()
        );
        return;
    };
    let ctype = resp
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content.contains_key("application/json") {
        assert!(
            ctype.starts_with("application/json"),
            "{what}: documented as JSON, sent as '{ctype}'"
        );
        if head {
            return;
        }
        let body: Value = serde_json::from_slice(&resp.body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", resp.text()));
        validate(
            &format!("{base}/content/application~1json/schema"),
            &body,
            &what,
        );
    } else {
        let documented = content
            .keys()
            .any(|m| m == "*/*" || ctype.split(';').next().is_some_and(|c| c.trim() == m));
        assert!(
            documented,
            "{what}: sent as '{ctype}', documented as {:?}",
            content.keys()
        );
    }
}

/// Whether a capture's answer is hookbin's own (`{"ok", "request_id"}` or `{"error"}`) rather
/// than an answer the bin was set to give, which may use any status and body.
fn own_capture_answer(resp: &Resp) -> bool {
    serde_json::from_slice::<Value>(&resp.body).is_ok_and(|v| {
        v.as_object().is_some_and(|o| {
            o.len() == 1 && o.contains_key("error") || o.contains_key("request_id")
        })
    })
}

/// An error answer's body: `{"error": "..."}` as the document's `Error` schema says.
fn error_body(resp: &Resp, what: &str) {
    let body: Value = serde_json::from_slice(&resp.body)
        .unwrap_or_else(|e| panic!("{what}: error answer not JSON ({e}): {}", resp.text()));
    validate("#/components/schemas/Error", &body, what);
}
