use hyper::HeaderMap;
use serde_json::json;

use super::template::{Escape, Template};
use super::*;

fn rules(v: serde_json::Value) -> Vec<Rule> {
    serde_json::from_value(v).unwrap()
}

fn view<'a>(
    method: &'a str,
    path: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
) -> RequestView<'a> {
    RequestView::new(method, path, "page=2&x=a%20b", headers, body)
}

#[test]
fn conditions_all_hold_or_the_rule_does_not_match() {
    let r = &rules(json!([{
        "name": "paid",
        "when": {"method": "post", "path": "/orders/*", "query": {"name": "x", "equals": "a b"},
                 "header": {"name": "X-Kind", "contains": "pay"},
                 "body": {"json_path": "$.event", "equals": "payment_received"}},
        "answers": [{"status": 202}]
    }]))[0];
    let mut h = HeaderMap::new();
    h.insert("x-kind", "payment".parse().unwrap());
    let body = br#"{"event": "payment_received"}"#;
    assert!(r.conditions_hold(&view("POST", "/orders/7", &h, body)));
    assert!(!r.conditions_hold(&view("GET", "/orders/7", &h, body)));
    assert!(!r.conditions_hold(&view("POST", "/orders/7/x", &h, body)));
    assert!(!r.conditions_hold(&view("POST", "/orders/7", &HeaderMap::new(), body)));
    assert!(!r.conditions_hold(&view("POST", "/orders/7", &h, br#"{"event": "other"}"#)));
    assert!(!r.conditions_hold(&view("POST", "/orders/7", &h, b"not json")));
}

#[test]
fn a_deeply_nested_body_is_just_not_json() {
    let r = &rules(
        json!([{"name": "deep", "when": {"body": {"json_path": "$.a", "equals": 1}},
                           "answers": [{}]}]),
    )[0];
    let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(!r.conditions_hold(&view("POST", "/", &HeaderMap::new(), body.as_bytes())));
}

#[test]
fn sequences_repeat_the_last_or_cycle() {
    let mut r = rules(
        json!([{"name": "s", "answers": [{"status": 500}, {"status": 500}, {"status": 200}]}]),
    )
    .remove(0);
    let statuses: Vec<u16> = (0..5).map(|n| r.answer(n).1.status).collect();
    assert_eq!(statuses, [500, 500, 200, 200, 200]);
    r.then = Then::Cycle;
    let statuses: Vec<u16> = (0..5).map(|n| r.answer(n).1.status).collect();
    assert_eq!(statuses, [500, 500, 200, 500, 500]);
}

#[test]
fn a_seeded_share_is_the_same_every_time_and_about_its_size() {
    let r = Random {
        percent: 30,
        seed: 7,
    };
    let picks: Vec<bool> = (0..10_000).map(|n| r.picks(n)).collect();
    assert_eq!(picks, (0..10_000).map(|n| r.picks(n)).collect::<Vec<_>>());
    let share = picks.iter().filter(|p| **p).count();
    assert!((2_700..3_300).contains(&share), "{share}");
    let other: Vec<bool> = (0..100)
        .map(|n| {
            Random {
                percent: 30,
                seed: 8,
            }
            .picks(n)
        })
        .collect();
    assert_ne!(picks[..100], other[..]);
}

#[test]
fn templates_copy_the_request_escaped_for_the_answer() {
    let mut h = HeaderMap::new();
    h.insert("x-id", "a\"<b>".parse().unwrap());
    let body = br#"{"event": "payment_received", "n": 3}"#;
    let v = view("POST", "/p", &h, body);
    let t = Template::parse(r#"{"id": "{{request.id}}", "x": "{{ header.X-Id }}", "e": "{{json.$.event}}", "n": {{json.$.n}}, "q": "{{query.x}}"}"#).unwrap();
    let out = String::from_utf8(t.render(&v, "01ab", Escape::Json)).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        parsed,
        json!({"id": "01ab", "x": "a\"<b>", "e": "payment_received", "n": 3, "q": "a b"})
    );
    let html = Template::parse("<p>{{header.x-id}}</p>")
        .unwrap()
        .render(&v, "1", Escape::Markup);
    assert_eq!(html, b"<p>a&quot;&lt;b&gt;</p>");
    assert!(Template::parse("{{env.HOME}}").is_err());
    assert!(Template::parse("{{request.id").is_err());
    assert!(Template::parse("no holes").unwrap().is_plain());
}

#[test]
fn a_template_output_is_bounded() {
    let big = vec![b'a'; 3 * template::MAX_OUTPUT];
    let h = HeaderMap::new();
    let v = view("POST", "/", &h, &big);
    let t = Template::parse("{{body}}{{body}}{{body}}").unwrap();
    assert_eq!(t.render(&v, "1", Escape::None).len(), template::MAX_OUTPUT);
}

#[test]
fn bad_rules_are_refused_naming_the_field() {
    let field = |v: serde_json::Value| check(&rules(v)).unwrap_err().field;
    assert_eq!(
        field(json!([{"name": "a", "answers": [{"status": 99}]}])),
        "rules[0].answers[0].status"
    );
    assert_eq!(
        field(json!([{"name": "a", "answers": [{}]}, {"name": "a", "answers": [{}]}])),
        "rules[1].name"
    );
    assert_eq!(
        field(json!([{"name": "a", "when": {"path": "orders"}, "answers": [{}]}])),
        "rules[0].when.path"
    );
    assert_eq!(
        field(json!([{"name": "a", "answers": [{"body": "x".repeat(MAX_TEMPLATE + 1)}]}])),
        "rules[0].answers[0].body"
    );
    assert_eq!(
        field(json!([{"name": "a", "answers": [{"body": "{{nope}}"}]}])),
        "rules[0].answers[0].body"
    );
    assert_eq!(
        field(json!([{"name": "a", "answers": []}])),
        "rules[0].answers"
    );
    assert_eq!(
        field(json!([{"name": "a", "answers": [{"headers": [["content-length", "1"]]}]}])),
        "rules[0].answers[0].headers"
    );
    assert_eq!(
        field(json!([{"name": "a", "random": {"percent": 100}, "answers": [{}]}])),
        "rules[0].random.percent"
    );
    let many: Vec<serde_json::Value> = (0..=MAX_RULES)
        .map(|i| json!({"name": format!("r{i}"), "answers": [{}]}))
        .collect();
    assert_eq!(field(json!(many)), "rules");
    assert!(check(&rules(json!([{"name": "ok", "when": {"path": "/**"}, "answers": [{"status": 503, "delay_ms": 10}]}]))).is_ok());
}
