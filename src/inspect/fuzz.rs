//! Property tests: everything that reads captured bytes for display must accept any input
//! without panicking, and the JSON re-indenter must never change what the JSON means.

use proptest::prelude::*;
use serde_json::Value;

use super::{pairs, pretty_json, view};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        "[\"\\\\{}\\[\\],: ]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("application/x-www-form-urlencoded".to_owned())),
        Just(Some("text/plain; charset=utf-8".to_owned())),
        "[a-zA-Z0-9'()+_,./:=?-]{0,20}"
            .prop_map(|b| Some(format!("multipart/form-data; boundary={b}"))),
        "\\PC{0,30}".prop_map(Some),
    ]
}

/// The text with all whitespace outside strings removed.
fn squeeze(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in s.chars() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

proptest! {
    #[test]
    fn pretty_printing_keeps_the_meaning_of_any_json(v in arb_json(), spaced in any::<bool>()) {
        let src = if spaced { serde_json::to_string_pretty(&v).unwrap() } else { serde_json::to_string(&v).unwrap() };
        let pretty = pretty_json(&src).expect("valid JSON is pretty-printed");
        // Only whitespace between tokens may change: every token stays byte for byte.
        prop_assert_eq!(squeeze(&pretty), squeeze(&src));
        prop_assert!(serde_json::from_str::<Value>(&pretty).is_ok());
    }

    #[test]
    fn pretty_printing_any_text_never_panics(s in "\\PC{0,200}") {
        let _ = pretty_json(&s);
    }

    #[test]
    fn any_body_under_any_type_is_viewable(ct in arb_content_type(), body in prop::collection::vec(any::<u8>(), 0..600), complete in any::<bool>()) {
        let _ = view(ct.as_deref(), &body, complete);
        let _ = pairs(&body);
    }

    #[test]
    fn multipart_shaped_bodies_never_panic(boundary in "[a-zA-Z0-9-]{1,12}", parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..5), tail in prop::collection::vec(any::<u8>(), 0..20)) {
        let mut body = Vec::new();
        for p in &parts {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n").as_bytes());
            body.extend_from_slice(p);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(&tail);
        let ct = format!("multipart/form-data; boundary={boundary}");
        let _ = view(Some(&ct), &body, true);
    }
}
