//! hookbin serving HTTPS itself: captures over HTTP/1.1 and HTTP/2 (ALPN) with a certificate
//! from a test CA, a renewed certificate served without a restart, and a bad setup refused at
//! startup with a message naming the problem (never a silent fall back to plain HTTP).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookbin::config::TlsFiles;
use hookbin::model::BinId;
use hookbin::outbound::Trust;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::support::pki::{Leaf, TestCa};
use crate::support::{TestServer, eventually, free_port, process};

fn write_pair(dir: &Path, leaf: &Leaf) -> TlsFiles {
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    // Written to a temporary name and renamed, as certificate tools do.
    for (path, text) in [(&files.key, &leaf.key_pem), (&files.cert, &leaf.cert_pem)] {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }
    files
}

/// Sends one request over TLS, trusting `ca`, with HTTP/2 when `h2`; answers status and body.
async fn send_tls(
    ca: &Path,
    h2: bool,
    method: &str,
    url: &str,
    body: &'static [u8],
) -> (u16, String, hyper::Version) {
    let trust = Trust::with_ca_files(&[ca.to_owned()]).unwrap();
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(trust.client_config())
        .https_only();
    let connector = if h2 {
        builder.enable_http2().build()
    } else {
        builder.enable_http1().build()
    };
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(h2)
        .build(connector);
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let resp = client.request(req).await.expect("a TLS answer");
    let (status, version) = (resp.status().as_u16(), resp.version());
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&text).into_owned(), version)
}

/// The certificate the server presents to a new connection.
async fn presented(addr: std::net::SocketAddr, ca: &Path) -> CertificateDer<'static> {
    let trust = Trust::with_ca_files(&[ca.to_owned()]).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(trust.client_config()));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("handshake");
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

#[tokio::test]
async fn captures_arrive_over_https_with_http1_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hookbin test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let files = write_pair(dir.path(), &ca.leaf("hookbin"));
    let s = TestServer::start_with(|c| {
        c.tls = Some(files);
        c.bins = vec![BinId::parse("tls").unwrap()];
    })
    .await;
    let base = format!("https://localhost:{}", s.addr.port());
    let (status, body, version) = send_tls(
        &ca_file,
        false,
        "PUT",
        &format!("{base}/b/tls/one?x=1"),
        b"\x00\xffbytes",
    )
    .await;
    assert_eq!((status, version), (200, hyper::Version::HTTP_11), "{body}");
    let (status, _, version) = send_tls(
        &ca_file,
        true,
        "POST",
        &format!("{base}/b/tls/two"),
        b"over h2",
    )
    .await;
    assert_eq!((status, version), (200, hyper::Version::HTTP_2));
    let (status, list, _) = send_tls(
        &ca_file,
        false,
        "GET",
        &format!("{base}/api/bins/tls/requests"),
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let got = list["requests"].as_array().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["http_version"], "HTTP/2.0");
    assert_eq!(got[1]["method"], "PUT");
    assert_eq!(got[1]["body_base64"], "AP9ieXRlcw==");
    // Bin URLs shown by an HTTPS hookbin are https.
    let (_, bin, _) = send_tls(&ca_file, false, "GET", &format!("{base}/api/bins/tls"), b"").await;
    let bin: serde_json::Value = serde_json::from_str(&bin).unwrap();
    assert_eq!(bin["url"], format!("{base}/b/tls"));

    // Plain HTTP to the TLS port is not answered as HTTP: there is no fall back.
    let plain = crate::support::try_send(s.addr, crate::support::Req::new("GET", "/")).await;
    assert!(
        plain.is_err() || plain.as_ref().unwrap().status != 200,
        "{:?}",
        plain.map(|r| r.status)
    );
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hookbin test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let first = ca.leaf("first");
    let files = write_pair(dir.path(), &first);
    let s = TestServer::start_with(|c| c.tls = Some(files.clone())).await;
    assert_eq!(presented(s.addr, &ca_file).await, der(&first.cert_pem));

    let second = ca.leaf("second");
    write_pair(dir.path(), &second);
    eventually(15, "the renewed certificate", || async {
        (presented(s.addr, &ca_file).await == der(&second.cert_pem)).then_some(())
    })
    .await;

    // A renewal that cannot be used (a key that is not the certificate's) keeps the last good
    // one in service.
    let third = ca.leaf("third");
    std::fs::write(&files.cert, &third.cert_pem).unwrap();
    // Nothing changes to wait for: give the resolver past twice its once-a-second look at the
    // files, then check that it still presents the last good certificate.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(presented(s.addr, &ca_file).await, der(&second.cert_pem));
}

#[tokio::test]
async fn a_bad_tls_setup_stops_startup_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hookbin test CA");
    let a = ca.leaf("a");
    let b = ca.leaf("b");
    let cert = dir.path().join("a.pem");
    let other_key = dir.path().join("b.key");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&cert, &a.cert_pem).unwrap();
    std::fs::write(&other_key, &b.key_pem).unwrap();
    std::fs::write(&junk, "not pem").unwrap();
    let db = dir.path().join("never.db");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--tls-cert".into(), cert.display().to_string()],
            "go together",
        ),
        (
            vec![
                "--tls-cert".into(),
                "/nonexistent/cert.pem".into(),
                "--tls-key".into(),
                other_key.display().to_string(),
            ],
            "cannot read /nonexistent/cert.pem",
        ),
        (
            vec![
                "--tls-cert".into(),
                junk.display().to_string(),
                "--tls-key".into(),
                other_key.display().to_string(),
            ],
            "holds no PEM certificate",
        ),
        (
            vec![
                "--tls-cert".into(),
                cert.display().to_string(),
                "--tls-key".into(),
                other_key.display().to_string(),
            ],
            "does not fit the certificate",
        ),
    ];
    for (args, said) in cases {
        let mut cmd = process::command();
        cmd.arg("--db")
            .arg(&db)
            .args(["--listen", "127.0.0.1:0"])
            .args(&args);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(err.contains(said), "{args:?}: {err}");
        assert!(
            out.stdout.is_empty(),
            "nothing was served: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(!db.exists(), "a refused start leaves no database");
}

#[tokio::test]
async fn plain_http_beside_https_redirects_and_still_takes_captures_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("hookbin test CA");
    let files = write_pair(dir.path(), &ca.leaf("hookbin"));
    for redirect_bins in [false, true] {
        let plain: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let s = TestServer::start_with(|c| {
            c.tls = Some(files.clone());
            c.http_redirect = Some(plain);
            c.redirect_bins = redirect_bins;
            c.bins = vec![BinId::parse("both").unwrap()];
        })
        .await;
        // The plain listener is bound as the server starts.
        eventually(10, "the plain listener", || async {
            tokio::net::TcpStream::connect(plain).await.ok().map(|_| ())
        })
        .await;
        let r =
            crate::support::send(plain, crate::support::Req::new("GET", "/bins/both?r=1")).await;
        assert_eq!(r.status, hyper::StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            r.header("location"),
            format!("https://127.0.0.1:{}/bins/both?r=1", s.addr.port())
        );
        let r = crate::support::send(
            plain,
            crate::support::Req::new("POST", "/b/both/x").body("plain"),
        )
        .await;
        if redirect_bins {
            assert_eq!(r.status, hyper::StatusCode::PERMANENT_REDIRECT);
        } else {
            assert_eq!(
                r.status,
                hyper::StatusCode::OK,
                "captures stay on plain HTTP"
            );
        }
    }
}
