//! A throwaway PostgreSQL cluster on loopback, made with the installed server binaries
//! (`initdb`, `postgres`) as the unprivileged `postgres` user when the tests run as root, or
//! the one `HOOKBIN_TEST_DATABASE_URL` names. Tests running at the same time share one cluster,
//! each in a database of its own; it is stopped (by its process id) when the last one is done.
//! Without PostgreSQL the tests concerned say loudly that they were skipped; under `CI=true`
//! a missing PostgreSQL is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// A running cluster (or an outside server), reachable at `url`.
pub struct Cluster {
    url: String,
    child: Option<Child>,
    /// How to start it again after [`Cluster::stop`]: its binaries, data directory and port.
    relaunch: Option<(PathBuf, u16)>,
    _dir: Option<tempfile::TempDir>,
}

static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());

/// The directory holding `initdb` and `postgres`: on PATH, or Debian's versioned one.
fn binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|d| d.join("initdb").exists() && d.join("postgres").exists())
    });
    on_path.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|d| d.join("initdb").exists())
            .collect();
        found.sort();
        found.pop()
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// `program` as a command run by the `postgres` user when we are root (PostgreSQL refuses
/// to run as root), else as we are.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--clear-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn skip<T>(why: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PostgreSQL tests cannot run under CI=true: {why}");
    }
    eprintln!("\n*** SKIPPED PostgreSQL test: {why} ***\n");
    None
}

impl Cluster {
    /// The shared cluster, started if none is running; `None` (after saying so) when
    /// PostgreSQL is not installed and this is not CI.
    pub async fn shared() -> Option<Arc<Cluster>> {
        if let Some(c) = SHARED.lock().unwrap().upgrade() {
            return Some(c);
        }
        let cluster = match std::env::var("HOOKBIN_TEST_DATABASE_URL") {
            Ok(url) => Cluster {
                url,
                child: None,
                relaunch: None,
                _dir: None,
            },
            Err(_) => match binaries() {
                Some(bin) => tokio::task::spawn_blocking(move || Cluster::start(&bin))
                    .await
                    .unwrap(),
                None => return skip("initdb/postgres not found (install Debian's postgresql)"),
            },
        };
        let mut shared = SHARED.lock().unwrap();
        // Another test may have started one meanwhile: use it, and let this one stop.
        if let Some(c) = shared.upgrade() {
            return Some(c);
        }
        let cluster = Arc::new(cluster);
        *shared = Arc::downgrade(&cluster);
        Some(cluster)
    }

    /// A cluster of this test's own, which it may stop and start again; `None` (after
    /// saying so) when PostgreSQL is not installed and this is not CI.
    pub async fn own() -> Option<Cluster> {
        match binaries() {
            Some(bin) => Some(
                tokio::task::spawn_blocking(move || Cluster::start(&bin))
                    .await
                    .unwrap(),
            ),
            None => skip("initdb/postgres not found (install Debian's postgresql)"),
        }
    }

    fn start(bin: &Path) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if is_root() {
            let id = |flag: &str| {
                let out = Command::new("id")
                    .args([flag, "postgres"])
                    .output()
                    .unwrap();
                let text = String::from_utf8(out.stdout).unwrap();
                text.trim().parse::<u32>().expect("a postgres user")
            };
            let (uid, gid) = (id("-u"), id("-g"));
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
        }
        let init = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ])
            .stdout(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = super::free_port();
        let mut cluster = Cluster {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            child: None,
            relaunch: Some((bin.to_owned(), port)),
            _dir: Some(dir),
        };
        cluster.launch();
        cluster
    }

    /// Starts the server on its data directory and port, and waits until it listens.
    fn launch(&mut self) {
        let (bin, port) = self.relaunch.clone().expect("a cluster of our own");
        let dir = self._dir.as_ref().expect("a cluster of our own").path();
        let child = as_postgres(&bin.join("postgres"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        // The server gives no sign of being ready but accepting: poll its port, for up to 30 s.
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("postgres exited at start: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("postgres did not listen on {port} within 30 s");
    }

    /// Stops the server (a fast shutdown: its sessions are ended) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT is PostgreSQL's fast shutdown: it ends its own backends and exits.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Starts a stopped server again on the same data and port.
    pub fn start_again(&mut self) {
        self.launch();
    }

    /// A new, empty database on this server; its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        // The server may still be starting up after its port opened: try for up to 10 s.
        let mut tries = 0;
        loop {
            let made = async {
                let (client, conn) =
                    tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await?;
                let task = tokio::spawn(conn);
                let made = client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await;
                drop(client);
                let _ = task.await;
                made
            }
            .await;
            match made {
                Ok(()) => break,
                Err(e) => {
                    tries += 1;
                    assert!(tries < 200, "cannot create a test database: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        match self.url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("no database in {}", self.url),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
