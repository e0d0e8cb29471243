//! Outbound TLS trusts what the machine trusts: a receiver whose certificate comes from a local
//! CA fails with a clear message until that CA is given (`--ca-cert`, `SSL_CERT_FILE`), then
//! works, for the server's deliveries and for the CLI alike.

use std::process::Output;

use hookbin::outbound::Trust;

use crate::support::TestServer;
use crate::support::pki::TestCa;
use crate::support::process;
use crate::support::receiver::Receiver;

#[tokio::test]
async fn a_receiver_signed_by_a_local_ca_works_once_its_ca_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hookbin test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let rx = Receiver::start_tls(ca.leaf("receiver").server_config()).await;

    let s = TestServer::start().await;
    let hook = s
        .new_webhook("TLS", &rx.url("/hook"), "payment_received")
        .await;
    let result = s.test_send(&hook).await;
    assert_eq!(result["ok"], false);
    let error = result["error"].as_str().unwrap();
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(
        error.contains("--ca-cert"),
        "the message says what to do: {error}"
    );
    assert!(rx.got().is_empty());

    let trust = Trust::with_ca_files(std::slice::from_ref(&ca_file)).unwrap();
    let s = TestServer::start_with(|c| c.trust = trust).await;
    let hook = s
        .new_webhook("TLS", &rx.url("/hook"), "payment_received")
        .await;
    let result = s.test_send(&hook).await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["status"], 200);
    assert_eq!(rx.got().len(), 1);
    assert!(rx.got()[0].header("webhook-signature").is_some());
}

/// Runs `hookbin` with `args` and `env`, off the async runtime.
async fn run(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut cmd = process::command();
        cmd.args(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_cli_honours_ca_cert_and_ssl_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hookbin test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let rx = Receiver::start_tls(ca.leaf("receiver").server_config()).await;
    let db = dir.path().join("cli.db").display().to_string();
    let add = run(
        vec![
            "--db".into(),
            db.clone(),
            "webhooks".into(),
            "add".into(),
            "--name".into(),
            "tls".into(),
            "--url".into(),
            rx.url("/hook"),
            "--event".into(),
            "payment_received".into(),
        ],
        vec![],
    )
    .await;
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let id = String::from_utf8_lossy(&add.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("wh_"))
        .unwrap()
        .to_owned();
    let test = |extra: Vec<String>, env| {
        let mut args = vec!["--db".to_owned(), db.clone()];
        args.extend(extra);
        args.extend(["webhooks".into(), "test".into(), id.clone()]);
        run(args, env)
    };
    let untrusted = test(vec![], vec![]).await;
    assert!(!untrusted.status.success());
    assert!(String::from_utf8_lossy(&untrusted.stdout).contains("UnknownIssuer"));

    let flag = test(
        vec!["--ca-cert".into(), ca_file.display().to_string()],
        vec![],
    )
    .await;
    assert!(
        flag.status.success(),
        "{}",
        String::from_utf8_lossy(&flag.stdout)
    );
    let env = test(
        vec![],
        vec![("SSL_CERT_FILE", ca_file.display().to_string())],
    )
    .await;
    assert!(
        env.status.success(),
        "{}",
        String::from_utf8_lossy(&env.stdout)
    );
    assert_eq!(rx.got().len(), 2);

    // A CA file that cannot be used stops the command with a message naming it.
    let bad = test(
        vec!["--ca-cert".into(), "/nonexistent/ca.pem".into()],
        vec![],
    )
    .await;
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--ca-cert /nonexistent/ca.pem"), "{err}");
}
