//! Storage: eviction cost, one server per database, deletes on a full disk, a clean stop.

use std::process::Stdio;

use hyper::StatusCode;

use crate::support::process::{Hookbin, command};
use crate::support::{Req, TestServer, send};

/// The paths of a bin's stored requests, newest first.
async fn stored_paths(s: &TestServer, bin: &str) -> Vec<String> {
    let list = s
        .get(&format!("/api/bins/{bin}/requests?limit=100"))
        .await
        .json();
    list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_full_bin_evicts_its_oldest_requests_from_the_low_end() {
    let s = TestServer::start_with(|c| c.max_requests = 0).await;
    let bin = s.new_bin().await;
    for i in 0..5 {
        s.capture(&bin, Req::new("POST", &format!("/{i}"))).await;
    }
    // Lowering the cap below what the bin holds: the next capture removes all the excess.
    let s = s.restart_with(|c| c.max_requests = 2).await;
    s.capture(&bin, Req::new("POST", "/5")).await;
    let want: Vec<String> = [5, 4].iter().map(|i| format!("/b/{bin}/{i}")).collect();
    assert_eq!(stored_paths(&s, &bin).await, want);
    s.capture(&bin, Req::new("POST", "/6")).await;
    let got = s.get(&format!("/api/bins/{bin}")).await.json();
    assert_eq!(got["request_count"], 2);
    let want: Vec<String> = [6, 5].iter().map(|i| format!("/b/{bin}/{i}")).collect();
    assert_eq!(stored_paths(&s, &bin).await, want);
}

#[tokio::test]
async fn a_second_server_on_one_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let first = Hookbin::start(&db, &["--bin", "one"]);
    let second = command()
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("already serving"), "{err}");
    assert!(
        err.contains(&format!("process {}", first.child.id())),
        "{err}"
    );
    // The commands that use the database directly still work beside the server.
    let list = command()
        .args(["webhooks", "list", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let r = send(first.addr, Req::new("POST", "/b/one")).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            ok.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[tokio::test]
async fn deletes_work_on_a_full_disk() {
    let disk = SmallDisk::mount("48m");
    let db = disk.0.path().join("h.db");
    let h = Hookbin::start(&db, &["--bin", "a", "--bin", "b"]);
    let chunk = vec![b'z'; 64 * 1024];
    let mut stored = 0;
    'fill: for bin in ["a", "b"] {
        for _ in 0..400 {
            let r = send(
                h.addr,
                Req::new("POST", &format!("/b/{bin}")).body(chunk.clone()),
            )
            .await;
            if r.status != StatusCode::OK {
                let msg = r.assert_error(StatusCode::INSUFFICIENT_STORAGE);
                assert!(msg.contains("full"), "{msg}");
                break 'fill;
            }
            stored += 1;
        }
    }
    assert!(stored > 50, "only {stored} captures fit");
    let clear = send(h.addr, Req::new("DELETE", "/api/bins/a/requests")).await;
    assert_eq!(clear.status, StatusCode::OK, "{}", clear.text());
    let delete = send(h.addr, Req::new("DELETE", "/api/bins/b")).await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT, "{}", delete.text());
    // The room made is usable again.
    let r = send(h.addr, Req::new("POST", "/b/a").body("fits again")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    drop(h);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    drop(disk);
}

#[tokio::test]
async fn sigterm_leaves_no_wal_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stop.db");
    let left = |what: &str| {
        ["-wal", "-shm", ".reserve"]
            .iter()
            .filter(|s| dir.path().join(format!("stop.db{s}")).exists())
            .map(|s| format!("{what} left {s}"))
            .collect::<Vec<_>>()
    };
    let h = Hookbin::start(&db, &[]);
    let bin = send(h.addr, Req::new("POST", "/api/bins")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..20 {
        send(h.addr, Req::new("POST", &format!("/b/{bin}")).body("x")).await;
    }
    // Readers were used too, so every kind of connection must be closed at exit.
    send(
        h.addr,
        Req::new("GET", &format!("/api/bins/{bin}/requests")),
    )
    .await;
    let status = tokio::task::spawn_blocking(move || h.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(left("the server"), Vec::<String>::new());
    // A CLI command on the database cleans up after itself the same way.
    let out = command()
        .args(["webhooks", "list", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(left("the CLI"), Vec::<String>::new());
    let h = Hookbin::start(&db, &[]);
    let got = send(h.addr, Req::new("GET", &format!("/api/bins/{bin}"))).await;
    assert_eq!(got.json()["request_count"], 20);
}
