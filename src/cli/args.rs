//! The command line: every flag (each also read from `HOOKBIN_<FLAG>`) and the commands, and
//! how they become a validated [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use super::Command;
use crate::catalog::Catalog;
use crate::config::{self, Config, ConfigError, Limits, MIN_TOKEN_CHARS};
use crate::sender::retry::{self, RetrySchedule};
use crate::units::{parse_duration, parse_size};

/// Catch, send and inspect webhooks on your own machine.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "hookbin",
    version,
    about,
    args_conflicts_with_subcommands = false
)]
pub struct Args {
    /// What to do; without a command, hookbin runs the server.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on; port 0 picks a free port (the printed URL shows the real one).
    #[arg(
        long,
        value_name = "ADDR",
        env = "HOOKBIN_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// SQLite database file, created on first run; or a PostgreSQL URL
    /// (postgres://user:password@host/db) that several hookbin nodes share, for a team.
    #[arg(
        long,
        value_name = "FILE_OR_URL",
        global = true,
        env = "HOOKBIN_DB",
        default_value = "hookbin.db"
    )]
    pub db: PathBuf,

    /// Largest request body a bin stores, in bytes (suffixes K, M, G / KiB, MiB, GiB allowed);
    /// larger bodies are answered 413 and not stored.
    #[arg(long, value_name = "SIZE", env = "HOOKBIN_MAX_BODY", default_value = "10MiB", value_parser = parse_size)]
    pub max_body: u64,

    /// Requests kept per bin; beyond it the oldest are evicted (0 keeps all).
    #[arg(
        long,
        value_name = "N",
        env = "HOOKBIN_MAX_REQUESTS",
        default_value_t = 10_000
    )]
    pub max_requests: u64,

    /// Base URL that bin URLs are built on (e.g. a tunnel's address); by default the Host header
    /// of the request that asks.
    #[arg(long, value_name = "URL", env = "HOOKBIN_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Delays between delivery attempts, e.g. `5s,30s,2m,10m,1h` (units ms, s, m, h, d);
    /// entries + 1 is the most attempts a delivery gets (an empty list: never retry).
    #[arg(long, value_name = "DELAYS", global = true, env = "HOOKBIN_RETRY_SCHEDULE", default_value = retry::DEFAULT, value_parser = RetrySchedule::parse)]
    pub retry_schedule: RetrySchedule,

    /// Time a delivery gets to connect and be answered in full (e.g. 30s, 500ms).
    #[arg(long, value_name = "DURATION", global = true, env = "HOOKBIN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Deliveries sent at once to any one host, so a slow receiver cannot starve the others.
    #[arg(long, value_name = "N", env = "HOOKBIN_ENDPOINT_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub endpoint_concurrency: u16,

    /// Access token for the pages and the API, at least 16 characters (captures on /b/ never
    /// need it). Required, and
    /// generated and printed when not given, whenever hookbin listens beyond loopback; client
    /// commands (`bins`, `tail`) send it to the server.
    #[arg(long, global = true, env = "HOOKBIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate chain; needs --tls-key.
    /// The files are watched: a renewed certificate is served without a restart.
    #[arg(long, env = "HOOKBIN_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "HOOKBIN_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// A reverse proxy in front of hookbin (an address or CIDR block; repeatable): from these
    /// peers only, the client address, scheme and host come from `Forwarded` /
    /// `X-Forwarded-For`, `-Proto`, `-Host`. Being behind a proxy means being reachable beyond
    /// this machine, so the access token is required (and generated when not given).
    #[arg(long = "trusted-proxy", env = "HOOKBIN_TRUSTED_PROXY", value_delimiter = ',', value_parser = crate::web::forwarded::parse_cidr, value_name = "CIDR")]
    pub trusted_proxy: Vec<ipnet::IpNet>,

    /// Get HTTPS certificates over ACME for this domain (repeatable), kept in `<db>.acme/` and
    /// renewed 30 days before they expire; instead of --tls-cert/--tls-key.
    #[arg(
        long = "acme-domain",
        env = "HOOKBIN_ACME_DOMAIN",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub acme_domain: Vec<String>,

    /// The contact address given to the ACME CA.
    #[arg(long, env = "HOOKBIN_ACME_EMAIL", value_name = "EMAIL")]
    pub acme_email: Option<String>,

    /// The ACME CA's directory URL.
    #[arg(long, env = "HOOKBIN_ACME_DIRECTORY", default_value = config::LETS_ENCRYPT, value_name = "URL")]
    pub acme_directory: String,

    /// With HTTPS, also listen for plain HTTP here and redirect it (308) to https (captures on
    /// /b/ are still taken over plain HTTP unless --redirect-bins).
    #[arg(long, env = "HOOKBIN_HTTP_REDIRECT", value_name = "ADDR")]
    pub http_redirect: Option<SocketAddr>,

    /// Redirect captures on the --http-redirect listener too (some senders do not follow
    /// redirects, so this is off by default).
    #[arg(long, env = "HOOKBIN_REDIRECT_BINS")]
    pub redirect_bins: bool,

    /// Captures allowed per client address, like 100/s or 6000/min (a full period's worth may
    /// come at once); over it, `429` with `Retry-After`. Off by default.
    #[arg(long, env = "HOOKBIN_RATE_LIMIT", value_parser = crate::web::limits::Rate::parse, value_name = "RATE")]
    pub rate_limit: Option<crate::web::limits::Rate>,

    /// New bins allowed per client address, like 10/min; over it, `429`. Off by default.
    #[arg(long, env = "HOOKBIN_BIN_RATE_LIMIT", value_parser = crate::web::limits::Rate::parse, value_name = "RATE")]
    pub bin_rate_limit: Option<crate::web::limits::Rate>,

    /// The most bins this hookbin holds; creating one more is refused (507). 0: no cap.
    #[arg(long, value_name = "N", env = "HOOKBIN_MAX_BINS", default_value_t = 0)]
    pub max_bins: u64,

    /// A PEM file of CA certificates to trust for outgoing HTTPS (deliveries, forwards,
    /// replays, client commands), beside the compiled-in roots and the system's store
    /// (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured); repeatable.
    #[arg(long = "ca-cert", global = true, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,

    /// Most connections open at once; more are answered 503 and closed. Lowered at start to
    /// fit the open-file limit, and the start-up output says so.
    #[arg(
        long,
        value_name = "N",
        env = "HOOKBIN_MAX_CONNECTIONS",
        default_value_t = 1024
    )]
    pub max_connections: usize,

    /// Largest request head (request line and headers); larger gets 431.
    #[arg(long, value_name = "SIZE", env = "HOOKBIN_MAX_HEADER_BYTES", default_value = "64KiB", value_parser = parse_size)]
    pub max_header_bytes: u64,

    /// Most header lines in a request head; more gets 431.
    #[arg(long, value_name = "N", env = "HOOKBIN_MAX_HEADERS", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_headers: u16,

    /// Time a connection may go without a request in flight: to send its first request head
    /// (counted from when it opens), and between requests (HTTP/1.1 keep-alive, HTTP/2 with no
    /// open stream); then it is closed, with a 408 if a head had begun.
    #[arg(long, value_name = "DURATION", env = "HOOKBIN_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Time a request body gets to arrive in full once its head has; slower gets 408, nothing
    /// of it is stored, and the connection closes.
    #[arg(long, value_name = "DURATION", env = "HOOKBIN_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,

    /// Largest the SQLite database may grow (e.g. 2GiB); past it captures get 507 until space
    /// is freed. On PostgreSQL, set quotas in the server instead.
    #[arg(long, value_name = "SIZE", env = "HOOKBIN_MAX_DB_SIZE", value_parser = parse_size)]
    pub max_db_size: Option<u64>,

    /// Disk space kept in reserve beside the database (`<db>.reserve`) and given back when the
    /// disk is full, so that deleting bins and requests still works then; 0 keeps none.
    #[arg(long, value_name = "SIZE", env = "HOOKBIN_DISK_RESERVE", default_value = "32MiB", value_parser = parse_size)]
    pub disk_reserve: u64,

    /// Refuse to deliver to loopback, private and link-local addresses (checked on the
    /// resolved address), for hookbins shared with others.
    #[arg(long, env = "HOOKBIN_DENY_PRIVATE_TARGETS")]
    pub deny_private_targets: bool,

    /// Delete a bin this long after its last capture (or its creation), e.g. 7d; off by default.
    #[arg(long, value_name = "DURATION", env = "HOOKBIN_BIN_TTL", value_parser = parse_duration)]
    pub bin_ttl: Option<Duration>,

    /// Delete finished deliveries and their attempt logs this long after they were created.
    #[arg(long, value_name = "DURATION", env = "HOOKBIN_DELIVERY_RETENTION", default_value = "30d", value_parser = parse_duration)]
    pub delivery_retention: Duration,

    /// A bin to have ready at start, with this name as its stable URL (`/b/NAME`); created if
    /// missing, kept if it exists. Repeatable.
    #[arg(long = "bin", env = "HOOKBIN_BIN", value_delimiter = ',', value_name = "NAME", value_parser = crate::model::BinId::parse_name)]
    pub bins: Vec<crate::model::BinId>,

    /// Extra event catalog files (JSON, same format as the built-in one); repeatable.
    #[arg(
        long = "events",
        global = true,
        env = "HOOKBIN_EVENTS",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    pub events: Vec<PathBuf>,
}

impl Args {
    /// The config the flags describe; fails if an extra event catalog cannot be loaded, or if
    /// the server is given a token too short to protect anything. Listening beyond loopback
    /// without `--token` generates one (see `Config::token`).
    pub fn config(&self) -> Result<Config, ConfigError> {
        let a = self;
        let token = match &a.token {
            // A client command with an empty token simply sends none.
            Some(t) if a.command.is_some() && t.is_empty() => None,
            Some(t) if a.command.is_none() && t.chars().count() < MIN_TOKEN_CHARS => {
                return Err(ConfigError::WeakToken(t.chars().count()));
            }
            Some(t) => Some(t.clone()),
            // Behind a proxy, or with a public domain, hookbin is reachable beyond this machine.
            None if !a.listen.ip().is_loopback()
                || !a.trusted_proxy.is_empty()
                || !a.acme_domain.is_empty() =>
            {
                Some(config::new_token())
            }
            None => None,
        };
        let tls = match (&a.tls_cert, &a.tls_key) {
            (Some(cert), Some(key)) => {
                let files = config::TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                // Checked now, so a bad pair stops startup before anything listens.
                crate::server::tls::load(&files)?;
                Some(files)
            }
            (None, None) if a.http_redirect.is_some() && a.acme_domain.is_empty() => {
                return Err(ConfigError::RedirectWithoutTls);
            }
            (None, None) => None,
            _ => return Err(ConfigError::TlsHalf),
        };
        let acme = match (&a.acme_domain[..], &tls) {
            ([], _) => None,
            (_, Some(_)) => return Err(ConfigError::AcmeAndFiles),
            (domains, None) => Some(config::Acme {
                domains: domains.to_vec(),
                email: a.acme_email.clone(),
                directory: a.acme_directory.clone(),
                cache: {
                    let mut p = a.db.clone().into_os_string();
                    p.push(".acme");
                    PathBuf::from(p)
                },
            }),
        };
        Ok(Config {
            db: a.db.clone(),
            max_body: a.max_body,
            max_requests: a.max_requests,
            public_url: a.public_url.clone(),
            catalog: Arc::new(Catalog::load(&a.events)?),
            retry: a.retry_schedule.clone(),
            timeout: a.timeout,
            endpoint_concurrency: a.endpoint_concurrency as usize,
            token,
            limits: Limits {
                max_connections: a.max_connections.max(1),
                max_header_bytes: a.max_header_bytes.clamp(8192, 1 << 24) as usize,
                max_headers: a.max_headers as usize,
                header_timeout: a.header_timeout,
                body_timeout: a.body_timeout,
            },
            max_db_size: a.max_db_size,
            disk_reserve: a.disk_reserve,
            deny_private_targets: a.deny_private_targets,
            bin_ttl: a.bin_ttl,
            delivery_retention: a.delivery_retention,
            bins: a.bins.clone(),
            trust: crate::outbound::Trust::with_ca_files(&a.ca_cert)?,
            tls,
            trusted_proxies: a.trusted_proxy.clone(),
            capture_rate: a.rate_limit,
            bin_rate: a.bin_rate_limit,
            max_bins: a.max_bins,
            http_redirect: a.http_redirect,
            redirect_bins: a.redirect_bins,
            acme,
        })
    }
}

fn parse_public_url(s: &str) -> Result<String, String> {
    let trimmed = s.trim_end_matches('/');
    let ok = (trimmed.starts_with("http://") || trimmed.starts_with("https://"))
        && trimmed.parse::<hyper::Uri>().is_ok();
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(format!("'{s}' is not an absolute http(s) URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_fall_back_to_defaults() {
        let a = Args::try_parse_from(["hookbin"]).unwrap();
        assert_eq!(a.listen.to_string(), "127.0.0.1:8080");
        let c = a.config().unwrap();
        assert_eq!(c.max_body, Config::new("x").max_body);
        assert_eq!(c.retry.max_attempts(), 8);
        assert!(Args::try_parse_from(["hookbin", "--retry-schedule", "5"]).is_err());
        assert!(Args::try_parse_from(["hookbin", "--public-url", "ftp://x"]).is_err());
    }

    #[test]
    fn an_empty_token_is_refused_at_startup() {
        for weak in ["", "short-token"] {
            let a = Args::try_parse_from(["hookbin", "--listen", "0.0.0.0:0", "--token", weak])
                .unwrap();
            let err = a.config().unwrap_err().to_string();
            assert!(err.contains("at least 16"), "{err}");
        }
        let a = Args::try_parse_from(["hookbin", "--token", "0123456789abcdef"]).unwrap();
        assert_eq!(
            a.config().unwrap().token.as_deref(),
            Some("0123456789abcdef")
        );
        // A client command with an empty token sends none instead of failing.
        let a = Args::try_parse_from(["hookbin", "--token", "", "bins", "list"]).unwrap();
        assert_eq!(a.config().unwrap().token, None);
    }
}
