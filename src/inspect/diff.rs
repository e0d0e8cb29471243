//! Comparing two captured requests: their request lines, their headers (added, removed,
//! changed), and their bodies, JSON by structure (a change is reported at its path, key order
//! ignored) and other text line by line. Pure functions; the page renders the result.
//!
//! Bounded like every view of captured content: bodies are compared up to the size the page
//! loads, the JSON walk is linear in the two documents, and the line diff has a deadline after
//! which it settles for a coarser (still correct) answer.

use std::time::Duration;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

/// How long the line diff may search for the smallest set of changes.
const LINE_DIFF_DEADLINE: Duration = Duration::from_millis(200);
/// Values longer than this are cut in the list of JSON changes.
const SHOWN_VALUE: usize = 300;

/// How one item compares between the left and the right request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Same,
    Added,
    Removed,
    Changed,
}

impl Change {
    /// A word for the item's row (also its CSS class suffix).
    pub fn as_str(&self) -> &'static str {
        match self {
            Change::Same => "same",
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }

    fn of(left: Option<&str>, right: Option<&str>) -> Change {
        match (left, right) {
            (Some(a), Some(b)) if a == b => Change::Same,
            (Some(_), Some(_)) => Change::Changed,
            (None, Some(_)) => Change::Added,
            (Some(_), None) => Change::Removed,
            (None, None) => Change::Same,
        }
    }
}

/// One compared item: a request-line part, a header, or a JSON path.
#[derive(Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub left: Option<String>,
    pub right: Option<String>,
    pub change: Change,
}

impl Row {
    pub fn new(name: impl Into<String>, left: Option<String>, right: Option<String>) -> Row {
        let change = Change::of(left.as_deref(), right.as_deref());
        Row {
            name: name.into(),
            left,
            right,
            change,
        }
    }
}

/// Headers compared by name (case-insensitively; repeated headers as one list of values),
/// in the order they first appear on the left, then those only on the right.
pub fn headers(left: &[(String, String)], right: &[(String, String)]) -> Vec<Row> {
    let mut names: Vec<String> = Vec::new();
    for (n, _) in left.iter().chain(right) {
        let n = n.to_ascii_lowercase();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let values = |list: &[(String, String)], name: &str| {
        let v: Vec<&str> = list
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!v.is_empty()).then(|| v.join("\n"))
    };
    names
        .iter()
        .map(|n| Row::new(n.clone(), values(left, n), values(right, n)))
        .collect()
}

/// The differences between two JSON documents, each at its path (`$.a.b[2]`); equal parts are
/// left out. Object keys are matched by name, array items by position.
pub fn json(left: &Value, right: &Value) -> Vec<Row> {
    let mut out = Vec::new();
    walk("$".to_owned(), Some(left), Some(right), &mut out);
    out
}

fn shown(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > SHOWN_VALUE {
        let mut cut = SHOWN_VALUE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn key_path(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_owned()))
    }
}

fn walk(path: String, left: Option<&Value>, right: Option<&Value>, out: &mut Vec<Row>) {
    match (left, right) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (k, va) in a {
                walk(key_path(&path, k), Some(va), b.get(k), out);
            }
            for (k, vb) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                walk(key_path(&path, k), None, Some(vb), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                walk(format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Row::new(path, a.map(shown), b.map(shown))),
    }
}

/// One line of a line-by-line comparison.
#[derive(Debug, PartialEq)]
pub struct DiffLine {
    pub change: Change,
    pub text: String,
}

/// Two texts compared line by line: unchanged lines, and lines removed from the left or added
/// on the right.
pub fn lines(left: &str, right: &str) -> Vec<DiffLine> {
    TextDiff::configure()
        .timeout(LINE_DIFF_DEADLINE)
        .diff_lines(left, right)
        .iter_all_changes()
        .map(|c| DiffLine {
            change: match c.tag() {
                ChangeTag::Equal => Change::Same,
                ChangeTag::Delete => Change::Removed,
                ChangeTag::Insert => Change::Added,
            },
            text: c.value().trim_end_matches(['\n', '\r']).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_changes_are_found_by_path_whatever_the_key_order() {
        let a: Value = serde_json::from_str(
            r#"{"id": 1, "amount": 10, "customer": {"email": "a@x", "tags": ["vip"]}, "gone": true, "a b": 1}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"customer": {"tags": ["vip", "eu"], "email": "a@x"}, "amount": 20, "id": 1, "new": null, "a b": 2}"#,
        )
        .unwrap();
        let got = json(&a, &b);
        let want = vec![
            Row::new("$.amount", Some("10".into()), Some("20".into())),
            Row::new("$.customer.tags[1]", None, Some("\"eu\"".into())),
            Row::new("$.gone", Some("true".into()), None),
            Row::new("$[\"a b\"]", Some("1".into()), Some("2".into())),
            Row::new("$.new", None, Some("null".into())),
        ];
        assert_eq!(got, want);
        assert_eq!(got[0].change, Change::Changed);
        assert_eq!(got[1].change, Change::Added);
        assert_eq!(got[2].change, Change::Removed);
        assert!(json(&a, &a).is_empty());
    }

    #[test]
    fn headers_compare_by_name_with_repeats_kept() {
        let h = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let left = h(&[("Host", "x"), ("X-A", "1"), ("Via", "a"), ("Via", "b")]);
        let right = h(&[("host", "x"), ("via", "a"), ("x-b", "2")]);
        let rows = headers(&left, &right);
        let changes: Vec<(&str, Change)> =
            rows.iter().map(|r| (r.name.as_str(), r.change)).collect();
        assert_eq!(
            changes,
            vec![
                ("host", Change::Same),
                ("x-a", Change::Removed),
                ("via", Change::Changed),
                ("x-b", Change::Added)
            ]
        );
        assert_eq!(rows[2].left.as_deref(), Some("a\nb"));
    }

    #[test]
    fn text_is_compared_line_by_line() {
        let got = lines("a\nb\nc\n", "a\nB\nc\nd\n");
        let tags: Vec<(Change, &str)> = got.iter().map(|l| (l.change, l.text.as_str())).collect();
        assert_eq!(
            tags,
            vec![
                (Change::Same, "a"),
                (Change::Removed, "b"),
                (Change::Added, "B"),
                (Change::Same, "c"),
                (Change::Added, "d")
            ]
        );
    }
}
