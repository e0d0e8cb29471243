//! `hookbin listen`: a remote bin's captures reach a local app byte for byte, signatures intact,
//! in order, and none is lost when the listener is killed, stopped or the app is down.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use hookbin::model::BinId;
use hookbin::sender::signing;

use crate::support::receiver::{Received, Receiver};
use crate::support::{Req, TestServer, eventually, process};

mod pipelined;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

fn body(i: usize) -> Vec<u8> {
    let mut b = format!("capture {i}\n").into_bytes();
    b.extend((0..=255u8).cycle().skip(i % 256).take(64 + i % 300));
    b
}

/// Capture `i`: a method from the mix, a binary body, signed the Standard Webhooks way.
fn signed(i: usize) -> Req {
    let key = signing::secret_key(SECRET).unwrap();
    let id = format!("msg_{i}");
    let ts = chrono::Utc::now().timestamp();
    let b = body(i);
    Req::new(METHODS[i % 4], &format!("/hooks/{i}?n={i}"))
        .header("content-type", "application/octet-stream")
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signing::sign(&key, &id, ts, &b))
        .body(b)
}

/// Which capture a received request is, after checking it arrived exactly as signed.
fn check(r: &Received) -> usize {
    let id = r.header("webhook-id").expect("webhook-id");
    let i: usize = id.trim_start_matches("msg_").parse().unwrap();
    let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
    let key = signing::secret_key(SECRET).unwrap();
    assert!(
        signing::verify(
            &key,
            id,
            ts,
            &r.body,
            r.header("webhook-signature").unwrap()
        ),
        "signature of {id} does not verify"
    );
    assert_eq!(r.body, Bytes::from(body(i)), "body of {id}");
    assert_eq!(r.method, METHODS[i % 4]);
    assert_eq!(r.path, format!("/local/hooks/{i}?n={i}"));
    i
}

/// A `hookbin listen` process.
struct Listener {
    child: Child,
}

impl Listener {
    fn start(server: &str, bin: &str, to: &str, state: &Path, extra: &[&str]) -> Listener {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(state.with_extension("log"))
            .unwrap();
        let child = process::command()
            .args([
                "listen",
                bin,
                "--forward-to",
                to,
                "--server",
                server,
                "--state",
            ])
            .arg(state)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Listener { child }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then its exit status. Waits without blocking the runtime: the receiver the
    /// listener is finishing a forward to runs on it.
    async fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        // A process exit gives the runtime nothing to await here: poll it, within a deadline
        // longer than a forward may take (the client's 30 s timeout).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the listener did not stop after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn setup(name: &str) -> (TestServer, tempfile::TempDir, PathBuf) {
    let s = TestServer::start_with(|c| c.bins = vec![BinId::parse(name).unwrap()]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    (s, dir, state)
}

/// Which captures arrived, in the order each first arrived, each once.
fn first_arrivals(got: &[usize]) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    got.iter().copied().filter(|&i| seen.insert(i)).collect()
}

/// The relay log of request `id`, once the listener has reported on it.
async fn reported(s: &TestServer, id: &str) -> serde_json::Value {
    eventually(10, "the listener's report", || async {
        let r = s.get(&format!("/api/requests/{id}/relays")).await.json();
        (!r["relays"].as_array().unwrap().is_empty()).then_some(r)
    })
    .await
}

async fn received_count(rx: &Receiver, n: usize, what: &str) {
    eventually(60, what, || async { (rx.got().len() >= n).then_some(()) }).await;
}

#[tokio::test]
async fn a_thousand_captures_reach_the_local_app_exactly_and_in_order() {
    a_thousand_in_order(&[]).await;
}

#[tokio::test]
async fn one_at_a_time_a_thousand_captures_reach_the_local_app_exactly_and_in_order() {
    a_thousand_in_order(&["--pipeline", "1"]).await;
}

async fn a_thousand_in_order(extra: &[&str]) {
    let (s, _dir, state) = setup("far").await;
    let rx = Receiver::start().await;
    for i in 0..1000 {
        s.capture("far", signed(i)).await;
    }
    let l = Listener::start(
        &s.url(""),
        "far",
        &rx.url("/local"),
        &state,
        &[&["--from", "oldest"], extra].concat(),
    );
    received_count(&rx, 1000, "1,000 forwards").await;
    let order: Vec<usize> = rx.got().iter().map(check).collect();
    assert_eq!(order, (0..1000).collect::<Vec<_>>());
    // Each forward is on the capture's relay log, for the team to see.
    let last = s.get("/api/bins/far/requests?limit=1").await.json()["requests"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let relays = reported(&s, &last).await;
    assert_eq!(relays["relays"][0]["kind"], "listen");
    assert_eq!(relays["relays"][0]["status"], 200);
    assert!(l.terminate().await.success());
}

#[tokio::test]
async fn killed_mid_burst_it_resumes_in_order_and_a_stop_repeats_nothing() {
    let (s, _dir, state) = setup("burst").await;
    let rx = Receiver::start().await;
    // Eight on the wire at a time: at most eight can be repeated by a kill.
    let l = Listener::start(
        &s.url(""),
        "burst",
        &rx.url("/local"),
        &state,
        &["--from", "oldest", "--pipeline", "8"],
    );
    for i in 0..300 {
        s.capture("burst", signed(i)).await;
    }
    received_count(&rx, 100, "the first hundred").await;
    l.kill();
    let before = rx.got().len();
    for i in 300..500 {
        s.capture("burst", signed(i)).await;
    }
    let l = Listener::start(
        &s.url(""),
        "burst",
        &rx.url("/local"),
        &state,
        &["--pipeline", "8"],
    );
    eventually(60, "everything after the restart", || async {
        let got: Vec<usize> = rx.got().iter().map(check).collect();
        (got.last() == Some(&499)).then_some(())
    })
    .await;
    let got: Vec<usize> = rx.got().iter().map(check).collect();
    // What was on the wire at the kill comes again after the restart, as one run in order.
    let distinct = first_arrivals(&got);
    assert_eq!(
        distinct,
        (0..500).collect::<Vec<_>>(),
        "in order, none missing"
    );
    let repeats = got.len() - distinct.len();
    // The repeats are one unbroken run: the window that was on the wire.
    let mut counts = std::collections::BTreeMap::new();
    for &i in &got {
        *counts.entry(i).or_insert(0) += 1;
    }
    let again: Vec<usize> = counts
        .into_iter()
        .filter(|&(_, n)| n > 1)
        .map(|(i, _)| i)
        .collect();
    if let (Some(&lo), Some(&hi)) = (again.first(), again.last()) {
        assert_eq!(
            again,
            (lo..=hi).collect::<Vec<_>>(),
            "one run repeated: {got:?}"
        );
    }
    assert!(
        repeats <= 8,
        "only the ones in flight at the kill may repeat: {repeats}"
    );
    assert!(before >= 100);

    // A SIGTERM lets the current forward finish and saves its place: nothing repeats.
    let l2_before = rx.got().len();
    for i in 500..700 {
        s.capture("burst", signed(i)).await;
    }
    received_count(&rx, l2_before + 50, "some of the next burst").await;
    assert!(l.terminate().await.success());
    let l = Listener::start(&s.url(""), "burst", &rx.url("/local"), &state, &[]);
    eventually(60, "the rest after a clean stop", || async {
        (rx.got().last().map(check) == Some(699)).then_some(())
    })
    .await;
    let after: Vec<usize> = rx.got()[l2_before..].iter().map(check).collect();
    let log = std::fs::read_to_string(state.with_extension("log")).unwrap();
    assert_eq!(
        after,
        (500..700).collect::<Vec<_>>(),
        "no repeats after a SIGTERM; log:\n{log}"
    );
    drop(l);
}

#[tokio::test]
async fn a_local_app_that_is_down_for_five_seconds_loses_nothing() {
    let (s, _dir, state) = setup("down").await;
    let port = crate::support::free_port();
    let to = format!("http://127.0.0.1:{port}/local");
    let _l = Listener::start(&s.url(""), "down", &to, &state, &["--from", "oldest"]);
    for i in 0..20 {
        s.capture("down", signed(i)).await;
    }
    // The outage itself: the app stays down for the 5 s the scenario names.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rx = Receiver::start_on(port).await;
    received_count(&rx, 20, "all twenty once the app is up").await;
    let order: Vec<usize> = rx.got().iter().map(check).collect();
    assert_eq!(order, (0..20).collect::<Vec<_>>());
    let log = std::fs::read_to_string(state.with_extension("log")).unwrap();
    assert!(
        log.contains("trying again"),
        "it said it was retrying: {log}"
    );
}

#[tokio::test]
async fn it_listens_to_an_https_hookbin_with_a_token() {
    use crate::support::pki::TestCa;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hookbin test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let leaf = ca.leaf("hookbin");
    let files = hookbin::config::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert, &leaf.cert_pem).unwrap();
    std::fs::write(&files.key, &leaf.key_pem).unwrap();
    let token = "listen-test-token-0123456789";
    let s = TestServer::start_with(|c| {
        c.tls = Some(files);
        c.token = Some(token.into());
        c.bins = vec![BinId::parse("safe").unwrap()];
    })
    .await;
    let rx = Receiver::start().await;
    let server = format!("https://localhost:{}", s.addr.port());
    let state = dir.path().join("state.json");
    // Captures need no token; send them over TLS with the hookbin client (trusting the CA).
    let trust = hookbin::outbound::Trust::with_ca_files(std::slice::from_ref(&ca_file)).unwrap();
    let client = hookbin::outbound::Client::new(Duration::from_secs(10), false, &trust);
    for i in 0..5 {
        let a = client
            .send(
                hyper::Method::POST,
                &format!("{server}/b/safe/hooks/{i}?n={i}"),
                &[],
                Bytes::from(format!("tls {i}")),
            )
            .await;
        assert_eq!(a.status, Some(200), "{:?}", a.error);
    }
    let ca_arg = ca_file.display().to_string();
    let _l = Listener::start(
        &server,
        "safe",
        &rx.url("/local"),
        &state,
        &["--from", "oldest", "--ca-cert", &ca_arg, "--token", token],
    );
    received_count(&rx, 5, "five forwards from the HTTPS hookbin").await;
    let bodies: Vec<Bytes> = rx.got().iter().map(|r| r.body.clone()).collect();
    assert_eq!(
        bodies,
        (0..5)
            .map(|i| Bytes::from(format!("tls {i}")))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_backlog_of_fifty_thousand_drains_exactly_once_in_order_and_every_forward_is_logged() {
    const N: usize = 50_000;
    let s = TestServer::start_with(|c| {
        c.bins = vec![BinId::parse("deep").unwrap()];
        c.max_requests = 0;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    // Eight senders at once; the bin's own order (by id) is the order to expect.
    let s = std::sync::Arc::new(s);
    let mut senders = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        senders.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (w..N).step_by(8) {
                let id = s
                    .capture(
                        "deep",
                        Req::new("POST", &format!("/n/{i}")).body(i.to_string()),
                    )
                    .await;
                ids.push((id, i));
            }
            ids
        }));
    }
    let began = std::time::Instant::now();
    let mut sent = Vec::new();
    for t in senders {
        sent.extend(t.await.unwrap());
    }
    sent.sort();
    eprintln!("{N} captured in {:?}", began.elapsed());
    let rx = Receiver::start().await;
    let l = Listener::start(
        &s.url(""),
        "deep",
        &rx.url("/local"),
        &state,
        &["--from", "oldest"],
    );
    let began = std::time::Instant::now();
    // A debug build forwards a few thousand a second: the bound is generous.
    eventually(300, "the whole backlog", || async {
        (rx.count() >= N).then_some(())
    })
    .await;
    eprintln!("{N} forwarded in {:?} (debug build)", began.elapsed());
    assert!(l.terminate().await.success());
    let got: Vec<String> = rx.got().iter().map(|r| r.path.clone()).collect();
    let want: Vec<String> = sent.iter().map(|(_, i)| format!("/local/n/{i}")).collect();
    assert_eq!(got.len(), N, "each capture forwarded once");
    assert!(got == want, "forwarded in the bin's order");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(
        saved["last"],
        sent[N - 1].0.as_str(),
        "the position is the last one"
    );
    // Every forward is on its capture's relay log: the first, the last and a spread between.
    for k in (0..N).step_by(N / 20).chain([N - 1]) {
        let id = &sent[k].0;
        let r = s.get(&format!("/api/requests/{id}/relays")).await.json();
        let relays = r["relays"].as_array().unwrap();
        assert_eq!(relays.len(), 1, "one listen entry on {id}: {r}");
        assert_eq!(
            (relays[0]["kind"].as_str(), relays[0]["status"].as_u64()),
            (Some("listen"), Some(200))
        );
    }
}
