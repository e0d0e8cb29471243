//! HTTPS on hookbin's own listener: a certificate and key from PEM files (`--tls-cert`,
//! `--tls-key`), HTTP/2 and HTTP/1.1 offered over ALPN, and the files watched so that a renewed
//! certificate is served without a restart.
//!
//! A bad setup stops startup with a message naming the file and the problem (unreadable, no
//! certificate, no key, a key that does not match); hookbin never falls back to plain HTTP. A
//! renewal that cannot be loaded is logged and the previous certificate stays in service.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub use crate::config::TlsFiles;

/// How often the files are looked at for a renewal (on a handshake, at most this often).
const RECHECK: Duration = Duration::from_secs(1);

/// Why the certificate or key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {why}", path.display())]
    Read { path: PathBuf, why: String },
    #[error("{} holds no PEM certificate (--tls-cert)", .0.display())]
    NoCertificate(PathBuf),
    #[error("{} holds no PEM private key (--tls-key): {why}", path.display())]
    NoKey { path: PathBuf, why: String },
    #[error("the key in {} does not fit the certificate in {}: {why}", key.display(), cert.display())]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        why: String,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

/// Reads and checks the pair: the chain, a private key, and that the key is the certificate's.
pub fn load(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&files.cert)?)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(files.cert.clone()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?).map_err(|e| TlsError::NoKey {
        path: files.key.clone(),
        why: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        why: e.to_string(),
    })
}

/// When each file last changed, to notice a renewal.
type Stamp = (Option<SystemTime>, Option<SystemTime>);

fn stamp(files: &TlsFiles) -> Stamp {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(&files.cert), modified(&files.key))
}

/// Serves the loaded certificate, and loads the files again when they change.
#[derive(Debug)]
struct Reloading {
    files: TlsFiles,
    current: RwLock<(Arc<CertifiedKey>, Stamp)>,
    checked: Mutex<Instant>,
}

impl Reloading {
    fn refresh(&self) {
        {
            let mut checked = self.checked.lock().expect("clock poisoned");
            if checked.elapsed() < RECHECK {
                return;
            }
            *checked = Instant::now();
        }
        let now = stamp(&self.files);
        if now == self.current.read().expect("certificate poisoned").1 {
            return;
        }
        let mut current = self.current.write().expect("certificate poisoned");
        current.1 = now;
        match load(&self.files) {
            Ok(key) => {
                current.0 = Arc::new(key);
                tracing::info!(cert = %self.files.cert.display(), "loaded the renewed TLS certificate");
            }
            Err(e) => {
                tracing::warn!("keeping the previous TLS certificate: {e}");
            }
        }
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(self.current.read().expect("certificate poisoned").0.clone())
    }
}

/// A TLS acceptor for `files`, offering HTTP/2 and HTTP/1.1; fails as [`load`] does.
pub fn acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let first = load(files)?;
    let resolver = Reloading {
        current: RwLock::new((Arc::new(first), stamp(files))),
        files: files.clone(),
        checked: Mutex::new(Instant::now()),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
