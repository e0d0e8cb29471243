//! The validated `Config` that the server is built from (the flags that describe it are
//! `cli::Args`). Nothing here is global: the config is passed down explicitly.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{Catalog, CatalogError};
use crate::sender::retry::{self, RetrySchedule};

/// Shortest `--token` the server accepts: anything shorter is guessable, and an empty one would
/// protect nothing at all.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Flags that cannot make a working config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(
        "--token (or HOOKBIN_TOKEN) is {0} characters; it needs at least {MIN_TOKEN_CHARS}. \
         Leave it unset to have hookbin generate and print one"
    )]
    WeakToken(usize),
    #[error(transparent)]
    Trust(#[from] crate::outbound::TrustError),
    #[error(transparent)]
    Tls(#[from] crate::server::tls::TlsError),
    #[error("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")]
    TlsHalf,
    #[error("--http-redirect needs HTTPS (--tls-cert and --tls-key, or --acme-domain)")]
    RedirectWithoutTls,
    #[error("--acme-domain and --tls-cert are two ways to get a certificate: give one")]
    AcmeAndFiles,
}

/// What the server needs to run, already validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub db: PathBuf,
    pub max_body: u64,
    pub max_requests: u64,
    pub public_url: Option<String>,
    pub catalog: Arc<Catalog>,
    pub retry: RetrySchedule,
    pub timeout: Duration,
    pub endpoint_concurrency: usize,
    /// When set, the pages and API require this token.
    pub token: Option<String>,
    pub limits: Limits,
    pub max_db_size: Option<u64>,
    /// Bytes of disk held back for deletes on a full disk.
    pub disk_reserve: u64,
    pub deny_private_targets: bool,
    pub bin_ttl: Option<Duration>,
    pub delivery_retention: Duration,
    /// Bins to create at start if missing.
    pub bins: Vec<crate::model::BinId>,
    /// The certificate authorities outbound TLS trusts (system roots plus `--ca-cert` files).
    pub trust: crate::outbound::Trust,
    /// Serve HTTPS with these files instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed (reverse proxies).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Captures allowed per client address (`--rate-limit`); `None`: no limit.
    pub capture_rate: Option<crate::web::limits::Rate>,
    /// New bins allowed per client address (`--bin-rate-limit`); `None`: no limit.
    pub bin_rate: Option<crate::web::limits::Rate>,
    /// The most bins the store holds (`--max-bins`); 0: no cap.
    pub max_bins: u64,
    /// With TLS on, a plain-HTTP listener here redirects to https (`--http-redirect`).
    pub http_redirect: Option<std::net::SocketAddr>,
    /// Whether that listener redirects captures too (`--redirect-bins`).
    pub redirect_bins: bool,
    /// Certificates from an ACME CA instead of `--tls-cert` files.
    pub acme: Option<Acme>,
}

/// Where and for what to get certificates over ACME (`--acme-domain` and friends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acme {
    pub domains: Vec<String>,
    pub email: Option<String>,
    /// The CA's directory URL.
    pub directory: String,
    /// Where the account key and the certificate are kept.
    pub cache: PathBuf,
}

/// Let's Encrypt's production directory, the default CA.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// The certificate chain and private key files to serve HTTPS with (`--tls-cert`, `--tls-key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What the server allows a client before refusing it.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// The longest a connection may go without a request in flight (see `conn::watch`).
    pub header_timeout: Duration,
    /// The longest a request body may take to arrive.
    pub body_timeout: Duration,
}

impl Config {
    /// A config with the defaults, storing in `db`; tests and embedders start from here.
    pub fn new(db: impl Into<PathBuf>) -> Config {
        Config {
            db: db.into(),
            max_body: 10 * 1024 * 1024,
            max_requests: 10_000,
            public_url: None,
            catalog: Arc::new(Catalog::built_in()),
            retry: RetrySchedule::parse(retry::DEFAULT).expect("default schedule parses"),
            timeout: Duration::from_secs(30),
            endpoint_concurrency: 8,
            token: None,
            limits: Limits {
                max_connections: 1024,
                max_header_bytes: 64 * 1024,
                max_headers: 100,
                header_timeout: Duration::from_secs(10),
                body_timeout: Duration::from_secs(30),
            },
            max_db_size: None,
            disk_reserve: 32 << 20,
            deny_private_targets: false,
            bin_ttl: None,
            delivery_retention: Duration::from_secs(30 * 86400),
            bins: Vec::new(),
            trust: crate::outbound::Trust::system(),
            tls: None,
            trusted_proxies: Vec::new(),
            capture_rate: None,
            bin_rate: None,
            max_bins: 0,
            http_redirect: None,
            redirect_bins: false,
            acme: None,
        }
    }
}

/// A fresh random access token (32 bytes, URL-safe base64), for a server listening beyond
/// loopback without `--token`.
pub fn new_token() -> String {
    use base64::Engine;
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random source is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
