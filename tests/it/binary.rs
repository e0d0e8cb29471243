//! The real `hookbin` binary: the printed URL, flags from the environment, and clear failures.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn hookbin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hookbin"));
    c.env_remove("HOOKBIN_LISTEN").env_remove("HOOKBIN_DB");
    c
}

/// The child process, and its stdout kept open so its writes never fail.
struct Running(
    Child,
    #[allow(dead_code)] BufReader<std::process::ChildStdout>,
);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with the first line it printed.
fn start(cmd: &mut Command) -> (Running, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    (Running(child, out), line)
}

fn url_in(line: &str) -> String {
    let start = line
        .find("http://")
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    line[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

#[tokio::test]
async fn prints_the_real_url_first_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let (_run, line) = start(
        hookbin()
            .args(["--listen", "127.0.0.1:0"])
            .env("HOOKBIN_DB", &db),
    );
    let url = url_in(&line);
    assert!(!url.ends_with(":0"), "{line}");
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let r = crate::support::send(addr, crate::support::Req::new("GET", "/")).await;
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
}
