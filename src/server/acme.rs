//! Certificates from an ACME CA (`--acme-domain`; Let's Encrypt unless `--acme-directory` says
//! otherwise), through instant-acme: the account key and the certificate live in a directory
//! next to the database, a certificate is obtained at start when there is none that covers the
//! domains for long enough, and renewed in the background before it runs out. The HTTP-01
//! challenge is answered at `/.well-known/acme-challenge/{token}` (on every listener, the
//! `--http-redirect` one included, without the access token).
//!
//! A first issuance that fails stops startup with the CA's reason; a renewal that fails is
//! logged and the certificate in service stays (the TLS resolver only ever loads a pair that
//! fits).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, ChallengeType, Identifier,
    NewAccount, NewOrder, OrderStatus, RetryPolicy,
};

use rustls::pki_types::pem::PemObject;

use crate::config::{Acme, TlsFiles};
use crate::outbound::Trust;

/// Renew when the certificate has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often the renewal task looks.
const RECHECK: Duration = Duration::from_secs(12 * 3600);

/// Why no certificate could be had.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("ACME ({directory}): {why}")]
    Ca { directory: String, why: String },
    #[error("ACME cache {}: {why}", path.display())]
    Cache { path: PathBuf, why: String },
}

/// The HTTP-01 answers pending: token → key authorization.
#[derive(Clone, Default)]
pub struct Challenges(Arc<Mutex<HashMap<String, String>>>);

impl Challenges {
    /// The key authorization for `token`, while its challenge is pending.
    pub fn answer(&self, token: &str) -> Option<String> {
        self.0
            .lock()
            .expect("challenges poisoned")
            .get(token)
            .cloned()
    }

    fn set(&self, token: String, answer: String) {
        self.0
            .lock()
            .expect("challenges poisoned")
            .insert(token, answer);
    }

    fn clear(&self) {
        self.0.lock().expect("challenges poisoned").clear();
    }
}

/// Where the certificate and key are kept for `acme`.
pub fn files(acme: &Acme) -> TlsFiles {
    TlsFiles {
        cert: acme.cache.join("cert.pem"),
        key: acme.cache.join("key.pem"),
    }
}

/// How long the cached certificate has left, if there is one for exactly these domains.
fn time_left(acme: &Acme) -> Option<Duration> {
    let pem = std::fs::read(files(acme).cert).ok()?;
    let der = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .next()?
        .ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut wanted = acme.domains.clone();
    names.sort();
    wanted.sort();
    if names != wanted {
        return None;
    }
    let end = cert.validity().not_after.timestamp();
    let now = chrono::Utc::now().timestamp();
    Some(Duration::from_secs(end.saturating_sub(now).max(0) as u64))
}

fn cache_error(path: &Path, e: impl std::fmt::Display) -> AcmeError {
    AcmeError::Cache {
        path: path.to_owned(),
        why: e.to_string(),
    }
}

/// Writes `text` to `path` beside and renamed over, readable by the owner only.
fn write_private(path: &Path, text: &str) -> Result<(), AcmeError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| cache_error(&tmp, e))?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| cache_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| cache_error(path, e))
}

/// The account, from the cache or newly registered (and then cached).
async fn account(acme: &Acme, trust: &Trust) -> Result<Account, AcmeError> {
    let ca = |e: instant_acme::Error| AcmeError::Ca {
        directory: acme.directory.clone(),
        why: e.to_string(),
    };
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(trust.client_config())
        .https_only()
        .enable_http1()
        .build();
    let http: HyperClient<_, BodyWrapper<Bytes>> =
        HyperClient::builder(TokioExecutor::new()).build(connector);
    let builder = Account::builder_with_http(Box::new(http));
    let path = acme.cache.join("account.json");
    if let Ok(text) = std::fs::read(&path) {
        let creds: AccountCredentials =
            serde_json::from_slice(&text).map_err(|e| cache_error(&path, e))?;
        return builder.from_credentials(creds).await.map_err(ca);
    }
    let contact: Vec<String> = acme.email.iter().map(|e| format!("mailto:{e}")).collect();
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, creds) = builder
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            acme.directory.clone(),
            None,
        )
        .await
        .map_err(ca)?;
    let text = serde_json::to_string(&creds).map_err(|e| cache_error(&path, e))?;
    write_private(&path, &text)?;
    Ok(account)
}

/// Orders a certificate for the domains, answering HTTP-01, and stores it with its key.
async fn obtain(acme: &Acme, trust: &Trust, challenges: &Challenges) -> Result<(), AcmeError> {
    let ca = |why: String| AcmeError::Ca {
        directory: acme.directory.clone(),
        why,
    };
    std::fs::create_dir_all(&acme.cache).map_err(|e| cache_error(&acme.cache, e))?;
    let account = account(acme, trust).await?;
    let ids: Vec<Identifier> = acme.domains.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(|e| ca(e.to_string()))?;
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(|e| ca(e.to_string()))?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(ca(format!("an authorization is {other:?}"))),
        }
        let mut challenge = authz
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| ca("the CA offers no HTTP-01 challenge".into()))?;
        challenges.set(
            challenge.token.clone(),
            challenge.key_authorization().as_str().to_owned(),
        );
        challenge.set_ready().await.map_err(|e| ca(e.to_string()))?;
    }
    let status = order
        .poll_ready(&RetryPolicy::default())
        .await
        .map_err(|e| ca(e.to_string()))?;
    if status != OrderStatus::Ready {
        challenges.clear();
        return Err(ca(format!("the order ended {status:?}, not ready")));
    }
    let key = order.finalize().await.map_err(|e| ca(e.to_string()))?;
    let chain = order
        .poll_certificate(&RetryPolicy::default())
        .await
        .map_err(|e| ca(e.to_string()))?;
    challenges.clear();
    let files = files(acme);
    // The key first: the TLS resolver loads a pair only once the certificate fits it.
    write_private(&files.key, &key)?;
    write_private(&files.cert, &chain)?;
    tracing::info!(domains = ?acme.domains, "obtained a certificate over ACME");
    Ok(())
}

/// Makes sure the cache holds a certificate for the domains with enough time left, obtaining
/// one when not; returns the files to serve.
pub async fn ensure(
    acme: &Acme,
    trust: &Trust,
    challenges: &Challenges,
) -> Result<TlsFiles, AcmeError> {
    if time_left(acme).is_none_or(|left| left <= RENEW_BEFORE) {
        obtain(acme, trust, challenges).await?;
    }
    Ok(files(acme))
}

/// Renews the certificate before it runs out, until `stopping`; failures are logged and the
/// current certificate stays in service.
pub async fn renew(
    acme: Acme,
    trust: Trust,
    challenges: Challenges,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(RECHECK) => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        if time_left(&acme).is_some_and(|left| left > RENEW_BEFORE) {
            continue;
        }
        if let Err(e) = obtain(&acme, &trust, &challenges).await {
            tracing::warn!("certificate renewal failed, keeping the current one: {e}");
        }
    }
}
