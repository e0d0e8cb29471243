//! A real nginx (Debian's package) on loopback as the reverse proxy in front of a test hookbin.
//! It connects to hookbin from 127.0.0.2, so a test can trust the proxy without trusting the
//! test client on 127.0.0.1. Without nginx the tests concerned say loudly that they were
//! skipped; under `CI=true` a missing nginx is a failure.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running nginx; stopped (by its process id) when dropped.
pub struct Nginx {
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

fn find() -> Option<&'static str> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

impl Nginx {
    /// nginx proxying everything to `upstream`, saying the client used https to reach
    /// `public_host`; `None` (after saying so) when nginx is not installed and this is not CI.
    pub async fn start(upstream: SocketAddr, public_host: &str) -> Option<Nginx> {
        let Some(bin) = find() else {
            let why = "nginx not found (install Debian's nginx)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("proxy tests cannot run under CI=true: {why}");
            }
            eprintln!("\n*** SKIPPED proxy test: {why} ***\n");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        let d = dir.path().display();
        let user = if std::env::var("USER").is_ok_and(|u| u == "root") || is_root() {
            "user root;"
        } else {
            ""
        };
        let conf = format!(
            "daemon off;\n{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 128; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                 proxy_pass http://{upstream};\n      proxy_bind 127.0.0.2;\n\
                 proxy_set_header Host $http_host;\n\
                 proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                 proxy_set_header X-Forwarded-Proto https;\n\
                 proxy_set_header X-Forwarded-Host {public_host};\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut nginx = Nginx {
            addr,
            child,
            _dir: dir,
        };
        // nginx gives no sign of being ready but listening: poll its port, for up to 5 s.
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Some(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(nginx._dir.path().join("error.log"))
                    .unwrap_or_default();
                panic!("nginx exited ({status}): {log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nginx did not start listening on {addr}");
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master we started: it stops its workers and exits.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        // Drop cannot await the child's exit, and an exit sends nothing to wait on: poll it for
        // up to 2.5 s, then kill.
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
