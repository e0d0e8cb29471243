//! Test harness: a real hookbin server in-process on a free loopback port over a temporary
//! SQLite file (or, with `HOOKBIN_TEST_ENGINE=postgres`, a fresh PostgreSQL database: the
//! same tests on the other engine), a small real HTTP client, HTML parsing helpers and
//! `eventually`.

#![allow(dead_code)]

pub mod browser;
mod client;
pub mod contract;
pub mod nginx;
pub mod pebble;
pub mod pki;
pub mod postgres;
pub mod process;
pub mod receiver;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hookbin::config::Config;
use hookbin::store::{ServerLock, Store};
use hyper::StatusCode;
use tokio::sync::oneshot;

pub use client::*;

/// A running server; shut down (gracefully) when dropped. The temp dir goes with it.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The SQLite file, or the PostgreSQL URL when the suite runs on PostgreSQL.
    pub db: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
    /// The PostgreSQL cluster holding `db`, kept running while this server uses it.
    _pg: Option<std::sync::Arc<postgres::Cluster>>,
}

/// True when the suite runs its servers on PostgreSQL (`HOOKBIN_TEST_ENGINE=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("HOOKBIN_TEST_ENGINE").is_ok_and(|e| e == "postgres")
}

/// True (after saying so) when the suite runs on PostgreSQL and this test is about the SQLite
/// file itself (`why`), so it has nothing to check there.
pub fn sqlite_only(why: &str) -> bool {
    if on_postgres() {
        eprintln!("(SQLite-only test, not run on PostgreSQL: {why})");
    }
    on_postgres()
}

impl TestServer {
    /// A server with the default config.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server whose config `tune` may change first.
    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        if on_postgres() {
            let pg = postgres::Cluster::shared()
                .await
                .expect("HOOKBIN_TEST_ENGINE=postgres needs PostgreSQL");
            let db = PathBuf::from(pg.fresh_database().await);
            return Self::start_on(dir, db, Some(pg), tune).await;
        }
        let db = dir.path().join("hookbin.db");
        Self::start_on(dir, db, None, tune).await
    }

    /// A node on the PostgreSQL database at `url`, which other nodes may share; `pg`, when
    /// given, is kept running while this node uses it.
    pub async fn on_database(
        url: &str,
        pg: Option<std::sync::Arc<postgres::Cluster>>,
        tune: impl FnOnce(&mut Config),
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_on(dir, PathBuf::from(url), pg, tune).await
    }

    async fn start_on(
        dir: tempfile::TempDir,
        db: PathBuf,
        pg: Option<std::sync::Arc<postgres::Cluster>>,
        tune: impl FnOnce(&mut Config),
    ) -> TestServer {
        let mut config = Config::new(&db);
        tune(&mut config);
        let lock = match hookbin::store::is_postgres(&db) {
            true => None,
            false => Some(ServerLock::acquire(&db).expect("server lock")),
        };
        let store = Store::open(&db).await.expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            let _lock = lock;
            hookbin::server::serve(listener, store, config, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        TestServer {
            addr,
            db,
            stop: Some(stop),
            done: Some(done),
            _dir: dir,
            _pg: pg,
        }
    }

    /// Stops this server and starts a new one on the same database file.
    pub async fn restart(self) -> TestServer {
        self.restart_with(|_| {}).await
    }

    /// Stops this server and starts a new one on the same database, with `tune` applied.
    pub async fn restart_with(mut self, tune: impl FnOnce(&mut Config)) -> TestServer {
        self.shutdown().await;
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        Self::start_on(dir, self.db.clone(), self._pg.take(), tune).await
    }

    /// Stops the server and waits until it has finished.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.expect("server task");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, req: Req) -> Resp {
        send(self.addr, req).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Req::new("GET", path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Req::new("DELETE", path)).await
    }

    pub async fn post_json(&self, path: &str, json: serde_json::Value) -> Resp {
        self.send(
            Req::new("POST", path)
                .header("content-type", "application/json")
                .body(json.to_string()),
        )
        .await
    }

    /// Creates a bin through the API and returns its id.
    pub async fn new_bin(&self) -> String {
        let r = self.post_json("/api/bins", serde_json::json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// A POST without a body, as a form button or an API action sends it.
    pub async fn post(&self, path: &str) -> Resp {
        self.send(Req::new("POST", path)).await
    }

    /// Presses Send Test Event through the API and returns the confirmation.
    pub async fn test_send(&self, hook: &serde_json::Value) -> serde_json::Value {
        let r = self
            .post(&format!(
                "/api/webhooks/{}/test",
                hook["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()
    }

    pub async fn patch_json(&self, path: &str, json: serde_json::Value) -> Resp {
        self.send(
            Req::new("PATCH", path)
                .header("content-type", "application/json")
                .body(json.to_string()),
        )
        .await
    }

    /// Creates a webhook through the API and returns it.
    pub async fn new_webhook(&self, name: &str, url: &str, event: &str) -> serde_json::Value {
        let r = self
            .post_json(
                "/api/webhooks",
                serde_json::json!({"name": name, "url": url, "event": event}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()
    }

    /// Waits until the delivery has left `pending`, and returns it.
    pub async fn settled(&self, delivery: &str) -> serde_json::Value {
        eventually(20, "the delivery to settle", || async {
            let d = self
                .get(&format!("/api/deliveries/{delivery}"))
                .await
                .json();
            (d["state"] != "pending").then_some(d)
        })
        .await
    }

    /// Sends `req` to bin `bin` (its path is appended to `/b/{bin}`) and returns the request id.
    pub async fn capture(&self, bin: &str, req: Req) -> String {
        let req = Req {
            path: format!("/b/{bin}{}", req.path),
            ..req
        };
        let r = self.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        assert_eq!(v["ok"], true);
        v["request_id"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Retries `check` until it returns `Some`, failing after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        // The checks here have no notification to await (files, HTTP answers, other
        // processes): poll them, within the deadline.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Returns once the wall clock has moved past the millisecond it was in when called, so that
/// what the server stores next gets a later time (lists and time filters order by it). The
/// clock is the signal; the short naps only let it move, within a deadline.
pub async fn next_millisecond() {
    let start = chrono::Utc::now().timestamp_millis();
    eventually(5, "the clock to pass a millisecond", || async {
        (chrono::Utc::now().timestamp_millis() > start).then_some(())
    })
    .await
}

/// A loopback port that was free a moment ago, for a server a test starts itself.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `http://127.0.0.1:PORT` where nothing listens: the port was free a moment ago.
pub fn dead_url() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", closed.local_addr().unwrap())
}

/// Texts of the elements matching a CSS selector.
pub fn texts(doc: &scraper::Html, selector: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>())
        .collect()
}

/// Number of elements matching a CSS selector.
pub fn count(doc: &scraper::Html, selector: &str) -> usize {
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel).count()
}
