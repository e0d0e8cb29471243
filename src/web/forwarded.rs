//! Who really sent a request that came through a reverse proxy. From a peer inside
//! `--trusted-proxy`, the client address comes from `Forwarded` (RFC 7239) or else
//! `X-Forwarded-For`, and the scheme and host from `X-Forwarded-Proto` / `X-Forwarded-Host` (or
//! `Forwarded`'s `proto=` / `host=`). From anyone else these headers are only headers: they are
//! captured like any other and change nothing.
//!
//! The client is the rightmost address that is not itself a trusted proxy, so a value the
//! client wrote into the header cannot stand in for the address the proxy saw.

use std::net::{IpAddr, SocketAddr};

use hyper::HeaderMap;
use ipnet::IpNet;

/// The request as its proxy saw it; present only for requests from a trusted proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// The client's address (`ip`, or `ip:port` when the proxy gave a port).
    pub client: String,
    /// The client's IP alone, for per-client limits.
    pub ip: IpAddr,
    /// `https` or `http`, when the proxy said.
    pub proto: Option<&'static str>,
    /// The host the client asked for, when the proxy said.
    pub host: Option<String>,
}

fn trusted(proxies: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    proxies.iter().any(|n| n.contains(&ip))
}

/// Every value of header `name`, split on commas, trimmed.
fn list<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// One address as a forwarding header writes it: `1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `"[::1]"`.
fn address(text: &str) -> Option<(IpAddr, Option<u16>)> {
    let t = text.trim().trim_matches('"');
    if let Ok(sa) = t.parse::<SocketAddr>() {
        return Some((sa.ip(), Some(sa.port())));
    }
    let t = t.trim_start_matches('[').trim_end_matches(']');
    t.parse::<IpAddr>().ok().map(|ip| (ip, None))
}

/// The `key=value` pairs of each element of `Forwarded` headers, in order.
fn forwarded_elements(headers: &HeaderMap) -> Vec<Vec<(String, String)>> {
    list(headers, "forwarded")
        .into_iter()
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| {
                    (
                        k.trim().to_ascii_lowercase(),
                        v.trim().trim_matches('"').to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

/// The proxy's view of a request from `peer`, or `None` when `peer` is not a trusted proxy or
/// it forwarded no client address.
pub fn resolve(proxies: &[IpNet], peer: SocketAddr, headers: &HeaderMap) -> Option<Forwarded> {
    if proxies.is_empty() || !trusted(proxies, peer.ip()) {
        return None;
    }
    let elements = forwarded_elements(headers);
    let field = |key: &str| -> Vec<String> {
        elements
            .iter()
            .filter_map(|e| e.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
            .collect()
    };
    let chain: Vec<String> = if elements.is_empty() {
        list(headers, "x-forwarded-for")
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        field("for")
    };
    let hops: Vec<(IpAddr, Option<u16>)> = chain.iter().filter_map(|a| address(a)).collect();
    let (ip, port) = hops
        .iter()
        .rev()
        .find(|(ip, _)| !trusted(proxies, *ip))
        .or_else(|| hops.first())
        .copied()?;
    let client = match port {
        Some(p) => SocketAddr::new(ip, p).to_string(),
        None => ip.to_string(),
    };
    let proto = field("proto")
        .first()
        .cloned()
        .or_else(|| {
            list(headers, "x-forwarded-proto")
                .first()
                .map(|s| s.to_string())
        })
        .and_then(|p| match p.to_ascii_lowercase().as_str() {
            "https" => Some("https"),
            "http" => Some("http"),
            _ => None,
        });
    let host = field("host")
        .first()
        .cloned()
        .or_else(|| {
            list(headers, "x-forwarded-host")
                .first()
                .map(|s| s.to_string())
        })
        .filter(|h| h.parse::<hyper::http::uri::Authority>().is_ok());
    Some(Forwarded {
        client,
        ip,
        proto,
        host,
    })
}

/// Reads a `--trusted-proxy` value: a CIDR block, or a single address.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is not an address or CIDR block (such as 10.0.0.0/8)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| parse_cidr(s).unwrap()).collect()
    }

    #[test]
    fn only_a_trusted_peer_is_believed() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let proxy: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        assert_eq!(resolve(&[], proxy, &h), None);
        assert_eq!(resolve(&nets(&["192.168.0.0/16"]), proxy, &h), None);
        let got = resolve(&nets(&["10.0.0.0/8"]), proxy, &h).unwrap();
        assert_eq!(got.client, "203.0.113.9");
        assert_eq!(got.proto, Some("https"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client wrote a fake first hop; the proxies appended what they saw.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 198.51.100.7"),
            ("x-forwarded-for", "10.0.0.2"),
        ]);
        let proxy: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let got = resolve(&nets(&["10.0.0.0/8"]), proxy, &h).unwrap();
        assert_eq!(got.client, "198.51.100.7");
    }

    #[test]
    fn forwarded_is_read_with_ports_ipv6_and_host() {
        let h = headers(&[(
            "forwarded",
            r#"for="[2001:db8::1]:4711";proto=https;host=hooks.example.com, for=10.0.0.2"#,
        )]);
        let proxy: SocketAddr = "[::ffff:10.0.0.5]:4000".parse().unwrap();
        let got = resolve(&nets(&["10.0.0.0/8"]), proxy, &h).unwrap();
        assert_eq!(got.client, "[2001:db8::1]:4711");
        assert_eq!(got.proto, Some("https"));
        assert_eq!(got.host.as_deref(), Some("hooks.example.com"));
        // A host that is no host is not taken.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-host", "a b/c"),
        ]);
        let got = resolve(&nets(&["10.0.0.0/8"]), proxy, &h).unwrap();
        assert_eq!(got.host, None);
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("::1").is_ok());
    }
}
