//! An answer given before the request has fully arrived (413 for a body over `--max-body`)
//! reaches clients that do not wait for `100 Continue`: hookbin reads and discards the rest for
//! a bounded time (a lingering close) instead of resetting the connection under them. Tested
//! with the clients people use: Python's urllib and requests, and Node's fetch.

use std::process::Command;

use hookbin::model::BinId;

use crate::support::TestServer;

const PYTHON_URLLIB: &str = r#"
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], data=b"x" * (20 * 1024 * 1024), method="POST")
try:
    print(urllib.request.urlopen(req).status)
except urllib.error.HTTPError as e:
    print(e.code)
"#;

const PYTHON_REQUESTS: &str = r#"
import sys, requests
print(requests.post(sys.argv[1], data=b"x" * (20 * 1024 * 1024)).status_code)
"#;

const NODE_FETCH: &str = r#"
fetch(process.argv[1], {method: "POST", body: Buffer.alloc(20 * 1024 * 1024, 120)})
  .then(r => console.log(r.status))
  .catch(e => { console.log("error " + (e.cause ? e.cause.code : e)); });
"#;

/// Runs `program` with a script and the URL; its first output line, or `None` when the
/// program (or a module it needs) is missing outside CI.
async fn run(program: &str, args: Vec<String>) -> Option<String> {
    let program = program.to_owned();
    let out = tokio::task::spawn_blocking(move || Command::new(&program).args(&args).output())
        .await
        .unwrap();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_owned()),
        other => {
            let why = format!("{other:?}");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("client for the early-answer test cannot run under CI=true: {why}");
            }
            eprintln!("\n*** SKIPPED early-answer client: {why} ***\n");
            None
        }
    }
}

#[tokio::test]
async fn clients_that_keep_sending_still_read_the_413() {
    let s = TestServer::start_with(|c| {
        c.max_body = 1024 * 1024;
        c.bins = vec![BinId::parse("big").unwrap()];
    })
    .await;
    let url = s.url("/b/big");
    let clients = [
        (
            "python3",
            vec!["-c".to_owned(), PYTHON_URLLIB.to_owned(), url.clone()],
            "urllib",
        ),
        (
            "python3",
            vec!["-c".to_owned(), PYTHON_REQUESTS.to_owned(), url.clone()],
            "requests",
        ),
        (
            "node",
            vec!["-e".to_owned(), NODE_FETCH.to_owned(), url.clone()],
            "fetch",
        ),
    ];
    for (program, args, name) in clients {
        for _ in 0..3 {
            if let Some(got) = run(program, args.clone()).await {
                assert_eq!(got, "413", "{name} saw {got}");
            }
        }
    }
    let bin = s.get("/api/bins/big").await.json();
    assert_eq!(bin["request_count"], 0, "nothing was stored");
}
