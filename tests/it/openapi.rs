//! The OpenAPI document: served for this instance, valid OpenAPI 3.1, true to the routes in
//! both directions, readable as a page, and a checker (`support::contract`) that really fails
//! on an answer the document does not allow.

use std::process::Command;

use hookbin::web::openapi::DOCUMENT;
use hyper::StatusCode;
use serde_json::Value;

use crate::support::{Req, TestServer, contract, count};

#[tokio::test]
async fn the_document_is_served_with_this_instances_url_version_and_auth() {
    let s = TestServer::start().await;
    let r = s.get("/api/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"][0]["url"], s.url(""));
    assert_eq!(doc["security"], serde_json::json!([]), "no token here");
    assert_eq!(doc["paths"], DOCUMENT["paths"]);

    let token = "a-token-of-twenty-chars";
    let t = TestServer::start_with(|c| c.token = Some(token.into())).await;
    t.get("/api/openapi.json")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    let r = t
        .send(
            Req::new("GET", "/api/openapi.json").header("authorization", format!("Bearer {token}")),
        )
        .await;
    assert_eq!(r.json()["security"], serde_json::json!([{"token": []}]));
    let capture = &r.json()["paths"]["/b/{bin}"]["post"];
    assert_eq!(
        capture["security"],
        serde_json::json!([]),
        "captures need no token"
    );
}

/// `openapi-spec-validator` (PyPI), as `.ci/run` installs it, or the one on PATH.
fn spec_validator() -> Option<String> {
    let program = std::env::var("HOOKBIN_OPENAPI_VALIDATOR")
        .unwrap_or_else(|_| "openapi-spec-validator".into());
    match Command::new(&program).arg("--help").output() {
        Ok(o) if o.status.success() => Some(program),
        other => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("openapi-spec-validator must run under CI=true: {other:?}");
            }
            eprintln!(
                "\n*** SKIPPED OpenAPI 3.1 validation: no openapi-spec-validator ({other:?}) ***\n"
            );
            None
        }
    }
}

#[tokio::test]
async fn the_served_document_validates_as_openapi_3_1() {
    let Some(program) = spec_validator() else {
        return;
    };
    let s = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("openapi.json");
    std::fs::write(&good, &s.get("/api/openapi.json").await.body).unwrap();
    let out = Command::new(&program).arg(&good).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator must be able to say no: a response without a description is invalid.
    let mut broken: Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    broken["paths"]["/api/bins"]["get"]["responses"]["200"]
        .as_object_mut()
        .unwrap()
        .remove("description");
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, broken.to_string()).unwrap();
    let out = Command::new(&program).arg(&bad).output().unwrap();
    assert!(!out.status.success(), "a broken document passed");
}

/// Each documented operation with ids filled in, and the body it is sent with.
fn operations() -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (template, item) in DOCUMENT["paths"].as_object().unwrap() {
        let path = template
            .replace("{bin}", "nobin")
            .replace("{request}", "00000000000000ff")
            .replace("{webhook}", "wh_00000000000000000000000000000000")
            .replace("{delivery}", "msg_00000000000000000000000000000000")
            .replace("{event}", "payment_received");
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn every_documented_operation_has_a_route_and_every_other_method_gets_405() {
    let s = TestServer::start().await;
    let ops = operations();
    assert!(ops.len() >= 35, "{} operations", ops.len());
    for (method, path) in &ops {
        let r = s
            .send(
                Req::new(method, path)
                    .header("content-type", "application/json")
                    .body("{}"),
            )
            .await;
        // Unknown ids are fine (404 about the thing); "no route" is not.
        assert!(
            !r.text().contains("no route") && r.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but not routed: {} {}",
            r.status,
            r.text()
        );
    }
    for (method, path) in [
        ("PUT", "/api/bins"),
        ("POST", "/api/bins/nobin"),
        ("PATCH", "/api/requests/00000000000000ff"),
        ("DELETE", "/api/events"),
        (
            "GET",
            "/api/webhooks/wh_00000000000000000000000000000000/test",
        ),
    ] {
        assert!(!ops.contains(&(method.to_owned(), path.to_owned())));
        let r = s.send(Req::new(method, path)).await;
        r.assert_error(StatusCode::METHOD_NOT_ALLOWED);
        assert!(!r.header("allow").contains(method), "{method} {path}");
    }
}

/// Schemathesis' `unsupported_method` check found that a method an API path does not take got
/// `404 no route`; it must be `405` with `Allow` listing the methods it does take.
#[tokio::test]
async fn unsupported_method_gets_405_with_allow() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let r = s.send(Req::new("PUT", &format!("/api/bins/{bin}"))).await;
    r.assert_error(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), "DELETE, GET, HEAD, PATCH");
    let r = s.send(Req::new("POST", "/api/events")).await;
    r.assert_error(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), "GET, HEAD");
    // Paths that are not in the API stay unknown.
    s.send(Req::new("PUT", "/api/nothing/here"))
        .await
        .assert_error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_contract_check_rejects_an_answer_the_document_does_not_allow() {
    let s = TestServer::start().await;
    let before = contract::CHECKED.load(std::sync::atomic::Ordering::Relaxed);
    let bin = s
        .get(&format!("/api/bins/{}", s.new_bin().await))
        .await
        .json();
    assert!(contract::CHECKED.load(std::sync::atomic::Ordering::Relaxed) >= before + 2);
    contract::validate("#/components/schemas/Bin", &bin, "a real bin");
    let mut wrong = bin.clone();
    wrong.as_object_mut().unwrap().remove("url");
    wrong["created_at"] = "yesterday".into();
    let caught = std::panic::catch_unwind(|| {
        contract::validate("#/components/schemas/Bin", &wrong, "a broken bin")
    });
    let message = *caught
        .expect_err("a broken bin passed")
        .downcast::<String>()
        .unwrap();
    assert!(
        message.contains("\"url\" is a required property"),
        "{message}"
    );
    assert!(message.contains("date-time"), "{message}");
}

#[tokio::test]
async fn the_api_page_lists_every_operation_and_schema() {
    let s = TestServer::start().await;
    let r = s.get("/api").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.html();
    for item in DOCUMENT["paths"].as_object().unwrap().values() {
        for (method, op) in item.as_object().unwrap() {
            if method != "parameters" {
                let id = op["operationId"].as_str().unwrap();
                assert_eq!(count(&doc, &format!("section#op-{id}")), 1, "{id}");
                assert_eq!(count(&doc, &format!("a[href='#op-{id}']")), 1, "{id}");
            }
        }
    }
    for name in DOCUMENT["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
    {
        assert_eq!(count(&doc, &format!("section#schema-{name}")), 1, "{name}");
    }
    assert_eq!(count(&doc, "a[href='/api/openapi.json']"), 1);
    assert_eq!(count(&doc, "script:not([src])"), 0, "no inline script");
}
