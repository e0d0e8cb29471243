//! The real `hookbin` binary: the printed URL, flags from the environment, and clear failures.

use crate::support::process::{Hookbin, command as hookbin};

#[tokio::test]
async fn prints_the_real_url_first_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let h = Hookbin::spawn(
        hookbin()
            .args(["--listen", "127.0.0.1:0"])
            .env("HOOKBIN_DB", &db),
    );
    assert!(
        h.first_line.contains("http://127.0.0.1:"),
        "{}",
        h.first_line
    );
    assert_ne!(h.addr.port(), 0);
    let r = crate::support::send(h.addr, crate::support::Req::new("GET", "/")).await;
    assert_eq!(r.status, hyper::StatusCode::OK);
    assert!(
        db.exists(),
        "the database is created where HOOKBIN_DB points"
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = hookbin()
        .args(["--listen", &taken.local_addr().unwrap().to_string(), "--db"])
        .arg(dir.path().join("h.db"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
    // Nothing was created for a server that never ran.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn errors_name_their_cause_once_and_piped_logs_have_no_colour() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the database file should be: SQLite cannot open it.
    let db = dir.path().join("h.db");
    std::fs::create_dir(&db).unwrap();
    let out = hookbin()
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("unable to open database file").count(),
        1,
        "{err}"
    );
    // Logs go to a pipe here: plain text, even without NO_COLOR.
    let db = dir.path().join("logs.db");
    let mut child = hookbin()
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("RUST_LOG", "hookbin=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.contains("running at"), "{first}");
    // At once: the signal handlers are in place before the URL is printed.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "a graceful stop, not a kill: {:?}",
        out.status
    );
    assert!(logs.contains("shutting down"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in piped logs: {logs:?}"
    );
}

#[test]
fn an_unwritable_database_path_is_a_clear_error() {
    let out = hookbin()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--db",
            "/nonexistent-dir/sub/h.db",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open database"), "{err}");
}

#[test]
fn a_database_from_a_newer_hookbin_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let out = hookbin()
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer than this hookbin supports"), "{err}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, 999);
}

#[test]
fn bad_flags_are_rejected_with_a_message() {
    let out = hookbin().args(["--max-body", "lots"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a size"));
    // A duration too large to represent is a message, not an overflow.
    for (flag, value) in [
        ("--timeout", "18446744073709551615d"),
        ("--header-timeout", "213503982335d"),
    ] {
        let out = hookbin().args([flag, value]).output().unwrap();
        assert!(!out.status.success(), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("too long"), "{flag} {value}: {err}");
    }
}

#[tokio::test]
async fn bins_named_at_start_answer_at_their_fixed_url() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("named.db");
    let h = Hookbin::start(&db, &["--bin", "ci-orders", "--bin", "ci-users"]);
    for bin in ["ci-orders", "ci-users"] {
        let r = crate::support::send(
            h.addr,
            crate::support::Req::new("POST", &format!("/b/{bin}")).body("x"),
        )
        .await;
        assert_eq!(r.status, hyper::StatusCode::OK, "{bin}");
    }
    drop(h);
    // Starting again with the same names keeps the bins and what they hold.
    let h = Hookbin::start(&db, &["--bin", "ci-orders"]);
    let bin = crate::support::send(
        h.addr,
        crate::support::Req::new("GET", "/api/bins/ci-orders"),
    )
    .await
    .json();
    assert_eq!(bin["request_count"], 1);
    let bad = hookbin().args(["--bin", "no spaces"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not valid"));
}
