//! Command-line flags (each also read from `HOOKBIN_<FLAG>`) and the validated `Config` that
//! the server is built from. Nothing here is global: the config is passed down explicitly.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Catch, send and inspect webhooks on your own machine.
#[derive(Debug, Clone, Parser)]
#[command(name = "hookbin", version, about)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (the printed URL shows the real one).
    #[arg(long, env = "HOOKBIN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// SQLite database file, created on first run.
    #[arg(long, env = "HOOKBIN_DB", default_value = "hookbin.db")]
    pub db: PathBuf,

    /// Largest request body a bin stores, in bytes (suffixes K, M, G / KiB, MiB, GiB allowed);
    /// larger bodies are answered 413 and not stored.
    #[arg(long, env = "HOOKBIN_MAX_BODY", default_value = "10MiB", value_parser = parse_size)]
    pub max_body: u64,

    /// Requests kept per bin; beyond it the oldest are evicted (0 keeps all).
    #[arg(long, env = "HOOKBIN_MAX_REQUESTS", default_value_t = 10_000)]
    pub max_requests: u64,

    /// Base URL that bin URLs are built on (e.g. a tunnel's address); by default the Host header
    /// of the request that asks.
    #[arg(long, env = "HOOKBIN_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
}

/// What the server needs to run, already validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub db: PathBuf,
    pub max_body: u64,
    pub max_requests: u64,
    pub public_url: Option<String>,
}

impl Config {
    /// A config with the defaults, storing in `db`; tests and embedders start from here.
    pub fn new(db: impl Into<PathBuf>) -> Config {
        Config {
            db: db.into(),
            max_body: 10 * 1024 * 1024,
            max_requests: 10_000,
            public_url: None,
        }
    }
}

impl From<&Args> for Config {
    fn from(a: &Args) -> Config {
        Config {
            db: a.db.clone(),
            max_body: a.max_body,
            max_requests: a.max_requests,
            public_url: a.public_url.clone(),
        }
    }
}

/// Parses a byte size such as `1048576`, `512K`, `10MiB` or `1G` (binary multiples).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("'{s}' is not a size: expected a number of bytes like 1048576 or 10MiB")
    })?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit '{other}' (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
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
    fn sizes_accept_plain_bytes_and_binary_suffixes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn flags_fall_back_to_defaults() {
        let a = Args::try_parse_from(["hookbin"]).unwrap();
        assert_eq!(a.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(Config::from(&a).max_body, Config::new("x").max_body);
        assert!(Args::try_parse_from(["hookbin", "--public-url", "ftp://x"]).is_err());
    }
}
