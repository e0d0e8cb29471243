//! Pebble, Let's Encrypt's ACME test server (Debian's package), on loopback: it serves its ACME
//! API over HTTPS with a certificate from a test CA, and with `PEBBLE_VA_ALWAYS_VALID` it takes
//! every domain as validated (there is no DNS here). Without pebble the tests concerned say
//! loudly that they were skipped; under `CI=true` a missing pebble is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::free_port;
use super::pki::TestCa;

/// A running pebble; stopped (by its process id) when dropped.
pub struct Pebble {
    pub directory: String,
    /// Where pebble's root certificate (the issuer of what it signs) is published.
    pub roots_url: String,
    /// The test CA pebble's own HTTPS certificate comes from.
    pub ca_file: PathBuf,
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Pebble {
    pub async fn start() -> Option<Pebble> {
        let Some(bin) = ["/usr/bin/pebble", "/usr/local/bin/pebble"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        else {
            let why = "pebble not found (install Debian's pebble)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("ACME tests cannot run under CI=true: {why}");
            }
            eprintln!("\n*** SKIPPED ACME test: {why} ***\n");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("pebble test CA");
        let ca_file = ca.write(dir.path(), "ca.pem");
        let leaf = ca.leaf("pebble");
        std::fs::write(dir.path().join("cert.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &leaf.key_pem).unwrap();
        let (api, mgmt) = (free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{api}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }});
        let cfg = dir.path().join("pebble.json");
        std::fs::write(&cfg, config.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("pebble.log")).unwrap();
        let child = Command::new(bin)
            .arg("-config")
            .arg(&cfg)
            .env("PEBBLE_VA_ALWAYS_VALID", "1")
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start pebble");
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], api).into();
        let pebble = Pebble {
            directory: format!("https://127.0.0.1:{api}/dir"),
            roots_url: format!("https://127.0.0.1:{mgmt}/roots/0"),
            ca_file,
            child,
            dir,
        };
        // pebble gives no sign of being ready but listening: poll its port, for up to 5 s.
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Some(pebble);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pebble did not start listening on {addr}: {}", pebble.log());
    }

    /// The output pebble has written so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
