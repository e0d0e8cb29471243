//! Answer rules: a bin answers by what arrived, in order, with sequences that fail and then
//! succeed; a sender pointed at it is seen retrying, attempt by attempt, from both sides.

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::support::{Req, Resp, TestServer, eventually};

async fn put_rules(s: &TestServer, bin: &str, rules: Value) -> Resp {
    s.send(
        Req::new("PUT", &format!("/api/bins/{bin}/rules"))
            .header("content-type", "application/json")
            .body(json!({ "rules": rules }).to_string()),
    )
    .await
}

fn post(path: &str, body: &str) -> Req {
    Req::new("POST", path)
        .header("content-type", "application/json")
        .body(body.to_owned())
}

/// The newest capture of `bin`, as the API shows it.
async fn newest(s: &TestServer, bin: &str) -> Value {
    s.get(&format!("/api/bins/{bin}/requests?limit=1"))
        .await
        .json()["requests"][0]
        .clone()
}

#[tokio::test]
async fn the_first_matching_rule_answers_and_the_capture_says_which() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let r = put_rules(
        &s,
        &bin,
        json!([
            {"name": "refunds gone", "when": {"path": "/refunds/**"}, "answers": [{"status": 410}]},
            {"name": "paid", "when": {"method": "POST", "body": {"json_path": "$.event", "equals": "payment_received"}},
             "answers": [{"status": 202, "headers": [["content-type", "application/json"], ["x-rule", "paid"]],
                          "body": "{\"seen\": \"{{json.$.event}}\", \"id\": \"{{request.id}}\", \"from\": \"{{header.x-sender}}\"}"}]},
            {"name": "tagged", "when": {"query": {"name": "tag", "equals": "a b"}}, "answers": [{"status": 201, "body": "tag {{query.tag}}"}]}
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["rules"].as_array().unwrap().len(), 3);

    let gone = s.send(post(&format!("/b/{bin}/refunds/7/x"), "{}")).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(newest(&s, &bin).await["response_rule"], "refunds gone");
    assert_eq!(newest(&s, &bin).await["response_status"], 410);

    let paid = s
        .send(
            post(
                &format!("/b/{bin}/hooks"),
                r#"{"event": "payment_received"}"#,
            )
            .header("x-sender", "a\"quote"),
        )
        .await;
    assert_eq!(paid.status, StatusCode::ACCEPTED);
    assert_eq!(paid.header("x-rule"), "paid");
    let stored = newest(&s, &bin).await;
    assert_eq!(
        paid.json(),
        json!({"seen": "payment_received", "id": stored["id"], "from": "a\"quote"}),
        "the template copies the request, escaped for JSON"
    );
    assert_eq!(stored["response_rule"], "paid");

    let tagged = s
        .send(Req::new("GET", &format!("/b/{bin}?tag=a%20b")))
        .await;
    assert_eq!(
        (tagged.status, tagged.text()),
        (StatusCode::CREATED, "tag a b".into())
    );

    // No rule matches: the bin's default answer, and no rule named.
    let id = s
        .capture(&bin, post("/other", r#"{"event": "other"}"#))
        .await;
    let plain = s.get(&format!("/api/requests/{id}")).await.json();
    assert!(plain["response_rule"].is_null());
    assert_eq!(plain["response_status"], 200);
}

#[tokio::test]
async fn a_sequence_fails_then_succeeds_and_starts_again_on_reset() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let seq = json!([{"name": "fail twice", "answers": [{"status": 500}, {"status": 500}, {"status": 200, "body": "ok"}]}]);
    assert_eq!(put_rules(&s, &bin, seq).await.status, StatusCode::OK);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            s.send(post(&format!("/b/{bin}"), "{}"))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [500, 500, 200, 200]);
    let rules = s.get(&format!("/api/bins/{bin}/rules")).await.json();
    assert_eq!(rules["counts"]["fail twice"], 4);

    // The preview tells what the next request would get, without counting it.
    let preview = s
        .post_json(
            &format!("/api/bins/{bin}/rules/preview"),
            json!({"method": "POST", "path": "/x"}),
        )
        .await;
    assert_eq!(preview.json()["status"], 200);
    assert_eq!(preview.json()["rule"], "fail twice");

    let reset = s
        .post_json(&format!("/api/bins/{bin}/rules/reset"), json!({}))
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text());
    assert_eq!(
        s.send(post(&format!("/b/{bin}"), "{}")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let unknown = s
        .post_json(
            &format!("/api/bins/{bin}/rules/reset"),
            json!({"rule": "nope"}),
        )
        .await;
    unknown.assert_error(StatusCode::BAD_REQUEST);

    // Rules and where each sequence stands survive a restart.
    let s = s.restart().await;
    assert_eq!(
        s.send(post(&format!("/b/{bin}"), "{}")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        s.send(post(&format!("/b/{bin}"), "{}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_seeded_random_share_fails_the_same_requests_every_time() {
    let s = TestServer::start().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let bin = s.new_bin().await;
        let flaky = json!([{"name": "flaky", "random": {"percent": 30, "seed": 42}, "answers": [{"status": 503}]}]);
        assert_eq!(put_rules(&s, &bin, flaky).await.status, StatusCode::OK);
        let mut run = Vec::new();
        for _ in 0..60 {
            run.push(
                s.send(post(&format!("/b/{bin}"), "{}"))
                    .await
                    .status
                    .as_u16(),
            );
        }
        runs.push(run);
    }
    assert_eq!(runs[0], runs[1], "the same seed fails the same requests");
    let failed = runs[0].iter().filter(|s| **s == 503).count();
    assert!(
        (8..=30).contains(&failed),
        "about 30% of 60 failed: {failed}"
    );
    assert!(runs[0].iter().all(|s| *s == 503 || *s == 200));
}

#[tokio::test]
async fn a_bad_rule_is_refused_naming_the_field_and_nothing_is_saved() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let good = json!([{"name": "kept", "answers": [{"status": 418}]}]);
    assert_eq!(
        put_rules(&s, &bin, good.clone()).await.status,
        StatusCode::OK
    );
    let cases = [
        (
            json!([{"name": "a", "answers": [{"status": 700}]}]),
            "rules[0].answers[0].status",
        ),
        (
            json!([{"name": "a", "when": {"path": "(a+)+$"}, "answers": [{}]}]),
            "rules[0].when.path",
        ),
        (
            json!([{"name": "a", "answers": [{"body": "x".repeat(1024 * 1024)}]}]),
            "rules[0].answers[0].body",
        ),
        (
            json!([{"name": "a", "answers": [{"body": "{{ env.HOME }}"}]}]),
            "rules[0].answers[0].body",
        ),
        (
            json!([{"name": "a", "answers": [{}]}, {"name": "a", "answers": [{}]}]),
            "rules[1].name",
        ),
        (
            json!(
                (0..1000)
                    .map(|i| json!({"name": format!("r{i}"), "answers": [{}]}))
                    .collect::<Vec<_>>()
            ),
            "rules:",
        ),
        (
            json!([{"name": "a", "when": {"body": {"json_path": "event", "equals": 1}}, "answers": [{}]}]),
            "rules[0].when.body.json_path",
        ),
        (
            json!([{"name": "a", "answers": [{"staus": 200}]}]),
            "unknown field",
        ),
        (
            json!([{"name": "a", "when": [null, null], "answers": [{}]}]),
            "rules[0].when must be a JSON object",
        ),
        (
            json!([{"name": "a", "answers": [[200]]}]),
            "rules[0].answers[0] must be a JSON object",
        ),
    ];
    for (rules, field) in cases {
        let r = put_rules(&s, &bin, rules).await;
        let message = r.assert_error(StatusCode::BAD_REQUEST);
        assert!(message.contains(field), "{field}: {message}");
    }
    let now = s.get(&format!("/api/bins/{bin}/rules")).await.json();
    assert_eq!(
        now["rules"].as_array().unwrap().len(),
        1,
        "a refused list changed nothing"
    );
    assert_eq!(now["rules"][0]["name"], good[0]["name"]);
    assert_eq!(
        s.send(post(&format!("/b/{bin}"), "{}"))
            .await
            .status
            .as_u16(),
        418
    );
}

#[tokio::test]
async fn a_huge_nested_body_against_json_rules_costs_a_bounded_answer() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let rules: Vec<Value> = (0..50)
        .map(|i| json!({"name": format!("r{i}"), "when": {"path": "/**/x*y*z", "body": {"json_path": "$.a.b.c", "equals": i}}, "answers": [{"status": 500}]}))
        .collect();
    assert_eq!(
        put_rules(&s, &bin, json!(rules)).await.status,
        StatusCode::OK
    );
    let deep = format!(
        "{}{}",
        "[".repeat(5 * 1024 * 1024),
        "]".repeat(5 * 1024 * 1024)
    );
    let r = s.send(post(&format!("/b/{bin}/a/xyz"), &deep)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "no rule could read it: the bin's own answer"
    );
    let other = s.new_bin().await;
    s.capture(&other, post("/", "{}")).await;
}

#[tokio::test]
async fn a_rule_that_never_answers_holds_the_request_but_keeps_it() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let hang =
        json!([{"name": "black hole", "when": {"path": "/slow"}, "answers": [{"hang": true}]}]);
    assert_eq!(put_rules(&s, &bin, hang).await.status, StatusCode::OK);
    let url = s.url(&format!("/b/{bin}/slow"));
    let waited = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "--max-time", "2", "-d", "x", &url])
            .status()
            .unwrap()
    });
    let stored = eventually(10, "the held request to be stored", || async {
        let r = newest(&s, &bin).await;
        (r["response_rule"] == "black hole").then_some(r)
    })
    .await;
    assert_eq!(stored["path"], format!("/b/{bin}/slow"));
    let status = waited.await.unwrap();
    assert_eq!(
        status.code(),
        Some(28),
        "curl gave up waiting (exit 28): no answer came"
    );
    // Other requests to the same bin are answered meanwhile.
    s.capture(&bin, post("/fast", "{}")).await;
}

#[tokio::test]
async fn a_sender_against_a_failing_rule_is_seen_retrying_from_both_sides() {
    let s = TestServer::start_with(|c| {
        c.retry = hookbin::sender::retry::RetrySchedule::parse("50ms,50ms,50ms").unwrap()
    })
    .await;
    let bin = s.new_bin().await;
    let seq = json!([{"name": "fail twice", "answers": [{"status": 500, "body": "down"}, {"status": 500, "body": "down"}, {"status": 200}]}]);
    assert_eq!(put_rules(&s, &bin, seq).await.status, StatusCode::OK);
    let hook = s
        .new_webhook("Orders", &s.url(&format!("/b/{bin}")), "payment_received")
        .await;

    // Send Test Event shows the first answer of the sequence, honestly.
    let test = s.test_send(&hook).await;
    assert_eq!(test["ok"], false, "{test}");
    assert_eq!(test["status"], 500);
    s.post_json(&format!("/api/bins/{bin}/rules/reset"), json!({}))
        .await;

    let fired = s
        .post_json("/api/events/payment_received", json!({"payment_id": 7}))
        .await
        .json();
    let d = s
        .settled(fired["deliveries"][0]["id"].as_str().unwrap())
        .await;
    assert_eq!(d["state"], "succeeded");
    let attempts: Vec<&Value> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(attempts, [&json!(500), &json!(500), &json!(200)]);

    // The bin caught the same three attempts: same message id, answered by the rule in turn.
    let page = s
        .get(&format!("/api/bins/{bin}/requests?limit=10"))
        .await
        .json();
    let caught: Vec<&Value> = page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .collect();
    let statuses: Vec<&Value> = caught.iter().rev().map(|r| &r["response_status"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
    assert!(caught.iter().all(|r| r["response_rule"] == "fail twice"));
    let ids: std::collections::BTreeSet<String> = caught
        .iter()
        .map(|r| {
            r["headers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h[0] == "webhook-id")
                .unwrap()[1]
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one message, retried");
}

/// `hookbin bins rules …` against `s`, off the async runtime.
async fn cli(s: &TestServer, args: &[&str], stdin: &str) -> std::process::Output {
    let mut cmd = crate::support::process::command();
    cmd.args(["bins", "rules"])
        .args(args)
        .args(["--server", &s.url("")]);
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_cli_sets_shows_and_resets_rules() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let set = cli(
        &s,
        &[&bin, "--set", "-"],
        r#"[{"name": "fail once", "answers": [{"status": 503}, {"status": 200}]}]"#,
    )
    .await;
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let shown: Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(shown["rules"][0]["name"], "fail once");
    assert_eq!(
        s.send(post(&format!("/b/{bin}"), "{}"))
            .await
            .status
            .as_u16(),
        503
    );
    let listed: Value = serde_json::from_slice(&cli(&s, &[&bin], "").await.stdout).unwrap();
    assert_eq!(listed["counts"]["fail once"], 1);
    assert!(cli(&s, &[&bin, "--reset"], "").await.status.success());
    assert_eq!(
        s.send(post(&format!("/b/{bin}"), "{}"))
            .await
            .status
            .as_u16(),
        503
    );

    let bad = cli(
        &s,
        &[&bin, "--set", "-"],
        r#"{"rules": [{"name": "x", "answers": [{"status": 99}]}]}"#,
    )
    .await;
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("rules[0].answers[0].status"), "{err}");
    let kept: Value = serde_json::from_slice(&cli(&s, &[&bin], "").await.stdout).unwrap();
    assert_eq!(
        kept["rules"][0]["name"], "fail once",
        "a refused file changed nothing"
    );
}
