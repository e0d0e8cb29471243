//! `since` and `until`: requests by arrival time, on the API, the HAR export, the bin page and
//! `hookbin tail`, with a clear 400 for a time that cannot be read or an empty range.

use std::process::Stdio;

use hyper::StatusCode;

use crate::support::process::{command, printed_ids};
use crate::support::{Req, TestServer, count, next_millisecond, texts};

/// Three captures at distinct milliseconds; their ids and `received_at`, oldest first.
async fn three(s: &TestServer, bin: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in ["first", "second", "third"] {
        let id = s.capture(bin, Req::new("POST", &format!("/{name}"))).await;
        let r = s.get(&format!("/api/requests/{id}")).await.json();
        out.push((id, r["received_at"].as_str().unwrap().to_owned()));
        // Distinct arrival times, so that a bound can fall between two requests.
        next_millisecond().await;
    }
    out
}

fn ids(page: &serde_json::Value) -> Vec<String> {
    page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn enc(t: &str) -> String {
    form_urlencoded::byte_serialize(t.as_bytes()).collect()
}

#[tokio::test]
async fn since_and_until_select_by_arrival_time_inclusively() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let caps = three(&s, &bin).await;
    let (t1, t2) = (enc(&caps[1].1), enc(&caps[2].1));
    let list = |q: String| {
        let s = &s;
        let bin = bin.clone();
        async move { s.get(&format!("/api/bins/{bin}/requests?{q}")).await }
    };
    let newest_first = |idx: &[usize]| idx.iter().map(|&i| caps[i].0.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&list(format!("since={t1}")).await.json()),
        newest_first(&[2, 1])
    );
    assert_eq!(
        ids(&list(format!("until={t1}")).await.json()),
        newest_first(&[1, 0])
    );
    assert_eq!(
        ids(&list(format!("since={t1}&until={t1}")).await.json()),
        newest_first(&[1])
    );
    assert_eq!(
        ids(&list(format!("since={t1}&until={t2}")).await.json()),
        newest_first(&[2, 1])
    );
    assert_eq!(
        ids(&list("since=1h".into()).await.json()).len(),
        3,
        "a span back from now"
    );
    assert_eq!(ids(&list("until=1h".into()).await.json()).len(), 0);
    // Paging keeps the range.
    let first = list(format!("since={t1}&limit=1")).await.json();
    assert_eq!(ids(&first), newest_first(&[2]));
    let next = first["next"].as_str().unwrap();
    let second = list(format!("since={t1}&limit=1&before={next}"))
        .await
        .json();
    assert_eq!(ids(&second), newest_first(&[1]));
    assert!(second["next"].is_null());
    // Combined with the other filters.
    let r = list(format!("since={t1}&path=third")).await.json();
    assert_eq!(ids(&r), newest_first(&[2]));
    // The HAR export takes them too.
    let har = s
        .get(&format!("/api/bins/{bin}/har?until={t1}"))
        .await
        .json();
    assert_eq!(har["log"]["entries"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_unreadable_time_or_an_empty_range_is_a_400_that_says_so() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let caps = three(&s, &bin).await;
    let base = format!("/api/bins/{bin}/requests");
    let msg = s
        .get(&format!("{base}?since=yesterday"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert!(
        msg.contains("since") && msg.contains("'yesterday'"),
        "{msg}"
    );
    let msg = s
        .get(&format!("{base}?until=2026-13-45T99:00:00Z"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("until"), "{msg}");
    let (early, late) = (enc(&caps[0].1), enc(&caps[2].1));
    let msg = s
        .get(&format!("{base}?since={late}&until={early}"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("before since"), "{msg}");
    s.get(&format!("/api/bins/{bin}/har?since=soon"))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_bin_page_filters_by_time_and_shows_a_bad_time_beside_its_field() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let caps = three(&s, &bin).await;
    let r = s
        .get(&format!("/bins/{bin}?since={}", enc(&caps[1].1)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.html();
    assert_eq!(count(&doc, "#requests li"), 2);
    assert_eq!(count(&doc, "input[name=since][aria-invalid]"), 0);

    let r = s
        .get(&format!("/bins/{bin}?since=15m&until=last+week"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let doc = r.html();
    assert_eq!(
        count(&doc, "#requests li"),
        0,
        "nothing is listed under a broken filter"
    );
    assert_eq!(count(&doc, "input[name=until][aria-invalid=true]"), 1);
    assert_eq!(count(&doc, "input[name=since][aria-invalid]"), 0);
    let error = texts(&doc, "#until-error").join("");
    assert!(error.contains("'last week'"), "{error}");
    // The form keeps what was typed, a span stays a span.
    assert_eq!(count(&doc, "input[name=since][value='15m']"), 1);
    assert_eq!(count(&doc, "details.filters-box[open]"), 1);
    assert_eq!(count(&doc, "#filter-broken"), 1);
    assert_eq!(
        count(&doc, "#no-match"),
        0,
        "a broken filter is not \"no match\""
    );
}

#[tokio::test]
async fn tail_prints_a_time_range_and_stops_at_until() {
    let s = TestServer::start().await;
    let bin = s.new_bin().await;
    let caps = three(&s, &bin).await;
    let mut cmd = command();
    cmd.args([
        "tail", &bin, "--json", "--since", &caps[1].1, "--until", &caps[2].1,
    ])
    .args(["--server", &s.url("")]);
    let out = tokio::task::spawn_blocking(move || cmd.stdin(Stdio::null()).output().unwrap())
        .await
        .unwrap();
    let printed = printed_ids(&out);
    assert_eq!(
        printed,
        vec![caps[1].0.clone(), caps[2].0.clone()],
        "oldest first, in range"
    );

    let mut cmd = command();
    cmd.args(["tail", &bin, "--since", "a while ago"])
        .args(["--server", &s.url("")]);
    let out = tokio::task::spawn_blocking(move || cmd.stdin(Stdio::null()).output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("since must be a time"), "{err}");
}
