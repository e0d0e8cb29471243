//! The CLI: the same binary working on the same database, with exit codes that tell success
//! from failure.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::receiver::Receiver;

/// Runs `hookbin --db DB args…` off the async runtime, so test receivers keep answering.
async fn hookbin(db: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookbin"));
    cmd.arg("--db").arg(db).args(args).env_remove("HOOKBIN_DB");
    let input = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = input {
            pipe.write_all(text.as_bytes()).unwrap();
        }
        drop(pipe);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn webhooks_are_added_listed_tested_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let rx = Receiver::start().await;

    let events = hookbin(&db, &["events"], None).await;
    assert!(events.status.success());
    assert_eq!(stdout(&events).lines().count(), 23);
    assert!(stdout(&events).contains("payment_received"));

    let add = hookbin(
        &db,
        &[
            "webhooks",
            "add",
            "--name",
            "From CLI",
            "--url",
            &rx.url("/cli"),
            "--event",
            "payment_received",
        ],
        None,
    )
    .await;
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let out = stdout(&add);
    let id = out.split_whitespace().next().unwrap().to_owned();
    assert!(id.starts_with("wh_"));
    assert!(out.contains("whsec_"));
    assert!(stdout(&hookbin(&db, &["webhooks", "list"], None).await).contains(&id));

    let test = hookbin(&db, &["webhooks", "test", &id], None).await;
    assert!(test.status.success());
    assert!(stdout(&test).starts_with("ok 200"));
    assert_eq!(rx.got().len(), 1);

    rx.script(&[500]);
    let failed = hookbin(&db, &["webhooks", "test", &id], None).await;
    assert!(!failed.status.success());
    assert!(stdout(&failed).starts_with("FAILED 500"));

    let rm = hookbin(&db, &["webhooks", "remove", &id], None).await;
    assert!(rm.status.success());
    assert!(
        !hookbin(&db, &["webhooks", "remove", &id], None)
            .await
            .status
            .success()
    );
    assert!(stdout(&hookbin(&db, &["webhooks", "list"], None).await).is_empty());
}

#[tokio::test]
async fn fire_sends_a_payload_from_stdin_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let rx = Receiver::start().await;
    let add = hookbin(
        &db,
        &[
            "webhooks",
            "add",
            "--name",
            "F",
            "--url",
            &rx.url("/"),
            "--event",
            "customer_created",
        ],
        None,
    )
    .await;
    assert!(add.status.success());

    let fired = hookbin(
        &db,
        &["fire", "customer_created", "--payload", "-"],
        Some(r#"{"customer_id": 9, "note": "stdin", "amount": 1.10, "e": 1e3}"#),
    )
    .await;
    assert!(
        fired.status.success(),
        "{}{}",
        stdout(&fired),
        String::from_utf8_lossy(&fired.stderr)
    );
    assert!(stdout(&fired).contains("queued for 1 webhook"));
    let got = rx.got();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].body.as_ref(),
        br#"{"customer_id":9,"note":"stdin","amount":1.10,"e":1e3}"#,
        "sent as given, only the whitespace removed"
    );
    assert_eq!(got[0].header("webhook-event"), Some("customer_created"));

    let file = dir.path().join("p.json");
    std::fs::write(&file, r#"{"from": "file"}"#).unwrap();
    let fired = hookbin(
        &db,
        &[
            "fire",
            "customer_created",
            "--payload",
            file.to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert!(fired.status.success());
    assert_eq!(rx.got()[1].body.as_ref(), br#"{"from":"file"}"#);

    for (args, stdin, needle) in [
        (vec!["fire", "no_such_event"], None, "no event"),
        (
            vec!["fire", "customer_created", "--payload", "-"],
            Some("[1]"),
            "JSON object",
        ),
        (
            vec!["fire", "customer_created", "--payload", "/nonexistent.json"],
            None,
            "cannot read",
        ),
        (
            vec![
                "webhooks",
                "add",
                "--name",
                "x",
                "--url",
                "nope",
                "--event",
                "customer_created",
            ],
            None,
            "http",
        ),
    ] {
        let out = hookbin(&db, &args, stdin).await;
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(rx.got().len(), 2);
}

#[tokio::test]
async fn extra_event_catalogs_load_with_events_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let good = dir.path().join("shop.json");
    std::fs::write(&good, r#"{"events": [{"slug": "order.paid", "name": "Order paid", "description": "An order was paid.", "sample_payload": {"order": 1}}]}"#).unwrap();
    let out = hookbin(&db, &["--events", good.to_str().unwrap(), "events"], None).await;
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 24);
    assert!(stdout(&out).contains("order.paid"));

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    let out = hookbin(&db, &["--events", bad.to_str().unwrap(), "events"], None).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not valid"));
}

#[tokio::test]
async fn commands_do_not_create_a_database_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("elsewhere.db");
    for args in [
        &["webhooks", "list"][..],
        &["webhooks", "test", "wh_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
        &["fire", "payment_received"],
    ] {
        let out = hookbin(&db, args, None).await;
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no database at") && err.contains("elsewhere.db"),
            "{args:?}: {err}"
        );
        assert!(!db.exists(), "{args:?} created the database");
    }
    // Listing events needs no database at all.
    assert!(hookbin(&db, &["events"], None).await.status.success());
    assert!(!db.exists());
    // Adding a webhook may start one, and says so; an empty list names the database it read.
    let add = hookbin(
        &db,
        &[
            "webhooks",
            "add",
            "--name",
            "A",
            "--url",
            "http://127.0.0.1:9/x",
            "--event",
            "payment_received",
        ],
        None,
    )
    .await;
    assert!(add.status.success(), "{add:?}");
    assert!(String::from_utf8_lossy(&add.stderr).contains("created a new database"));
    let id = stdout(&add).split_whitespace().next().unwrap().to_owned();
    assert!(
        hookbin(&db, &["webhooks", "remove", &id], None)
            .await
            .status
            .success()
    );
    let list = hookbin(&db, &["webhooks", "list"], None).await;
    assert!(list.status.success() && stdout(&list).is_empty());
    assert!(String::from_utf8_lossy(&list.stderr).contains("no webhooks in"));
}

#[tokio::test]
async fn completions_and_the_manual_come_from_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let bash = hookbin(&db, &["completions", "bash"], None).await;
    assert!(bash.status.success());
    let script = stdout(&bash);
    assert!(
        script.contains("_hookbin") && script.contains("listen") && script.contains("--tls-cert")
    );
    let file = dir.path().join("hookbin.bash");
    std::fs::write(&file, &script).unwrap();
    let checked = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        stdout(&hookbin(&db, &["completions", "zsh"], None).await).starts_with("#compdef hookbin")
    );
    assert!(
        stdout(&hookbin(&db, &["completions", "fish"], None).await).contains("complete -c hookbin")
    );
    let bad = hookbin(&db, &["completions", "tcsh"], None).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tcsh"));
    let man = stdout(&hookbin(&db, &["man"], None).await);
    assert!(
        man.starts_with(".ie") || man.contains(".TH hookbin"),
        "{}",
        &man[..man.len().min(200)]
    );
    assert!(
        man.contains("\\-\\-max\\-body") || man.contains("--max-body"),
        "flags documented"
    );
    assert!(!db.exists(), "neither writes a database");
}
