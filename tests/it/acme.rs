//! Certificates over ACME, for real against pebble on loopback: hookbin registers, orders a
//! certificate for its domain, serves HTTPS with it (a client trusting pebble's root captures
//! through it), and a restart reuses the cached certificate instead of ordering again.

use std::sync::Arc;

use hookbin::config::Acme;
use hookbin::model::BinId;
use hookbin::outbound::{Client, Trust};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::pebble::Pebble;
use crate::support::{TestServer, eventually};

/// Sends one HTTP/1.1 request over TLS to `addr` as `hookbin.test`, trusting `root`; the
/// answer's text, or why the connection failed.
async fn over_tls(
    addr: std::net::SocketAddr,
    root: &std::path::Path,
    request: &str,
) -> Result<String, String> {
    let trust = Trust::with_ca_files(&[root.to_owned()]).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(trust.client_config()));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut tls = connector
        .connect(ServerName::try_from("hookbin.test").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_certificate_from_pebble_serves_https_and_is_reused_after_a_restart() {
    let Some(pebble) = Pebble::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let acme = Acme {
        domains: vec!["hookbin.test".into()],
        email: Some("ops@hookbin.test".into()),
        directory: pebble.directory.clone(),
        cache: dir.path().join("acme"),
    };
    let trust = Trust::with_ca_files(std::slice::from_ref(&pebble.ca_file)).unwrap();
    let tune = |c: &mut hookbin::config::Config| {
        c.acme = Some(acme.clone());
        c.trust = trust.clone();
        c.bins = vec![BinId::parse("acme").unwrap()];
        c.token = Some("acme-test-token-0123456789".into());
    };
    let s = TestServer::start_with(tune).await;

    // Pebble's root, which signs what it issues (it is made fresh each time pebble starts).
    let fetched = Client::new(std::time::Duration::from_secs(10), false, &trust)
        .send(
            hyper::Method::GET,
            &pebble.roots_url,
            &[],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(fetched.status, Some(200), "{:?}", fetched.error);
    let root = dir.path().join("pebble-root.pem");
    std::fs::write(&root, &fetched.response_body).unwrap();

    let capture = "POST /b/acme/issued HTTP/1.1\r\nHost: hookbin.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let answer = eventually(60, "HTTPS with the issued certificate", || async {
        over_tls(s.addr, &root, capture).await.ok()
    })
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer}\n{}",
        pebble.log()
    );
    let list = over_tls(
        s.addr,
        &root,
        "GET /api/bins/acme/requests HTTP/1.1\r\nHost: hookbin.test\r\nAuthorization: Bearer acme-test-token-0123456789\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(list.contains("/b/acme/issued"), "{list}");
    assert!(
        list.contains("https://hookbin.test"),
        "bin URLs are https: {list}"
    );

    // A restart serves the cached certificate: no new order.
    let cert = std::fs::read(acme.cache.join("cert.pem")).unwrap();
    let s = s.restart_with(tune).await;
    let answer = eventually(30, "HTTPS after the restart", || async {
        over_tls(s.addr, &root, capture).await.ok()
    })
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(std::fs::read(acme.cache.join("cert.pem")).unwrap(), cert);
}

#[tokio::test]
async fn a_failed_first_issuance_stops_startup_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hookbin.db");
    let mut cmd = crate::support::process::command();
    cmd.arg("--db")
        .arg(&db)
        .args(["--listen", "127.0.0.1:0", "--acme-domain", "hookbin.test"])
        .args([
            "--acme-directory",
            &format!("{}/dir", crate::support::dead_url()),
        ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ACME ("), "{err}");
}
