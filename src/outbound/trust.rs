//! Which certificate authorities outbound TLS trusts: the Mozilla roots compiled in, the
//! operating system's store (read through `rustls-native-certs`, which honours `SSL_CERT_FILE`
//! and `SSL_CERT_DIR` as OpenSSL and curl do), and the CA files given with `--ca-cert`. So an
//! https receiver with a certificate from a local CA (mkcert, a company CA) works wherever curl
//! accepts it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// A CA file given with `--ca-cert` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("--ca-cert {}: {why}", path.display())]
pub struct TrustError {
    pub path: PathBuf,
    pub why: String,
}

/// The TLS client settings every outgoing connection uses; cheap to clone.
#[derive(Clone)]
pub struct Trust {
    config: Arc<ClientConfig>,
    /// How many roots came from where, for the start-up line and for errors.
    pub extra: usize,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Trust(system roots + {} extra CA certificates)",
            self.extra
        )
    }
}

/// The operating system's roots, read once per process.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!("reading the system's CA certificates: {e}");
        }
        found.certs
    })
}

/// The certificates in a PEM file; an error says why none can be used.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let fail = |why: String| TrustError {
        path: path.to_owned(),
        why,
    };
    let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(fail("holds no PEM certificate".into()));
    }
    Ok(certs)
}

impl Trust {
    /// The compiled-in roots plus the operating system's.
    pub fn system() -> Trust {
        Trust::with_ca_files(&[]).expect("no files, nothing to fail")
    }

    /// The system's roots plus every certificate in `files` (PEM); fails naming the file that
    /// cannot be read, holds no certificate, or holds one rustls refuses as a root.
    pub fn with_ca_files(files: &[PathBuf]) -> Result<Trust, TrustError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // A system certificate rustls cannot parse is skipped, as curl skips it.
        roots.add_parsable_certificates(system_roots().iter().cloned());
        let mut extra = 0;
        for path in files {
            for cert in read_ca_file(path)? {
                roots.add(cert).map_err(|e| TrustError {
                    path: path.clone(),
                    why: format!("not a usable CA certificate ({e})"),
                })?;
                extra += 1;
            }
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Trust {
            config: Arc::new(config),
            extra,
        })
    }

    /// The rustls settings to connect with.
    pub fn client_config(&self) -> ClientConfig {
        (*self.config).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_ca_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = Trust::with_ca_files(std::slice::from_ref(&missing)).unwrap_err();
        assert_eq!(e.path, missing);
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let e = Trust::with_ca_files(&[empty]).unwrap_err();
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, ca.cert.pem()).unwrap();
        assert_eq!(Trust::with_ca_files(&[good]).unwrap().extra, 1);
    }
}
